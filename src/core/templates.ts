import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

/**
 * Loads and compiles the Handlebars templates of `templates/` (found relative to this module, so it
 * works from a clone and from an installed package). Compiled once, cached, and always in strict mode:
 * a value the template names but the view lacks throws instead of rendering an empty string.
 */
export const TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

/** Partials shared between templates, registered under their file name without `.hbs`. */
const PARTIALS_DIR = join(TEMPLATES_DIR, 'nginx', 'partials');

/** Config files are not HTML: never escape; strict: a missing field is an error. */
const COMPILE_OPTIONS = { strict: true, noEscape: true } as const;

let env: typeof Handlebars | undefined;
const cache = new Map<string, Handlebars.TemplateDelegate>();

function environment(): typeof Handlebars {
  if (env) return env;
  const hb = Handlebars.create();
  // Strict mode does not cover block helpers' arguments: `{{#if typo}}` would silently take the else
  // branch. View models never hold `undefined` (render.ts checks), so an undefined argument here can
  // only be a field the view lacks.
  for (const name of ['if', 'unless', 'each', 'with'] as const) {
    const builtin = hb.helpers[name] as Handlebars.HelperDelegate;
    hb.registerHelper(name, function (this: unknown, value: unknown, options: Handlebars.HelperOptions) {
      if (value === undefined) {
        const loc = (options as { loc?: { start?: { line?: number } } }).loc?.start?.line;
        throw new Error(`{{#${name}}} on a field the view does not define${loc ? ` (line ${loc})` : ''}`);
      }
      return builtin.call(this, value, options);
    });
  }
  // `{{join list ","}}`: comma lists in env files (empty list → empty value, which the app allows).
  hb.registerHelper('join', (list: unknown, sep: unknown) => {
    if (!Array.isArray(list) || typeof sep !== 'string') throw new Error('join expects a list and a separator');
    return list.join(sep);
  });
  for (const file of readdirSync(PARTIALS_DIR).filter((f) => f.endsWith('.hbs')).sort()) {
    // Precompiled with the same options, so partials are strict too.
    hb.registerPartial(basename(file, '.hbs'), hb.compile(readFileSync(join(PARTIALS_DIR, file), 'utf8'), COMPILE_OPTIONS));
  }
  env = hb;
  return hb;
}

/** The compiled template at `templates/<name>` (e.g. `nginx/nginx.conf.hbs`), compiled on first use. */
export function template(name: string): Handlebars.TemplateDelegate {
  let compiled = cache.get(name);
  if (!compiled) {
    const hb = environment();
    compiled = hb.compile(readFileSync(join(TEMPLATES_DIR, name), 'utf8'), COMPILE_OPTIONS);
    cache.set(name, compiled);
  }
  return compiled;
}

/** Renders `templates/<name>` with `view`; throws when the template names a field the view lacks. */
export function renderTemplate(name: string, view: object): string {
  return template(name)(view);
}
