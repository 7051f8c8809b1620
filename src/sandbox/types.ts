import type { SandboxOs } from './constants.js';

export type { SandboxOs };

/** One guest: how this machine reaches it, and its address on the sandbox's private network. */
export interface SandboxHost {
  name: string;
  sshHost: '127.0.0.1';
  /** 2222 for the first guest, then 2223, ...: forwarded into each guest's network namespace. */
  sshPort: number;
  /** On the private bridge; null for the one-host sandbox, whose guest shares this machine's network. */
  privateAddress: string | null;
  nspawnPid: number;
}

/**
 * Everything a client needs to reach the sandbox VPS and its ACME CA. The top-level SSH fields are the
 * first guest's: the only one of a one-host sandbox, the edge (80/443 forwarded here) of several.
 */
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
  /** Every guest, the first one first. */
  hosts: SandboxHost[];
  /** The private network's range (e.g. 198.18.0.0/24), null for one host. */
  privateNetwork: string | null;
  startedAt: string;
}
