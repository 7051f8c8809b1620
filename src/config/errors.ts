// The toolkit has one error hierarchy (src/errors); this module stays so existing imports keep working.
export { ConfigError, MiError } from '../errors/index.js';
