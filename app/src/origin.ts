/** The Origin policy shared by /ws and the HTTP API, and the CORS headers it grants. */

/** No Origin (same-origin GETs, non-browser clients) passes; a present one must be listed. */
export function isOriginAllowed(allowed: ReadonlySet<string>, origin: string | undefined): boolean {
  return origin === undefined || allowed.has(origin);
}

/** CORS headers for a listed origin; none otherwise, so browsers block foreign pages. */
export function corsHeaders(allowed: ReadonlySet<string>, origin: string | undefined): Record<string, string> {
  if (origin === undefined || !allowed.has(origin)) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-headers': 'authorization, content-type',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-max-age': '600',
    vary: 'Origin',
  };
}
