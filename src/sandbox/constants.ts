/**
 * Fixed facts of the local sandbox: where it lives on the host and which host ports it takes.
 * A one-host sandbox's guest shares the host's network, so its ports are the host's own; the guests
 * of a multi-host sandbox have networks of their own, and only what is forwarded takes a host port.
 */
export type SandboxOs = 'debian13' | 'debian12';

export const SANDBOX_OSES: readonly SandboxOs[] = ['debian13', 'debian12'];

/** Debian suite debootstrap builds for each sandbox OS. */
export const SUITES: Readonly<Record<SandboxOs, string>> = { debian13: 'trixie', debian12: 'bookworm' };

export const DEFAULT_OS: SandboxOs = 'debian13';
export const SANDBOX_NAME = 'messenger-sandbox';
export const DEFAULT_DOMAIN = 'chat.messenger.test';
export const DEFAULT_EMAIL = 'ops@messenger.test';

export const MIRROR = 'http://deb.debian.org/debian';
export const SECURITY_MIRROR = 'http://deb.debian.org/debian-security';
/** What a fresh VPS image carries: init, sshd and the basics; nothing that `up` installs. */
export const ROOTFS_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'ca-certificates'];

export const ROOTFS_CACHE_DIR = '/var/cache/messenger-infra/rootfs';
/** A cached tree older than this is rebuilt, so the guest starts with current packages like a new VPS. */
export const ROOTFS_MAX_AGE_MS = 14 * 24 * 3600_000;
export const MACHINES_DIR = '/var/lib/messenger-infra/sandbox';
export const RUN_DIR = '/run/messenger-infra';
export const STATE_FILE = `${RUN_DIR}/sandbox.json`;
export const LOCK_DIR = `${RUN_DIR}/sandbox.lock`;

export const SSH_HOST = '127.0.0.1' as const;
export const SSH_PORT = 2222 as const;
export const SSH_USER = 'root' as const;

export const PEBBLE_ACME_PORT = 14000;
export const PEBBLE_MGMT_PORT = 15000;
export const CHALLTESTSRV_DNS_PORT = 8053;
export const CHALLTESTSRV_MGMT_PORT = 8055;
export const ACME_DIRECTORY = `https://127.0.0.1:${PEBBLE_ACME_PORT}/dir`;

/**
 * What every sandbox is, known before it boots (its key and CA files exist only after): lets
 * `up --sandbox` and `plan --sandbox` check all their input before starting anything.
 */
export const SANDBOX_ENDPOINT = {
  sshHost: SSH_HOST,
  sshPort: SSH_PORT,
  sshUser: SSH_USER,
  acmeDirectory: ACME_DIRECTORY,
  domain: DEFAULT_DOMAIN,
  email: DEFAULT_EMAIL,
} as const;

type PortUse = { port: number; proto: 'tcp' | 'udp'; use: string };

const ACME_PORTS: readonly PortUse[] = [
  { port: PEBBLE_ACME_PORT, proto: 'tcp', use: 'Pebble ACME' },
  { port: PEBBLE_MGMT_PORT, proto: 'tcp', use: 'Pebble management' },
  { port: CHALLTESTSRV_DNS_PORT, proto: 'tcp', use: 'challtestsrv DNS' },
  { port: CHALLTESTSRV_DNS_PORT, proto: 'udp', use: 'challtestsrv DNS' },
  { port: CHALLTESTSRV_MGMT_PORT, proto: 'tcp', use: 'challtestsrv management' },
];

/** Every host port the one-host sandbox takes: the guest's sshd, nginx, MariaDB, then Pebble and challtestsrv. */
export const SANDBOX_PORTS: readonly PortUse[] = [
  { port: 80, proto: 'tcp', use: 'guest nginx (HTTP-01)' },
  { port: 443, proto: 'tcp', use: 'guest nginx (TLS)' },
  { port: 3306, proto: 'tcp', use: 'guest MariaDB' },
  { port: 8081, proto: 'tcp', use: 'guest nginx stub_status (loopback)' },
  { port: SSH_PORT, proto: 'tcp', use: 'guest sshd' },
  ...ACME_PORTS,
];

/** The most guests `sandbox up --hosts N` boots: each is a whole Debian with nginx, MariaDB and Node. */
export const MAX_HOSTS = 5;
/** Tinyproxy on this machine's loopback: the guests' way out to Debian's mirrors and the npm registry. */
export const HOST_EGRESS_PORT = 13128;
/** Where each guest of a multi-host sandbox finds that proxy: on its own loopback. */
export const GUEST_EGRESS_PORT = 3128;

/** The SSH port on this machine's loopback that reaches guest `index` (1-based): 2222, 2223, ... */
export function sshPortOf(index: number): number {
  return SSH_PORT + index - 1;
}

/**
 * Host ports a sandbox of `hosts` guests takes. With several, each guest has its own network, so only
 * what is forwarded to this machine's loopback counts: the edge's 80/443, every guest's SSH, the proxy.
 */
export function sandboxPorts(hosts: number): readonly PortUse[] {
  if (hosts <= 1) return SANDBOX_PORTS;
  return [
    { port: 80, proto: 'tcp', use: 'edge guest nginx, forwarded (HTTP-01)' },
    { port: 443, proto: 'tcp', use: 'edge guest nginx, forwarded (TLS)' },
    ...Array.from({ length: hosts }, (_, i) => ({ port: sshPortOf(i + 1), proto: 'tcp' as const, use: `guest ${i + 1} sshd, forwarded` })),
    { port: HOST_EGRESS_PORT, proto: 'tcp', use: 'the guests\' egress proxy (tinyproxy)' },
    ...ACME_PORTS,
  ];
}

/** Bounds, in milliseconds. */
export const BOOT_TIMEOUT_MS = 90_000;
export const PEBBLE_TIMEOUT_MS = 15_000;
export const STOP_TIMEOUT_MS = 20_000;
