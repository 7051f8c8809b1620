import { DEFAULT_WEBSOCKET_PATHS, type StackConfig } from '../config/schema.js';
import type { OsProfile } from './os-profiles.js';
import { fitToLimits, type Capacity, type HostLimits } from './limits.js';
import { deriveSizing, type Sizing } from './sizing.js';
import { SINGLE_HOST, type Placement } from './topology.js';

/**
 * The typed model every template is rendered from: the validated stack, the tier's sizing, the
 * target OS and the fixed paths on the host. Pure data; computing it touches no machine.
 */
export const HOST_PATHS = {
  /** certbot --webroot writes challenges here; nginx serves it on port 80. */
  acmeWebroot: '/var/www/acme',
  appRoot: '/srv/messenger-chat',
  /** One folder per release: TIME-HASH, each with its .mi-manifest.json; the newest N are kept. */
  appReleases: '/srv/messenger-chat/releases',
  /** The release nginx sends traffic to (for operators and rollbacks). */
  appCurrent: '/srv/messenger-chat/current',
  /** PORT -> the release the instance on PORT runs: both releases run side by side during a switch. */
  appInstances: '/srv/messenger-chat/instances',
  /** npm's download cache, kept between releases so `npm ci` mostly reads from disk. */
  appNpmCache: '/srv/messenger-chat/.npm-cache',
  /** The servers of nginx's upstream: the live release's ports, written by `mi-remote release`. */
  liveUpstream: '/etc/nginx/messenger-chat-upstream.inc',
  /** A user's app's secrets and database credentials, composed on the host, 0600 root. */
  appSecretsFile: '/etc/messenger-chat/app-secrets.env',
  configDir: '/etc/messenger-chat',
  /** Non-secret settings of the chat server shared by all instances (rendered). */
  appEnvFile: '/etc/messenger-chat/chat.env',
  /** Per-instance settings (port, index): instance-PORT.env, rendered. */
  instanceEnvDir: '/etc/messenger-chat',
  /** DB password and JWT secret, generated on the host once, 0600 root. */
  secretsEnvFile: '/etc/messenger-chat/secrets.env',
  /** Node.js releases side by side, one folder per version (nodeDir); a release links the one it runs. */
  nodeRoot: '/opt/messenger-node',
  nginxMain: '/etc/nginx/nginx.conf',
  nginxSite: '/etc/nginx/conf.d/messenger-chat.conf',
  systemdUnit: '/etc/systemd/system/messenger-chat@.service',
  mariadbConf: '/etc/mysql/mariadb.conf.d/60-messenger-chat.cnf',
  certbotDeployHook: '/etc/letsencrypt/renewal-hooks/deploy/messenger-chat-reload-nginx',
  acmeCaBundle: '/etc/messenger-chat/acme-ca.pem',
  /** Makes certbot.timer's renewals trust the same private ACME CA. */
  certbotCaDropIn: '/etc/systemd/system/certbot.service.d/messenger-chat-acme-ca.conf',
  /** Node.js on operators' PATH: a link to nodeCurrent's binary. */
  nodeOnPath: '/usr/local/bin/node',
  /** npm (and npx) for builds and operators: the registry's npm package beside Node.js. */
  npmRoot: '/opt/messenger-node/npm',
  npmOnPath: '/usr/local/bin/npm',
  npxOnPath: '/usr/local/bin/npx',
  /** The live release's Node.js (switched with the release, in its transaction): operators' node and npm. */
  nodeCurrent: '/opt/messenger-node/current',
  sysctlConf: '/etc/sysctl.d/60-messenger-chat.conf',
  /** Redis, the instances' bus: its config from the tier, and the users file composed on the host (0600 redis). */
  redisConf: '/etc/redis/redis.conf',
  redisUsers: '/etc/redis/messenger-users.conf',
  swapFile: '/swapfile',
  /** ARGS of Debian's prometheus-node-exporter unit (its listen address). */
  nodeExporterDefaults: '/etc/default/prometheus-node-exporter',
} as const;

/**
 * Inside a release: the link to the Node.js it runs on (nodeDir of its version). The unit runs this
 * link's node, so a Node.js upgrade is part of the release switch: it goes live only through the
 * health gate, and a rollback runs the older release on the Node.js it ran on before.
 */
export const RELEASE_NODE_LINK = '.mi-node';

/** Where one Node.js version is unpacked. */
export function nodeDir(version: string): string {
  return `${HOST_PATHS.nodeRoot}/${version}`;
}

export const APP_USER = 'messenger-chat';
export const APP_DB_USER = 'messenger_chat';
export const APP_UNIT_PREFIX = 'messenger-chat@';
/** Redis (the instance bus) on loopback, and the user the app connects as (src/core/redis.ts). */
export const REDIS_PORT = 6379;
export const REDIS_USER = 'messenger-chat';
export const REDIS_UNIT = 'redis-server';
/** MariaDB's socket on Debian/Ubuntu; the app connects through it, so no TCP password sniffing. */
export const MARIADB_SOCKET = '/run/mysqld/mysqld.sock';

export interface HostModel {
  stack: StackConfig;
  /** The tier's sizing within the host's limits (when they are known). */
  sizing: Sizing;
  /** WebSocket clients the host can hold against the tier's plan. */
  capacity: Capacity;
  os: OsProfile;
  paths: typeof HOST_PATHS;
  app: AppModel;
  /** Every loopback port an app instance may run on: both slots. */
  appPorts: number[];
  /** Origins the chat server accepts from browsers; defaults to https://DOMAIN. */
  allowedOrigins: string[];
  certDir: string;
  /** PEM of a private ACME CA the host's certbot must trust (e.g. Pebble); absent for Let's Encrypt. */
  acmeCaBundle?: string;
  /** This server's roles and where its peers are (SINGLE_HOST: every role, all on loopback). */
  placement: Placement;
}

/**
 * What runs behind nginx: the bundled chat server (the tier's instance count, on the Redis bus) or the user's
 * app from `app.source`. A release runs on one of two port sets (slots): app.port... and the next
 * ones; the new release starts on the slot the live one does not use.
 */
export interface AppModel {
  kind: 'bundled' | 'source';
  instances: number;
  slots: [number[], number[]];
  /** GET path that answers 2xx when an instance is ready (the health gate and nginx's live check). */
  health: string;
  /** Paths nginx proxies with Upgrade. */
  websocket: string[];
  dbName: string;
  /** Seconds an old release keeps its connections (a user's app gets SIGTERM after them). */
  drainSeconds: number;
}

/** The bundled server's readiness path (it checks the database) and its WebSocket path. */
export const BUNDLED_HEALTH = '/readyz';
export const BUNDLED_WEBSOCKET = ['/ws'];

export function instancesOf(stack: StackConfig): number {
  return stack.app.source === undefined ? deriveSizing(stack.tier).app.instances : (stack.app.instances ?? 1);
}

/**
 * Redis runs when the stack says so, else for the bundled server always (during a deploy even one
 * instance per release means two that must share messages) and for a user's app when it runs more
 * than one instance.
 */
export function redisEnabledFor(stack: StackConfig): boolean {
  return stack.redis.enabled ?? (stack.app.source === undefined || instancesOf(stack) > 1);
}

/** The two port sets releases alternate between. */
export function slotsOf(stack: StackConfig): [number[], number[]] {
  const n = instancesOf(stack);
  const slot = (first: number) => Array.from({ length: n }, (_, i) => first + i);
  return [slot(stack.app.port), slot(stack.app.port + n)];
}

/** Every loopback port an app instance may run on (both slots), for logs, status and the kernel. */
export function appPortsOf(stack: StackConfig): number[] {
  return slotsOf(stack).flat();
}

export function appModelOf(stack: StackConfig): AppModel {
  const source = stack.app.source !== undefined;
  return {
    kind: source ? 'source' : 'bundled',
    instances: instancesOf(stack),
    slots: slotsOf(stack),
    health: source ? (stack.app.health ?? '/') : BUNDLED_HEALTH,
    websocket: source ? (stack.app.websocket ?? [...DEFAULT_WEBSOCKET_PATHS]) : BUNDLED_WEBSOCKET,
    dbName: stack.app.database.name,
    drainSeconds: stack.app.drainSeconds,
  };
}

export function buildHostModel(stack: StackConfig, os: OsProfile, acmeCaBundle?: string, limits?: HostLimits, placement: Placement = SINGLE_HOST): HostModel {
  const { sizing, capacity } = fitToLimits(deriveSizing(stack.tier, { redis: redisEnabledFor(stack) }), limits);
  return {
    stack,
    sizing,
    capacity,
    os,
    paths: HOST_PATHS,
    app: appModelOf(stack),
    appPorts: appPortsOf(stack),
    allowedOrigins: stack.app.allowedOrigins ?? [`https://${stack.domain}`],
    certDir: `/etc/letsencrypt/live/${stack.domain}`,
    ...(acmeCaBundle === undefined ? {} : { acmeCaBundle }),
    placement,
  };
}
