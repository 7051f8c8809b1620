import type { StackConfig } from '../config/schema.js';
import type { OsProfile } from './os-profiles.js';
import { deriveSizing, type Sizing } from './sizing.js';

/**
 * The typed model every template is rendered from: the validated stack, the tier's sizing, the
 * target OS and the fixed paths on the host. Pure data; computing it touches no machine.
 */
export const HOST_PATHS = {
  /** certbot --webroot writes challenges here; nginx serves it on port 80. */
  acmeWebroot: '/var/www/acme',
  appRoot: '/opt/messenger-chat',
  appReleases: '/opt/messenger-chat/releases',
  appCurrent: '/opt/messenger-chat/current',
  configDir: '/etc/messenger-chat',
  /** Non-secret settings of the chat server shared by all instances (rendered). */
  appEnvFile: '/etc/messenger-chat/chat.env',
  /** Per-instance settings (port, peers): instance-PORT.env, rendered. */
  instanceEnvDir: '/etc/messenger-chat',
  /** DB password and JWT secret, generated on the host once, 0600 root. */
  secretsEnvFile: '/etc/messenger-chat/secrets.env',
  nodeRoot: '/opt/messenger-node',
  /** Link to the active Node.js release under nodeRoot; the unit runs this binary. */
  nodeBin: '/opt/messenger-node/current/bin/node',
  nginxMain: '/etc/nginx/nginx.conf',
  nginxSite: '/etc/nginx/conf.d/messenger-chat.conf',
  systemdUnit: '/etc/systemd/system/messenger-chat@.service',
  mariadbConf: '/etc/mysql/mariadb.conf.d/60-messenger-chat.cnf',
  certbotDeployHook: '/etc/letsencrypt/renewal-hooks/deploy/messenger-chat-reload-nginx',
  acmeCaBundle: '/etc/messenger-chat/acme-ca.pem',
  /** Makes certbot.timer's renewals trust the same private ACME CA. */
  certbotCaDropIn: '/etc/systemd/system/certbot.service.d/messenger-chat-acme-ca.conf',
  /** Node.js on operators' PATH: a link to the active release's binary. */
  nodeOnPath: '/usr/local/bin/node',
  nodeCurrent: '/opt/messenger-node/current',
  sysctlConf: '/etc/sysctl.d/60-messenger-chat.conf',
  swapFile: '/swapfile',
  /** ARGS of Debian's prometheus-node-exporter unit (its listen address). */
  nodeExporterDefaults: '/etc/default/prometheus-node-exporter',
} as const;

export const APP_USER = 'messenger-chat';
export const APP_DB_NAME = 'messenger_chat';
export const APP_DB_USER = 'messenger_chat';
export const APP_UNIT_PREFIX = 'messenger-chat@';
/** MariaDB's socket on Debian/Ubuntu; the app connects through it, so no TCP password sniffing. */
export const MARIADB_SOCKET = '/run/mysqld/mysqld.sock';

export interface HostModel {
  stack: StackConfig;
  sizing: Sizing;
  os: OsProfile;
  paths: typeof HOST_PATHS;
  /** Loopback ports of the chat server instances (app.port, app.port + 1, ...). */
  appPorts: number[];
  /** Origins the chat server accepts from browsers; defaults to https://DOMAIN. */
  allowedOrigins: string[];
  certDir: string;
  /** PEM of a private ACME CA the host's certbot must trust (e.g. Pebble); absent for Let's Encrypt. */
  acmeCaBundle?: string;
}

/** Loopback ports of the chat server instances: app.port, app.port + 1, ... as the tier runs them. */
export function appPortsOf(stack: StackConfig): number[] {
  return Array.from({ length: deriveSizing(stack.tier).app.instances }, (_, i) => stack.app.port + i);
}

export function buildHostModel(stack: StackConfig, os: OsProfile, acmeCaBundle?: string): HostModel {
  return {
    stack,
    sizing: deriveSizing(stack.tier),
    os,
    paths: HOST_PATHS,
    appPorts: appPortsOf(stack),
    allowedOrigins: stack.app.allowedOrigins ?? [`https://${stack.domain}`],
    certDir: `/etc/letsencrypt/live/${stack.domain}`,
    ...(acmeCaBundle === undefined ? {} : { acmeCaBundle }),
  };
}
