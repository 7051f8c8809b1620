import type { StackConfig } from '../config/schema.js';
import { buildHostModel, HOST_PATHS, type HostModel } from './host-model.js';
import type { OsProfile } from './os-profiles.js';
import { renderHostFiles, type RenderedFile } from './render.js';
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
}

export interface BundleFile {
  name: string;
  content: Buffer;
}

/** The chat server bundle, read from dist/app by the CLI. */
export interface AppBundle {
  version: string;
  /** version + content hash: the release directory's name, so an unchanged bundle is a no-op. */
  id: string;
  files: BundleFile[];
}

export interface DesiredState {
  stack: StackConfig;
  model: HostModel;
  host: HostBasics;
  /** Debian packages, installed together in one apt transaction. */
  packages: string[];
  node: { version: string; integrity: string; url: string };
  /** Every rendered file, for both nginx site phases. */
  files: { bootstrap: RenderedFile[]; full: RenderedFile[] };
  bundle: AppBundle;
  /** The JWT secret when the user supplies it (else one is generated on the host once). */
  jwtSecret?: string;
}

export const BASE_PACKAGES = ['nginx', 'mariadb-server', 'certbot', 'ufw', 'curl', 'ca-certificates', 'openssl'] as const;
/** Debian's node exporter, when the stack asks for host metrics. */
export const NODE_EXPORTER_PACKAGE = 'prometheus-node-exporter';

export interface DesiredInput {
  stack: StackConfig;
  host: HostBasics;
  bundle: AppBundle;
  jwtSecret?: string;
  acmeCaBundle?: string;
}

export function buildDesiredState(input: DesiredInput): DesiredState {
  const model = buildHostModel(input.stack, input.host.os, input.acmeCaBundle);
  const version = input.stack.node.version;
  const integrity = input.stack.node.integrity ?? NODE_RELEASE.integrity[input.host.arch];
  return {
    stack: input.stack,
    model,
    host: input.host,
    packages: [...BASE_PACKAGES, ...(input.stack.metrics.nodeExporter ? [NODE_EXPORTER_PACKAGE] : [])],
    node: { version, integrity, url: nodeTarballUrl(version, input.host.arch) },
    files: { bootstrap: renderHostFiles(model, 'bootstrap'), full: renderHostFiles(model, 'full') },
    bundle: input.bundle,
    ...(input.jwtSecret === undefined ? {} : { jwtSecret: input.jwtSecret }),
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
