/**
 * A real dynamic import() that test runners and bundlers do not rewrite, so a serialized dynamic
 * provider holds nothing but this function's text (a captured `import()` would drag the runner's
 * module loader into the closure). Shared by the host setup and Beget providers.
 */
export const nativeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;
