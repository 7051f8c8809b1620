import { MAX_PAYLOAD_BYTES } from '../../app/src/protocol.js';
import { MiError } from '../errors/index.js';
import { DEFAULT_DATABASE_ENV } from '../config/schema.js';
import { APP_DB_USER, APP_UNIT_PREFIX, APP_USER, MARIADB_SOCKET, REDIS_PORT, REDIS_UNIT, REDIS_USER, RELEASE_NODE_LINK, type HostModel } from './host-model.js';
import { renderTemplate } from './templates.js';

/**
 * Every config file the host gets, rendered from the typed `HostModel` through one view model per
 * template. Pure and synchronous: same model, same bytes. The executor uploads the files, runs
 * `validate` before a file goes live, and performs `notify` when it changed.
 */
export type SitePhase = 'bootstrap' | 'full';

/**
 * What checks a file with the new files live, as `mi-remote activate --validate` takes it:
 * `nginx -t -c MAIN_CONF`, mariadbd's option parser, `systemd-analyze verify UNIT`, `sysctl -p FILE`.
 */
export type Validator = `nginx:${string}` | 'mariadb' | `systemd:${string}` | `sysctl:${string}` | `sshd:${string}` | 'fail2ban' | 'apt' | `perl:${string}`;

/** What to do to which unit when the file changed. */
export interface Notification {
  unit: string;
  action: 'reload' | 'restart' | 'daemon-reload';
}

export interface RenderedFile {
  path: string;
  content: string;
  mode: number;
  owner: string;
  group: string;
  /** the validator the executor runs before the file goes live */
  validate?: Validator;
  notify: Notification[];
  /** kernel-wide files (sysctl) are skipped inside containers */
  kernelWide?: boolean;
}

/** First line of every rendered file (second in scripts, after the shebang). */
export const MANAGED_MARKER = '# managed by messenger-infra; local edits are overwritten';

/** The chat server's WebSocket ping interval; rendered into chat.env so the app and nginx agree. */
export const APP_PING_INTERVAL_MS = 30_000;
/** nginx keeps an idle WebSocket this long: three missed pings, so a healthy socket never times out. */
export const WS_PROXY_TIMEOUT_S = (3 * APP_PING_INTERVAL_MS) / 1000;
/** Grace period for the app's shutdown (close its sockets, drain DB writes) before systemd sends SIGKILL. */
export const APP_STOP_TIMEOUT_S = 20;
/**
 * The bundled server closes its sockets at random moments over 2 s, longer with many sockets (about 200
 * reconnects a second, see app/src/drain.ts), but never over more than this or app.drainSeconds.
 */
export const DRAIN_SPREAD_MAX_MS = 30_000;
/** nginx's loopback live check: answered through the upstream, so a switch is confirmed by nginx itself. */
export const NGINX_LIVE_PORT = 8082;
/** An app server behind the edge serves it on its private address here (plain HTTP, the edge only). */
export const INTERNAL_SITE_PORT = 8088;
export const NGINX_LIVE_PATH = '/mi-live';
export const MARIADB_TCP_PORT = 3306;
/** Two years, as Mozilla's guidelines recommend. */
export const HSTS_MAX_AGE_S = 63_072_000;
/** Accept queue length for nginx's listeners and the kernel's somaxconn. */
export const LISTEN_BACKLOG = 4096;

/**
 * nginx's stub_status, for `status` and local scrapers: on loopback only, in the main config so it
 * answers in both site phases. Below the ephemeral port range (sysctl localPortMin is at least 10000).
 */
/** Debian's prometheus-node-exporter, bound to loopback (metrics.nodeExporter). */
export const NODE_EXPORTER_PORT = 9100;
export const NGINX_STATUS_PORT = 8081;
export const NGINX_STATUS_PATH = '/nginx_status';

export const NGINX_UNIT = 'nginx.service';
export const MARIADB_UNIT = 'mariadb.service';
const UPSTREAM_NAME = 'messenger_chat';

/** The longest spread of the bundled server's 1012 closes: never beyond the drain. */
export function drainSpreadMs(model: HostModel): number {
  return Math.min(DRAIN_SPREAD_MAX_MS, model.app.drainSeconds * 1000);
}

/** Seconds systemd waits after SIGTERM: the usual grace, plus the bundled server's spread of closes. */
export function stopTimeoutS(model: HostModel): number {
  // A user's app has had its drainSeconds before SIGTERM; only the bundled server spreads after it.
  return APP_STOP_TIMEOUT_S + (model.app.kind === 'bundled' ? Math.ceil(drainSpreadMs(model) / 1000) : 0);
}

/** The systemd instance name of the chat server on `port`. */
export function appUnit(port: number): string {
  return `${APP_UNIT_PREFIX}${port}.service`;
}

// ---------------------------------------------------------------------------------------------------
// View models: exactly what each template reads, nothing optional.

interface Managed {
  managed: string;
}

export interface AcmeHttpView {
  domain: string;
  acmeWebroot: string;
  backlog: number;
  /** Full site: 301 to https. Bootstrap: 503 "TLS pending". */
  redirectToHttps: boolean;
}

export interface NginxMainView extends Managed {
  tier: string;
  clients: number;
  workerProcesses: number;
  workerConnections: number;
  workerRlimitNofile: number;
  keepaliveTimeoutS: number;
  /** Old workers left by a reload close what they still hold after this (WebSockets of a drained release). */
  workerShutdownTimeoutS: number;
  statusPort: number;
  statusPath: string;
  limits: AbuseLimits;
}

/** nginx's per-address limits, from the tier's planned clients (see abuseLimits). */
export interface AbuseLimits {
  connPerIp: number;
  upgradeRatePerS: number;
  upgradeBurst: number;
  apiRatePerS: number;
  apiBurst: number;
}

/**
 * Per client address: a twentieth of the tier's sockets (an office behind one NAT still fits), a
 * reconnect storm of half of those at once (a deploy's 1012s), and a steady 2 API requests/s per 100
 * of those sockets.
 */
export function abuseLimits(clients: number): AbuseLimits {
  const connPerIp = Math.max(64, Math.floor(clients / 20));
  const rate = Math.max(10, Math.round(connPerIp / 25));
  return { connPerIp, upgradeRatePerS: rate, upgradeBurst: Math.floor(connPerIp / 2), apiRatePerS: rate, apiBurst: Math.floor(connPerIp / 2) };
}

export interface SiteBootstrapView extends Managed {
  domain: string;
  http: AcmeHttpView;
}

export interface SiteView extends SiteBootstrapView {
  upstream: string;
  liveUpstream: string;
  /** A user's app with several instances: the same client always reaches the same one (Socket.IO polling). */
  sticky: boolean;
  bundled: boolean;
  websocketPaths: string[];
  livePort: number;
  livePath: string;
  healthPath: string;
  http2Directive: boolean;
  certDir: string;
  hstsMaxAgeS: number;
  clientMaxBodySize: string;
  pingIntervalS: number;
  wsTimeoutS: number;
  referrerPolicy: string;
  frameOptions: string;
  /** The bundled web client's policy; a user's app sets its own (its frontend is not known here). */
  contentSecurityPolicy: string | false;
  limits: AbuseLimits;
  /**
   * An app server behind the edge: plain HTTP on its private address, for the edge only, whose
   * X-Forwarded-For names the client. false on the edge and on one server.
   */
  internalSite: false | { listenAddress: string; port: number; realIpFrom: string };
  /** On the edge: the other app servers, each its own nginx on the private network. */
  remoteApps: { name: string; address: string; port: number; weight: number }[];
  /** What the live check asks: this server's own instances (the upstream itself on one server). */
  liveCheckUpstream: string;
}

export interface UnitView extends Managed {
  firstPort: number;
  bundled: boolean;
  description: string;
  /** ExecStart: the bundled server's entry, or the user's start command with node/npm made absolute. */
  execStart: string;
  /** The unit's PATH: the release's own Node.js first. */
  path: string;
  /** IPAddressAllow (with IPAddressDeny=any): loopback, plus app.egress; empty: no restriction. */
  ipAllow: string[];
  ipAllowMore: boolean;
  appSecretsEnvFile: string;
  appInstances: string;
  /** MariaDB, and Redis when it runs: wanted and started before the instances. */
  dataUnits: string;
  user: string;
  group: string;
  appEnvFile: string;
  secretsEnvFile: string;
  instanceEnvDir: string;
  restartSecS: number;
  timeoutStopS: number;
  limitNofile: number;
  memoryMaxMb: number;
  /**
   * The heap bound inside ExecStart (bundled) or NODE_OPTIONS (a user's app): not read by the
   * template, but here so an incomplete sizing is refused like every view value, instead of
   * rendering `--max-old-space-size=undefined` inside a composed string.
   */
  heapMb: number;
  /** The bundled server's new-space bound inside ExecStart, here for the same reason. */
  semiSpaceMb: number;
}

/** One KEY="value" line of an EnvironmentFile, quoted so systemd takes the value as written. */
export interface EnvLine {
  key: string;
  value: string;
}

export interface ChatEnvView extends Managed {
  secretsEnvFile: string;
  drainSpreadMs: number;
  env: EnvLine[];
  host: string;
  allowedOrigins: string[];
  /** MESSENGER_DB_SOCKET on the db server, MESSENGER_DB_HOST and _PORT from another. */
  db: EnvLine[];
  dbUser: string;
  dbName: string;
  dbPool: number;
  pingIntervalMs: number;
  /** The Redis bus (host:port and user; the password is in the secrets file), or empty. */
  redis: EnvLine[];
}

export interface InstanceEnvView extends Managed {
  port: number;
  index: number;
  count: number;
}

export interface AppEnvView extends Managed {
  appSecretsEnvFile: string;
  env: EnvLine[];
}

export interface MariaDbView extends Managed {
  tier: string;
  /** bind-address: loopback, plus the private address when app servers elsewhere connect. */
  bindAddress: string;
  innodbBufferPoolMb: number;
  innodbLogFileMb: number;
  maxConnections: number;
  tableOpenCache: number;
  threadStackKb: number;
  tmpTableMb: number;
  maxHeapTableMb: number;
  sortBufferKb: number;
  joinBufferKb: number;
  readBufferKb: number;
  readRndBufferKb: number;
  ariaPagecacheMb: number;
  keyBufferMb: number;
  slowLogFile: string;
  longQueryTimeS: number;
}

export interface SysctlView extends Managed {
  tier: string;
  somaxconn: number;
  tcpMaxSynBacklog: number;
  fileMax: number;
  swappiness: number;
  localPortMin: number;
  localPortMax: number;
}

export interface DeployHookView extends Managed {
  domain: string;
}

export interface CertbotCaView extends Managed {
  caBundle: string;
}

// ---------------------------------------------------------------------------------------------------
// Builders: HostModel → view.

const managed: Managed = { managed: MANAGED_MARKER };

function acmeHttpView(model: HostModel, redirectToHttps: boolean): AcmeHttpView {
  return { domain: model.stack.domain, acmeWebroot: model.paths.acmeWebroot, backlog: LISTEN_BACKLOG, redirectToHttps };
}

export function nginxMainView(model: HostModel): NginxMainView {
  const { nginx } = model.sizing;
  return {
    ...managed,
    tier: model.sizing.tier.name,
    clients: nginx.clients,
    workerProcesses: nginx.workerProcesses,
    workerConnections: nginx.workerConnections,
    workerRlimitNofile: nginx.workerRlimitNofile,
    keepaliveTimeoutS: 65,
    workerShutdownTimeoutS: model.app.drainSeconds + APP_STOP_TIMEOUT_S + 10,
    statusPort: NGINX_STATUS_PORT,
    statusPath: NGINX_STATUS_PATH,
    limits: abuseLimits(nginx.clients),
  };
}

export function siteBootstrapView(model: HostModel): SiteBootstrapView {
  return { ...managed, domain: model.stack.domain, http: acmeHttpView(model, false) };
}

export function siteView(model: HostModel): SiteView {
  return {
    ...managed,
    domain: model.stack.domain,
    http: acmeHttpView(model, true),
    upstream: UPSTREAM_NAME,
    liveUpstream: model.paths.liveUpstream,
    sticky: model.app.kind === 'source' && model.app.instances > 1,
    bundled: model.app.kind === 'bundled',
    websocketPaths: model.app.websocket,
    livePort: NGINX_LIVE_PORT,
    livePath: NGINX_LIVE_PATH,
    healthPath: model.app.health,
    http2Directive: model.os.nginxHttp2Directive,
    certDir: model.certDir,
    hstsMaxAgeS: HSTS_MAX_AGE_S,
    // The chat server's largest message; a user's app gets nginx's usual 1 MB for its REST bodies.
    clientMaxBodySize: model.app.kind === 'bundled' ? `${MAX_PAYLOAD_BYTES / 1024}k` : '1m',
    pingIntervalS: APP_PING_INTERVAL_MS / 1000,
    wsTimeoutS: WS_PROXY_TIMEOUT_S,
    ...securityHeaders(model),
    limits: abuseLimits(model.sizing.nginx.clients),
    ...siteTopology(model),
  };
}

/** What the site of one server of several adds: the edge's remote app servers, or an app server's internal listener. */
function siteTopology(model: HostModel): Pick<SiteView, 'internalSite' | 'remoteApps' | 'liveCheckUpstream'> {
  const p = model.placement;
  const internal = p.roles.has('app') && !p.roles.has('edge') && p.privateAddress !== null && p.edgeAddress !== null;
  // Each app server runs the tier's instances: the edge weighs it like as many of its own.
  const remoteApps = p.appPeers.map((a) => ({ ...a, port: INTERNAL_SITE_PORT, weight: model.app.instances }));
  return {
    internalSite: internal ? { listenAddress: p.privateAddress!, port: INTERNAL_SITE_PORT, realIpFrom: p.edgeAddress! } : false,
    remoteApps,
    liveCheckUpstream: remoteApps.length > 0 ? `${UPSTREAM_NAME}_here` : UPSTREAM_NAME,
  };
}

/**
 * Headers every response of the TLS site carries. The bundled client is known: a strict policy (its
 * token rides in the URL fragment, so no referrer at all). A user's app keeps its own CSP; it gets the
 * headers that cannot break a frontend.
 */
function securityHeaders(model: HostModel): Pick<SiteView, 'referrerPolicy' | 'frameOptions' | 'contentSecurityPolicy'> {
  if (model.app.kind !== 'bundled') return { referrerPolicy: 'strict-origin-when-cross-origin', frameOptions: 'SAMEORIGIN', contentSecurityPolicy: false };
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' wss://${model.stack.domain}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { referrerPolicy: 'no-referrer', frameOptions: 'DENY', contentSecurityPolicy: csp };
}

/** The db server's private address when MariaDB and Redis are not on this server; null when they are. */
function remoteDb(model: HostModel): string | null {
  const at = model.placement.dbAddress;
  return at === '127.0.0.1' ? null : at;
}

/** The addresses MariaDB and Redis listen on: loopback, plus the private one when app servers elsewhere use them. */
function dbListen(model: HostModel): string[] {
  const p = model.placement;
  return p.dbClients.length > 0 && p.privateAddress ? ['127.0.0.1', p.privateAddress] : ['127.0.0.1'];
}

/** The bundled server talks to loopback only (and the db server); a user's app to those and app.egress when it lists any. */
function egressOf(model: HostModel): Pick<UnitView, 'ipAllow' | 'ipAllowMore'> {
  const more = model.app.kind === 'bundled' ? [] : model.stack.app.egress;
  if (more === undefined) return { ipAllow: [], ipAllowMore: false };
  // MariaDB and Redis on a server of their own: the app may reach that one address too.
  const db = remoteDb(model);
  return { ipAllow: ['localhost', ...(db ? [db] : []), ...more], ipAllowMore: more.length > 0 };
}

/** The bin folder of the Node.js the instance's release runs on (first on the unit's PATH, for npm's scripts). */
function releaseNodeBin(model: HostModel): string {
  return `${model.paths.appInstances}/%i/${RELEASE_NODE_LINK}/bin`;
}

/** The unit's ExecStart: node, npm and npx as the installed binaries, `./x` inside the instance's release. */
export function execStartOf(model: HostModel): string {
  const release = `${model.paths.appInstances}/%i`;
  const node = `${releaseNodeBin(model)}/node`;
  if (model.app.kind === 'bundled') {
    return `${node} --max-old-space-size=${model.sizing.app.heapMb} --max-semi-space-size=${model.sizing.app.semiSpaceMb} ${release}/messenger-chat.mjs`;
  }
  const absolute: Record<string, string> = { node, npm: model.paths.npmOnPath, npx: model.paths.npxOnPath };
  const [first = '', ...rest] = (model.stack.app.start ?? '').trim().split(/\s+/);
  const program = absolute[first] ?? (first.startsWith('/') ? first : `${release}/${first.replace(/^\.\//, '')}`);
  return [program, ...rest].join(' ');
}

/** A user's app gets the tier's app memory shared among its own instance count. */
function appMemoryMb(model: HostModel): { memoryMaxMb: number; heapMb: number } {
  const { app } = model.sizing;
  if (model.app.kind === 'bundled') return { memoryMaxMb: app.memoryMaxMb, heapMb: app.heapMb };
  const memoryMaxMb = Math.max(128, Math.floor(app.totalMb / model.app.instances / 64) * 64);
  return { memoryMaxMb, heapMb: Math.floor((memoryMaxMb * 0.75) / 16) * 16 };
}

export function unitView(model: HostModel): UnitView {
  const { app } = model.sizing;
  return {
    ...managed,
    firstPort: firstPort(model),
    bundled: model.app.kind === 'bundled',
    description: model.app.kind === 'bundled' ? 'messenger chat server' : `messenger app ${model.stack.app.start ?? ''}`.trim(),
    execStart: execStartOf(model),
    // npm and npx are `#!/usr/bin/env node` scripts: they, and the scripts they run, find the release's node.
    path: `${releaseNodeBin(model)}:/usr/local/bin:/usr/bin:/bin`,
    ...egressOf(model),
    appSecretsEnvFile: model.paths.appSecretsFile,
    appInstances: model.paths.appInstances,
    // At boot the instances start once both are up (they would retry anyway).
    dataUnits: model.sizing.redis.enabled ? `${MARIADB_UNIT} redis-server.service` : MARIADB_UNIT,
    user: APP_USER,
    group: APP_USER,
    appEnvFile: model.paths.appEnvFile,
    secretsEnvFile: model.paths.secretsEnvFile,
    instanceEnvDir: model.paths.instanceEnvDir,
    // Every 5 s while it crashes: quick enough to come back once the cause is gone, slow enough not to churn.
    restartSecS: 5,
    timeoutStopS: stopTimeoutS(model),
    limitNofile: app.limitNofile,
    memoryMaxMb: appMemoryMb(model).memoryMaxMb,
    heapMb: appMemoryMb(model).heapMb,
    semiSpaceMb: app.semiSpaceMb,
  };
}

/** The stack's app.env as EnvironmentFile lines (sorted: same stack, same bytes). */
function userEnv(model: HostModel): EnvLine[] {
  return Object.entries(model.stack.app.env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => ({ key, value: envQuote(value) }));
}

/** systemd's EnvironmentFile reads a double-quoted value with \\ and \" escaped as written. */
export function envQuote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A user's app: NODE_ENV, the heap bound, the database's non-secret settings under the names the
 * app reads, then the stack's env (which may override NODE_ENV). The password, or a URL holding it,
 * is in the app secrets file, composed on the host.
 */
export function appEnvView(model: HostModel): AppEnvView {
  const db = model.stack.app.database;
  const names: Record<string, string | undefined> = db.url ? {} : { ...DEFAULT_DATABASE_ENV, ...db.env };
  const dbValues: Record<string, string> = { host: model.placement.dbAddress, port: String(MARIADB_TCP_PORT), user: APP_DB_USER, name: db.name };
  const base: EnvLine[] = [
    { key: 'NODE_ENV', value: envQuote('production') },
    { key: 'NODE_OPTIONS', value: envQuote(`--max-old-space-size=${appMemoryMb(model).heapMb}`) },
    ...Object.entries(names).flatMap(([k, key]) => (key === undefined || k === 'password' ? [] : [{ key, value: envQuote(dbValues[k] ?? '') }])),
  ];
  const user = userEnv(model);
  const overridden = new Set(user.map((l) => l.key));
  return { ...managed, appSecretsEnvFile: model.paths.appSecretsFile, env: [...base.filter((l) => !overridden.has(l.key)), ...user] };
}

export function chatEnvView(model: HostModel): ChatEnvView {
  return {
    ...managed,
    secretsEnvFile: model.paths.secretsEnvFile,
    drainSpreadMs: drainSpreadMs(model),
    // The claims tokens must carry when the stack asks (app.jwtAudience / app.jwtIssuer), then the stack's env.
    env: [
      ...(model.stack.app.jwtAudience ? [{ key: 'MESSENGER_JWT_AUDIENCE', value: envQuote(model.stack.app.jwtAudience) }] : []),
      ...(model.stack.app.jwtIssuer ? [{ key: 'MESSENGER_JWT_ISSUER', value: envQuote(model.stack.app.jwtIssuer) }] : []),
      ...userEnv(model),
    ],
    host: '127.0.0.1',
    allowedOrigins: model.allowedOrigins,
    // On the db server, the socket (no TCP password to sniff); from another server, its private address.
    db: remoteDb(model) ? [{ key: 'MESSENGER_DB_HOST', value: model.placement.dbAddress }, { key: 'MESSENGER_DB_PORT', value: String(MARIADB_TCP_PORT) }] : [{ key: 'MESSENGER_DB_SOCKET', value: MARIADB_SOCKET }],
    dbUser: APP_DB_USER,
    dbName: model.app.dbName,
    dbPool: model.sizing.app.dbPoolSize,
    pingIntervalMs: APP_PING_INTERVAL_MS,
    redis: model.sizing.redis.enabled
      ? [{ key: 'MESSENGER_REDIS', value: `${model.placement.dbAddress}:${REDIS_PORT}` }, { key: 'MESSENGER_REDIS_USER', value: REDIS_USER }]
      : [],
  };
}

/**
 * Instance `index` of all ports (both slots). Every instance of both slots shares the one Redis bus,
 * so while two releases overlap during a switch each message reaches the clients of both.
 */
export function instanceEnvView(model: HostModel, index: number): InstanceEnvView {
  const port = model.appPorts[index];
  if (port === undefined) throw new MiError('MI_ERR_RENDER', `no chat server instance ${index}`, { index });
  return {
    ...managed,
    port,
    index,
    count: model.appPorts.length,
  };
}

export function mariadbView(model: HostModel): MariaDbView {
  const m = model.sizing.mariadb;
  return {
    ...managed,
    tier: model.sizing.tier.name,
    // MariaDB 10.11 and later take a comma-separated list.
    bindAddress: dbListen(model).join(','),
    innodbBufferPoolMb: m.innodbBufferPoolMb,
    innodbLogFileMb: m.innodbLogFileMb,
    maxConnections: m.maxConnections,
    tableOpenCache: m.tableOpenCache,
    threadStackKb: m.threadStackKb,
    tmpTableMb: m.tmpTableMb,
    maxHeapTableMb: m.maxHeapTableMb,
    sortBufferKb: m.sortBufferKb,
    joinBufferKb: m.joinBufferKb,
    readBufferKb: m.readBufferKb,
    readRndBufferKb: m.readRndBufferKb,
    ariaPagecacheMb: m.ariaPagecacheMb,
    keyBufferMb: m.keyBufferMb,
    slowLogFile: '/var/log/mysql/mariadb-slow.log',
    longQueryTimeS: 1,
  };
}

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

export function sysctlView(model: HostModel): SysctlView {
  const { nginx, app } = model.sizing;
  // Descriptors the services may hold at once (MariaDB counted generously), times four for everything else.
  const descriptors = nginx.workerProcesses * nginx.workerRlimitNofile + app.instances * app.limitNofile + 65_536;
  const highestPort = Math.max(...model.appPorts, 3306);
  return {
    ...managed,
    tier: model.sizing.tier.name,
    somaxconn: LISTEN_BACKLOG,
    tcpMaxSynBacklog: LISTEN_BACKLOG * 2,
    fileMax: nextPowerOfTwo(descriptors * 4),
    swappiness: 10,
    // Outgoing connections must never take a port a service is about to listen on.
    localPortMin: Math.max(10_000, highestPort + 1),
    localPortMax: 65_535,
  };
}

export function deployHookView(model: HostModel): DeployHookView {
  return { ...managed, domain: model.stack.domain };
}

function firstPort(model: HostModel): number {
  const port = model.appPorts[0];
  if (port === undefined) throw new MiError('MI_ERR_RENDER', 'the host model has no chat server port', {});
  return port;
}

// ---------------------------------------------------------------------------------------------------

/**
 * Handlebars' strict mode throws on a field the view lacks, but renders a present `undefined` (or an
 * `{{#if}}` on it) as empty. This closes that gap: every value must be a finite number, a boolean or a
 * non-empty single-line string (lists may be empty).
 */
export function assertCompleteView(value: unknown, path = 'view'): void {
  const fail = (what: string): never => {
    throw new MiError('MI_ERR_RENDER', `${path} ${what}; the view model is incomplete`, { path });
  };
  if (value === undefined || value === null) fail('is missing');
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(`is ${value}`);
  } else if (typeof value === 'string') {
    if (value === '') fail('is an empty string');
    // A newline in a value would inject lines into the config file.
    if (/[\r\n]/.test(value)) fail('contains a line break');
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => assertCompleteView(item, `${path}[${i}]`));
  } else if (typeof value === 'object') {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) assertCompleteView(item, `${path}.${key}`);
  } else if (typeof value !== 'boolean') {
    fail(`has unsupported type ${typeof value}`);
  }
}

function render(templateName: string, view: object): string {
  assertCompleteView(view, templateName);
  return renderTemplate(templateName, view);
}

const ROOT = { owner: 'root', group: 'root' } as const;

/** Every file the host gets, in a stable order. `bootstrap` renders the port-80-only site. */
export function renderHostFiles(model: HostModel, phase: SitePhase): RenderedFile[] {
  const p = model.paths;
  const reloadNginx = [{ unit: NGINX_UNIT, action: 'reload' as const }];
  const site =
    phase === 'full'
      ? render('nginx/site.conf.hbs', siteView(model))
      : render('nginx/site-bootstrap.conf.hbs', siteBootstrapView(model));

  return [
    {
      path: p.sysctlConf,
      content: render('systemd/sysctl.conf.hbs', sysctlView(model)),
      mode: 0o644,
      ...ROOT,
      validate: `sysctl:${p.sysctlConf}`,
      notify: [],
      kernelWide: true,
    },
    {
      path: p.mariadbConf,
      content: render('mysql/60-messenger-chat.cnf.hbs', mariadbView(model)),
      mode: 0o644,
      ...ROOT,
      validate: 'mariadb',
      notify: [{ unit: MARIADB_UNIT, action: 'restart' }],
    },
    {
      path: p.systemdUnit,
      content: render('systemd/messenger-chat@.service.hbs', unitView(model)),
      mode: 0o644,
      ...ROOT,
      // A template unit is verified through its first instance.
      validate: `systemd:${appUnit(firstPort(model))}`,
      // The release program restarts instances (the new slot); a plain restart would drop every socket.
      notify: [{ unit: `${APP_UNIT_PREFIX}.service`, action: 'daemon-reload' }],
    },
    {
      path: p.appEnvFile,
      content: model.app.kind === 'bundled' ? render('systemd/chat.env.hbs', chatEnvView(model)) : render('systemd/app.env.hbs', appEnvView(model)),
      mode: 0o644,
      ...ROOT,
      notify: [],
    },
    ...model.appPorts.map((port, index) => ({
      path: `${p.instanceEnvDir}/instance-${port}.env`,
      content: render('systemd/instance.env.hbs', instanceEnvView(model, index)),
      mode: 0o644,
      ...ROOT,
      notify: [],
    })),
    { path: p.nginxMain, content: render('nginx/nginx.conf.hbs', nginxMainView(model)), mode: 0o644, ...ROOT, validate: `nginx:${p.nginxMain}`, notify: reloadNginx },
    { path: p.nginxSite, content: site, mode: 0o644, ...ROOT, validate: `nginx:${p.nginxMain}`, notify: reloadNginx },
    { path: p.certbotDeployHook, content: render('nginx/certbot-deploy-hook.sh.hbs', deployHookView(model)), mode: 0o755, ...ROOT, notify: [] },
    ...acmeCaFiles(model),
    ...(model.sizing.redis.enabled ? [redisConfFile(model)] : []),
    ...(model.stack.metrics.nodeExporter
      ? [
          {
            path: p.nodeExporterDefaults,
            content: render('systemd/prometheus-node-exporter.hbs', { ...managed, listen: `127.0.0.1:${NODE_EXPORTER_PORT}` }),
            mode: 0o644,
            ...ROOT,
            notify: [{ unit: 'prometheus-node-exporter.service', action: 'restart' as const }],
          },
        ]
      : []),
  ];
}

/** The redis.conf the host gets, from the tier's sizing. */
export function redisConfFile(model: HostModel): RenderedFile {
  const r = model.sizing.redis;
  return {
    path: model.paths.redisConf,
    content: render('redis/redis.conf.hbs', {
      ...managed,
      tier: model.sizing.tier.name,
      // IPv4 loopback (the app dials 127.0.0.1, and ::1 would fail the start where IPv6 is off), plus
      // the private address when app servers elsewhere use it.
      bind: dbListen(model).join(' '),
      port: REDIS_PORT,
      maxmemoryMb: r.maxmemoryMb,
      pubsubMb: r.pubsubBufferMb,
      pubsubSoftMb: r.pubsubBufferMb / 4,
      // Every instance of both slots holds two connections; the rest is for operators and a user's app.
      maxclients: 1000,
      usersFile: model.paths.redisUsers,
    }),
    // What the package's own dpkg-statoverride says, so an upgrade of redis-server changes nothing.
    mode: 0o640,
    owner: 'redis',
    group: 'redis',
    notify: [{ unit: `${REDIS_UNIT}.service`, action: 'restart' as const }],
  };
}

/** A private ACME CA (e.g. the sandbox's Pebble): the bundle certbot trusts, for the first issue and renewals. */
function acmeCaFiles(model: HostModel): RenderedFile[] {
  if (model.acmeCaBundle === undefined) return [];
  const p = model.paths;
  return [
    { path: p.acmeCaBundle, content: model.acmeCaBundle, mode: 0o644, ...ROOT, notify: [] },
    {
      path: p.certbotCaDropIn,
      content: render('systemd/certbot-acme-ca.conf.hbs', { ...managed, caBundle: p.acmeCaBundle } satisfies CertbotCaView),
      mode: 0o644,
      ...ROOT,
      notify: [{ unit: 'certbot.service', action: 'daemon-reload' }],
    },
  ];
}
