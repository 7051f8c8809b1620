/** The app version reported by /healthz and the startup log line. */

declare const __MESSENGER_VERSION__: string | undefined;
/** Version baked in by the bundle; "dev" from source. */
export const APP_VERSION = typeof __MESSENGER_VERSION__ !== 'undefined' ? __MESSENGER_VERSION__ : 'dev';
