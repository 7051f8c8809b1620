import type { StackConfig } from '../config/schema.js';
import { BACKUP_PACKAGES, type BackupSecrets } from './backup.js';
import { buildHostModel, HOST_PATHS, redisEnabledFor, type HostModel } from './host-model.js';
import type { HostLimits } from './limits.js';
import type { OsProfile } from './os-profiles.js';
import { desiredRelease, type DesiredRelease } from './release.js';
import { REDIS_PACKAGE } from './redis.js';
import { renderHostFiles, type RenderedFile } from './render.js';
import type { Placement, Role } from './topology.js';
import { NODE_RELEASE, nodeTarballUrl, type NodeArch } from './versions.js';

/**
 * The desired state of a host: everything `up` converges to, computed from the stack, what the
 * executor detected about the host (OS, CPU architecture, container or not) and the app bundle.
 * Pure: building it touches no machine.
 */
export interface HostBasics {
  os: OsProfile;
  arch: NodeArch;
  /** systemd-detect-virt --container said so: kernel-wide steps are skipped. */
  container: string | null;
  /** The SSH port, which the firewall must keep open. */
  sshPort: number;
  /** The SSH user this run logs in as (root when unknown): sshd hardening keeps its key login. */
  sshUser?: string;
  /** What a service may hold here (descriptors, ports); the tier's sizing is fitted to it. */
  limits?: HostLimits;
  /** Where this toolkit version's remote programs are installed (timers run them between runs). */
  programsDir?: string;
}

export interface BundleFile {
  name: string;
  content: Buffer;
  /** Shipped with mode 0755 (a script the app runs), else 0644. */
  executable?: boolean;
}

/**
 * What a release is made of, read by the CLI: the bundled chat server (dist/app, ready to run), or a
 * user's app from `app.source` (packed honouring .gitignore; installed and built on the host, or
 * built locally with `--build local` and only installed there).
 */
export interface AppBundle {
  kind: 'bundled' | 'source';
  /** A label for people: the bundle's or package.json's version (app.env.APP_VERSION wins). */
  version: string;
  /** version + content hash (the bundled server's name for itself, shown by `status`). */
  id: string;
  files: BundleFile[];
  /** How the host installs a source release: `npm ci` + build + prune, or `npm ci --omit=dev` only. */
  install?: 'ci' | 'production';
}

export interface DesiredState {
  stack: StackConfig;
  model: HostModel;
  host: HostBasics;
  /** Debian packages, installed together in one apt transaction (the hardening step installs its own). */
  packages: string[];
  node: { version: string; integrity: string; url: string };
  /** Every rendered file, for both nginx site phases. */
  files: { bootstrap: RenderedFile[]; full: RenderedFile[] };
  bundle: AppBundle;
  /** The release this run puts live (or finds live already): see core/release.ts. */
  release: DesiredRelease;
  /** What `deploy`/`up`, `restart` or `rollback` asked for. */
  intent: ReleaseIntent;
  /** The JWT secret when the user supplies it (else one is generated on the host once). */
  jwtSecret?: string;
  /** A user's app's secrets (app.secrets), resolved on the operator's machine; never printed. */
  appSecrets: Record<string, string>;
  /** The backup's password and credentials (stack.backup), resolved on the operator's machine. */
  backupSecrets?: BackupSecrets;
  /** Set when this run generated the repository password: the file it is in. */
  backupPasswordGenerated?: string;
  /** The db server's secrets this server's app needs (DB and Redis passwords), when the db is elsewhere. */
  peerSecrets?: Record<string, string>;
}

/** converge: switch only when something changed; restart: switch anyway; rollback: to a kept release. */
export type ReleaseIntent = { action: 'converge' } | { action: 'restart' } | { action: 'rollback'; to?: string };

// zstd: `db import` takes .zst dumps, which the host decompresses.
export const BASE_PACKAGES = ['nginx', 'mariadb-server', 'certbot', 'ufw', 'curl', 'ca-certificates', 'openssl', 'zstd'] as const;
/** What a server installs only for a role: nginx where the app is served, certificates on the edge, the database on the db server. */
const ROLE_PACKAGES: Readonly<Record<string, readonly Role[]>> = { nginx: ['edge', 'app'], certbot: ['edge'], 'mariadb-server': ['db'] };
/** Debian's node exporter, when the stack asks for host metrics. */
export const NODE_EXPORTER_PACKAGE = 'prometheus-node-exporter';

export interface DesiredInput {
  stack: StackConfig;
  host: HostBasics;
  bundle: AppBundle;
  jwtSecret?: string;
  appSecrets?: Record<string, string>;
  backupSecrets?: BackupSecrets;
  backupPasswordGenerated?: string;
  acmeCaBundle?: string;
  intent?: ReleaseIntent;
  /** This server's part of a multi-host stack; absent: one server with every role. */
  placement?: Placement;
  /** Secrets the db server generated that this server's app needs (multi-host), read over SSH. */
  peerSecrets?: Record<string, string>;
  /** When the release is made (its id starts with it) and by whom; the CLI passes the real ones. */
  now?: Date;
  by?: string;
}

export function buildDesiredState(input: DesiredInput): DesiredState {
  const model = buildHostModel(input.stack, input.host.os, input.acmeCaBundle, input.host.limits, input.placement);
  const roles = model.placement.roles;
  const db = roles.has('db');
  const version = input.stack.node.version;
  const integrity = input.stack.node.integrity ?? NODE_RELEASE.integrity[input.host.arch];
  return {
    stack: input.stack,
    model,
    host: input.host,
    packages: [
      ...BASE_PACKAGES.filter((p) => {
        const needed = ROLE_PACKAGES[p];
        return needed === undefined || needed.some((r) => roles.has(r));
      }),
      ...(input.stack.metrics.nodeExporter ? [NODE_EXPORTER_PACKAGE] : []),
      ...(input.stack.backup && db ? BACKUP_PACKAGES : []),
      ...(redisEnabledFor(input.stack) && db ? [REDIS_PACKAGE] : []),
    ],
    node: { version, integrity, url: nodeTarballUrl(version, input.host.arch) },
    files: { bootstrap: renderHostFiles(model, 'bootstrap'), full: renderHostFiles(model, 'full') },
    bundle: input.bundle,
    release: desiredRelease(input.stack, input.bundle, input.now ?? new Date(), input.by ?? 'unknown'),
    intent: input.intent ?? { action: 'converge' },
    ...(input.jwtSecret === undefined ? {} : { jwtSecret: input.jwtSecret }),
    appSecrets: input.appSecrets ?? {},
    ...(input.backupSecrets === undefined ? {} : { backupSecrets: input.backupSecrets }),
    ...(input.backupPasswordGenerated === undefined ? {} : { backupPasswordGenerated: input.backupPasswordGenerated }),
    ...(input.peerSecrets === undefined ? {} : { peerSecrets: input.peerSecrets }),
  };
}

/** Rendered files by path prefix, for the step that owns them. */
export function filesUnder(files: readonly RenderedFile[], ...prefixes: string[]): RenderedFile[] {
  return files.filter((f) => prefixes.some((p) => f.path.startsWith(p)));
}

export const NGINX_PREFIX = '/etc/nginx/';

/** The chat server's unit and env files (the ACME CA bundle shares their folder but is certbot's). */
export function appConfigFiles(files: readonly RenderedFile[]): RenderedFile[] {
  return filesUnder(files, HOST_PATHS.systemdUnit, HOST_PATHS.configDir + '/').filter((f) => f.path !== HOST_PATHS.acmeCaBundle);
}
