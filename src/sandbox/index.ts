/**
 * The local sandbox VPS (Debian under systemd-nspawn, SSH on 127.0.0.1:2222) and its ACME CA
 * (Pebble on https://127.0.0.1:14000/dir); with `hosts` > 1, several on a private network of their own.
 */
export type { SandboxOs } from './constants.js';
export type { SandboxHost, SandboxInfo } from './types.js';
export { SANDBOX_OSES, DEFAULT_OS, SANDBOX_PORTS, SANDBOX_ENDPOINT, MAX_HOSTS, sandboxPorts } from './constants.js';
export { SandboxError, isSandboxError, type SandboxErrorCode } from './errors.js';
export { sandboxUp, sandboxDown, sandboxStatus, plannedHosts, type SandboxUpOptions } from './lifecycle.js';
export { sshArgv } from './ssh-keys.js';
export { missingPackages, takenPorts } from './preflight.js';
