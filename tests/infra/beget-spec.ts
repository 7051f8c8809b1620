import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * Reads tests/infra/fixtures/beget-openapi.yaml (the part of Beget's published spec this project
 * uses) and checks values against its schemas. Strict on purpose: a property the spec does not
 * declare is a violation, because the live API (grpc-gateway) would silently drop it, which is how
 * `image_id` for a stock OS went unnoticed.
 */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  items?: Schema;
  $ref?: string;
}

export interface Operation {
  operationId: string;
  request?: string;
  response: string;
  query?: Record<string, 'string' | 'uint32' | 'boolean'>;
}

interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

export const BEGET_SPEC = parse(readFileSync(new URL('./fixtures/beget-openapi.yaml', import.meta.url), 'utf8')) as Spec;

export function schema(name: string): Schema {
  const s = BEGET_SPEC.components.schemas[name];
  if (!s) throw new Error(`beget-openapi.yaml has no schema ${name}`);
  return s;
}

/** The operation for a method and a concrete path ("/v1/vps/server/vps-0001"), with its path parameters. */
export function findOperation(method: string, pathname: string): { template: string; op: Operation; params: Record<string, string> } | undefined {
  for (const [template, methods] of Object.entries(BEGET_SPEC.paths)) {
    const op = methods[method.toLowerCase()];
    if (!op) continue;
    const names: string[] = [];
    const re = new RegExp(`^${template.replace(/\{(\w+)\}/g, (_m, name: string) => (names.push(name), '([^/]+)'))}$`);
    const m = re.exec(pathname);
    if (m) return { template, op, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1] ?? '')])) };
  }
  return undefined;
}

const UINT32_MAX = 2 ** 32 - 1;

/** Everything wrong with `value` as an instance of `s`; [] when it conforms. */
export function violations(s: Schema, value: unknown, at = '$'): string[] {
  if (s.$ref) return violations(schema(s.$ref), value, at);
  switch (s.type) {
    case 'object': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${at}: expected an object`];
      const entries = Object.entries(value as Record<string, unknown>);
      if (s.properties) {
        const props = s.properties;
        return entries.flatMap(([k, v]) => (props[k] ? violations(props[k], v, `${at}.${k}`) : [`${at}.${k}: not declared by the spec`]));
      }
      const extra = s.additionalProperties;
      // No properties and no additionalProperties: a shape this project never reads (opaque).
      return extra ? entries.flatMap(([k, v]) => violations(extra, v, `${at}.${k}`)) : [];
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected an array`];
      return value.flatMap((v, i) => (s.items ? violations(s.items, v, `${at}[${i}]`) : []));
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected a string`];
      return s.enum && !s.enum.includes(value) ? [`${at}: "${value}" is not one of ${s.enum.join(', ')}`] : [];
    case 'integer':
      if (!Number.isInteger(value)) return [`${at}: expected an integer`];
      return s.format === 'uint32' && ((value as number) < 0 || (value as number) > UINT32_MAX) ? [`${at}: ${String(value)} is not a uint32`] : [];
    case 'number':
      return typeof value === 'number' ? [] : [`${at}: expected a number`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: expected a boolean`];
    default:
      return [`${at}: schema without a type`];
  }
}

/** Query parameters the operation does not declare, or whose value is not of the declared type. */
export function queryViolations(op: Operation, query: URLSearchParams): string[] {
  const declared = op.query ?? {};
  return [...query.entries()].flatMap(([k, v]) => {
    const type = declared[k];
    if (!type) return [`?${k}: not declared by the spec`];
    if (type === 'uint32' && !/^\d+$/.test(v)) return [`?${k}: "${v}" is not a uint32`];
    if (type === 'boolean' && v !== 'true' && v !== 'false') return [`?${k}: "${v}" is not a boolean`];
    return [];
  });
}

/** The enum of a string property, e.g. enumOf('Manage_VpsInfo', 'status'). */
export function enumOf(name: string, property: string): string[] {
  return schema(name).properties?.[property]?.enum ?? [];
}
