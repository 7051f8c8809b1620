import type { SandboxOs } from './constants.js';

export type { SandboxOs };

/** Everything a client needs to reach the sandbox VPS and its ACME CA. */
export interface SandboxInfo {
  name: string;
  os: SandboxOs;
  sshHost: '127.0.0.1';
  sshPort: 2222;
  sshUser: 'root';
  sshKeyPath: string;
  knownHostsPath: string;
  /** https://127.0.0.1:14000/dir */
  acmeDirectory: string;
  /** CA that signs Pebble's own HTTPS listener: certbot on the guest must trust it (REQUESTS_CA_BUNDLE). */
  acmeCaBundlePath: string;
  /** PEM of Pebble's issuing root and intermediate, for clients verifying issued certificates. */
  verifyCaPath: string;
  domain: string;
  email: string;
  stateDir: string;
  nspawnPid: number;
  pebblePids: number[];
  startedAt: string;
}
