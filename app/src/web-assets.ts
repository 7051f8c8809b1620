/**
 * The static web client (app/web). The bundle inlines the files through esbuild `define`
 * (__MESSENGER_WEB_ASSETS__, see scripts/build-app.mjs); from source they are read from app/web.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

declare const __MESSENGER_WEB_ASSETS__: Record<string, string> | undefined;

export interface WebAsset { type: string; body: Buffer; etag: string }

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/** URL path → asset; `/` serves index.html. */
export function loadWebAssets(): Map<string, WebAsset> {
  let files: Record<string, string>;
  if (typeof __MESSENGER_WEB_ASSETS__ !== 'undefined') {
    files = __MESSENGER_WEB_ASSETS__;
  } else {
    const dir = fileURLToPath(new URL('../web/', import.meta.url));
    files = {};
    for (const name of readdirSync(dir)) files[name] = readFileSync(dir + name, 'utf8');
  }
  const out = new Map<string, WebAsset>();
  for (const [name, text] of Object.entries(files)) {
    const ext = name.split('.').pop() ?? '';
    const body = Buffer.from(text);
    let h = 0;
    for (const b of body) h = (h * 31 + b) >>> 0;
    const asset = { type: TYPES[ext] ?? 'application/octet-stream', body, etag: `"${body.length.toString(16)}-${h.toString(16)}"` };
    out.set(`/${name}`, asset);
    if (name === 'index.html') out.set('/', asset);
  }
  return out;
}
