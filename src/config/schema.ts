import { isIP } from 'node:net';
import { z } from 'zod';
import { parseSftpRepository } from '../core/repository.js';
import { bundledInstances, TIER_NAMES } from '../core/tiers.js';
import { LETS_ENCRYPT_DIRECTORY, NODE_RELEASE } from '../core/versions.js';

/**
 * The stack configuration: one YAML file per environment (`stacks/<name>.yaml`), overridden by CLI
 * flags. Each section validates itself and holds its defaults, so bad input fails at load time with
 * the field's path, never halfway through a deploy.
 */

const HOSTNAME_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A host name of one or more DNS labels (chat-1, chat.example.com): what a server may be called. */
export function isDnsName(value: string): boolean {
  return value.length <= 253 && value.toLowerCase().split('.').every((label) => HOSTNAME_LABEL.test(label));
}

/** A DNS name with at least two labels and an alphabetic top-level label (chat.example.com). */
export function isHostname(value: string): boolean {
  const labels = value.toLowerCase().split('.');
  return isDnsName(value) && labels.length >= 2 && /^[a-z]{2,63}$/.test(labels[labels.length - 1] ?? '');
}

// Deliberately simple: one @, a non-empty local part without spaces, and a hostname.
export function isEmail(value: string): boolean {
  const at = value.lastIndexOf('@');
  if (at < 1) return false;
  return !/\s/.test(value.slice(0, at)) && isHostname(value.slice(at + 1));
}

// The message also on the base type, so a missing field says what it must be (see toConfigError).
const HOSTNAME_RULE = 'must be a hostname like chat.example.com';
const EMAIL_RULE = 'must be an e-mail address like ops@example.com';
const hostname = z.string({ message: HOSTNAME_RULE }).refine(isHostname, { message: HOSTNAME_RULE });
const port = z
  .number({ message: 'must be a whole number from 1 to 65535' })
  .int({ message: 'must be a whole number from 1 to 65535' })
  .min(1, { message: 'must be a whole number from 1 to 65535' })
  .max(65535, { message: 'must be a whole number from 1 to 65535' });
const httpsUrl = z.string().refine((v) => URL.canParse(v) && new URL(v).protocol === 'https:', {
  message: 'must be an https:// URL',
});
const filePath = z.string().min(1, { message: 'must be a file path' });

/** A secret given by reference, never inline: an environment variable or a file on the control machine. */
export const secretRef = z.union(
  [
    z.strictObject({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { message: 'must be an environment variable name' }) }),
    z.strictObject({ file: filePath }),
  ],
  { message: 'must be { env: NAME } or { file: PATH }' },
);

export const sshSection = z.strictObject({
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { message: 'must be a Unix user name like root or deploy' }).default('root'),
  port: port.default(22),
  key: filePath.optional(),
  knownHosts: filePath.optional(),
});

export const targetSection = z.strictObject({
  // Optional here: `up --provider` creates the host (and knows its address) after the stack is loaded;
  // the commands that connect require it (cli/target-options.ts sshTargetOf).
  host: z
    .string()
    .refine((v) => isIP(v) !== 0 || isHostname(v) || v === 'localhost', {
      message: 'must be an IP address or a hostname',
    })
    .optional(),
  ssh: sshSection.default({ user: 'root', port: 22 }),
});

const SERVER_NAME_RULE = 'must be a short name of a-z, 0-9 and - like web or db-1';
const serverName = z.string({ message: SERVER_NAME_RULE }).regex(/^[a-z][a-z0-9-]{0,30}$/, { message: SERVER_NAME_RULE });
const PRIVATE_RULE = 'must be the IPv4 address the other servers reach this one at, on the private network, like 10.0.0.2';

/** One server of a multi-host stack: how this machine reaches it (SSH) and how the others do. */
export const serverSection = z.strictObject({
  // Optional here like target.host: the sandbox and the cloud fill them in; connecting requires them.
  host: targetSection.shape.host,
  privateAddress: z.string({ message: PRIVATE_RULE }).refine((v) => isIP(v) === 4, { message: PRIVATE_RULE }).optional(),
  ssh: sshSection.default({ user: 'root', port: 22 }),
});

/**
 * Which server does what. The edge terminates TLS and runs nginx; app servers run the chat server or
 * your app; the db server runs MariaDB (and Redis), reachable by the app servers only.
 */
export const hostsSection = z.strictObject({
  edge: serverName,
  app: z.array(serverName, { message: 'must list the app servers, like [web]' }).min(1, { message: 'must list at least one server' }),
  db: serverName,
});

export const acmeSection = z.strictObject({
  server: httpsUrl.default(LETS_ENCRYPT_DIRECTORY),
  /** CA bundle the host's certbot must trust to reach a private ACME server (uploaded by the tool). */
  caBundle: filePath.optional(),
});

/** An environment variable name as systemd's EnvironmentFile and POSIX shells take it. */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an environment variable name like DB_HOST' });
/** One line of shell text run by `sh -c` on the host as the app's user (build, migrate). */
const commandLine = z
  .string({ message: 'must be a command like npm run build' })
  .min(1, { message: 'must be a command like npm run build' })
  .refine((v) => !/[\r\n\0]/.test(v), { message: 'must be one line' });
/** A URL path nginx can hold in a `location` and curl can ask for: no spaces, braces or semicolons. */
const urlPath = z.string({ message: 'must be a path like /api/health' }).regex(/^\/[A-Za-z0-9._~\/-]*$/, { message: 'must be a path like /api/health' });
const START_RULE = 'must be words of letters, digits and ._/-=:@+, like `node dist/main.js` (no quotes, $ or %)';
/**
 * The serving command becomes the unit's ExecStart, which has its own quoting and `$`/`%` expansion:
 * plain words only, so what runs is exactly what was written.
 */
const startCommand = z
  .string({ message: START_RULE })
  .refine((v) => v.trim().split(/\s+/).every((w) => /^[A-Za-z0-9_@+=:,./-]+$/.test(w)), { message: START_RULE });
const envValue = z
  .union([z.string(), z.number(), z.boolean()], { message: 'must be a string, number or boolean' })
  .transform(String)
  .refine((v) => !/[\r\n\0]/.test(v), { message: 'must be one line' });
/** MariaDB's own schemas, and the prefix of the scratch databases imports, restores and drills use. */
const RESERVED_DATABASES = ['mysql', 'sys', 'performance_schema', 'information_schema'];

/** Why NAME cannot be a database the toolkit creates, grants or replaces; null when it can. */
export function databaseNameProblem(name: string): string | null {
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) return 'must be a database name of a-z, 0-9 and _ (at most 64), like messenger_chat';
  if (RESERVED_DATABASES.includes(name)) return `is one of MariaDB's own schemas; give the app's database, like messenger_chat`;
  if (/^mi_(load|old|drill)_/.test(name)) return 'starts like the scratch databases of imports and drills; pick another name';
  return null;
}

const dbName = z.string({ message: 'must be a database name of a-z, 0-9 and _ (at most 64)' }).superRefine((v, ctx) => {
  const problem = databaseNameProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** How the app finds the provisioned MariaDB: the env names it reads, or one URL variable. */
export const databaseSection = z
  .strictObject({
    name: dbName.default('messenger_chat'),
    env: z
      .strictObject({ host: envName.optional(), port: envName.optional(), user: envName.optional(), password: envName.optional(), name: envName.optional() })
      .optional(),
    url: envName.optional(),
  })
  .refine((d) => !(d.env && d.url), { message: 'takes env or url, not both' });

/** The database env names a user's app gets when the stack names none (TypeORM's usual ones). */
export const DEFAULT_DATABASE_ENV = { host: 'DB_HOST', port: 'DB_PORT', user: 'DB_USERNAME', password: 'DB_PASSWORD', name: 'DB_NAME' } as const;
/** Paths nginx proxies with Upgrade when a user's app names none. */
export const DEFAULT_WEBSOCKET_PATHS = ['/ws', '/socket.io/'] as const;

/** Fields that describe a user's app: meaningless for the bundled chat server (and the reverse below). */
const SOURCE_ONLY = ['build', 'start', 'health', 'websocket', 'migrate', 'instances', 'egress'] as const;

const EGRESS_RULE = 'must list IP addresses or CIDR ranges like 203.0.113.10 or 10.0.0.0/16';
function isAddressOrRange(v: string): boolean {
  const [address = '', bits, ...more] = v.split('/');
  const family = isIP(address);
  if (family === 0 || more.length > 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
}

export const appSection = z
  .strictObject({
    port: port.default(3000),
    allowedOrigins: z
      .array(z.string().refine((v) => URL.canParse(v) && new URL(v).origin === v, { message: 'must be an origin like https://chat.example.com' }))
      .optional(),
    jwtSecret: secretRef.optional(),
    /** `aud` / `iss` the bundled server requires in tokens (your backend mints them so); unset: not checked. */
    jwtAudience: z.string().regex(/^[\x21-\x7e]{1,200}$/, { message: 'must be a printable string without spaces' }).optional(),
    jwtIssuer: z.string().regex(/^[\x21-\x7e]{1,200}$/, { message: 'must be a printable string without spaces' }).optional(),
    /** A local Node.js project (package.json + lock file); absent: the bundled chat server. */
    source: filePath.optional(),
    build: commandLine.optional(),
    start: startCommand.optional(),
    health: urlPath.optional(),
    websocket: z.array(urlPath).min(1, { message: 'must list at least one path' }).optional(),
    env: z.record(envName, envValue).default({}),
    secrets: z.record(envName, secretRef).default({}),
    database: databaseSection.prefault({}),
    migrate: commandLine.optional(),
    drainSeconds: z.number({ message: 'must be a whole number of seconds from 0 to 3600' }).int().min(0).max(3600).default(30),
    /** zero-downtime: the new release starts beside the old on the other port set; restart: in place. */
    strategy: z.enum(['zero-downtime', 'restart'], { message: 'must be zero-downtime or restart' }).default('zero-downtime'),
    keepReleases: z.number({ message: 'must be a whole number from 1 to 50' }).int().min(1).max(50).default(5),
    /** Processes of a user's app (Socket.IO needs an adapter for more than one); the bundled server follows the tier. */
    instances: z.number({ message: 'must be a whole number from 1 to 8' }).int().min(1).max(8).optional(),
    healthTimeoutSeconds: z.number({ message: 'must be a whole number of seconds from 5 to 600' }).int().min(5).max(600).default(60),
    /**
     * Where your app may open connections besides loopback (systemd IPAddressAllow): addresses or
     * CIDR ranges; unset: anywhere (push services, mail, APIs). The bundled server reaches loopback only.
     */
    egress: z.array(z.string().refine(isAddressOrRange, { message: EGRESS_RULE }), { message: EGRESS_RULE }).optional(),
  })
  .superRefine((app, ctx) => {
    if (app.source === undefined) {
      for (const key of SOURCE_ONLY) {
        if (app[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'applies to your own app only; set app.source too, or remove it' });
      }
      if (app.database.env || app.database.url) ctx.addIssue({ code: 'custom', path: ['database'], message: 'env/url apply to your own app only; set app.source too' });
      // The bundled server reads only its generated secrets: a secret here would be silently dropped.
      if (Object.keys(app.secrets).length > 0) ctx.addIssue({ code: 'custom', path: ['secrets'], message: 'applies to your own app only; set app.source too, or remove it' });
      return;
    }
    for (const key of ['jwtAudience', 'jwtIssuer'] as const) {
      // Your app checks its own tokens; only the bundled server reads these.
      if (app[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'applies to the bundled chat server only; check the claim in your app, or remove app.source' });
    }
    if (app.start === undefined) ctx.addIssue({ code: 'custom', path: ['start'], message: 'is required with app.source; the command that serves, like `node dist/main.js`' });
    if (app.health === undefined) ctx.addIssue({ code: 'custom', path: ['health'], message: 'is required with app.source; a path that answers 2xx when the app is ready, like /api/health' });
    // One name, one meaning: the same variable from two places would depend on file order.
    const seen = new Map<string, string>([['PORT', 'the instance port']]);
    const claim = (name: string, what: string, path: PropertyKey[]) => {
      const prev = seen.get(name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path, message: `${name} is already ${prev}; use another name` });
      else seen.set(name, what);
    };
    for (const [k, v] of Object.entries(app.database.url ? { url: app.database.url } : { ...DEFAULT_DATABASE_ENV, ...app.database.env })) {
      claim(v, `app.database.${k}`, ['database', app.database.url ? 'url' : 'env']);
    }
    for (const k of Object.keys(app.env)) claim(k, 'set elsewhere in the stack', ['env', k]);
    for (const k of Object.keys(app.secrets)) claim(k, 'set elsewhere in the stack', ['secrets', k]);
  });

export const nodeSection = z.strictObject({
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, { message: 'must be an exact version like 24.21.0' })
    .default(NODE_RELEASE.version),
  /** sha512 integrity of the registry tarball; required with a version other than the pinned one. */
  integrity: z.string().regex(/^sha512-[A-Za-z0-9+/=]+$/, { message: 'must be an sha512-… integrity string' }).optional(),
});

/** What the host exposes for scraping, all on loopback only (an agent or an SSH tunnel reads it). */
export const metricsSection = z.strictObject({
  /** Debian's prometheus-node-exporter on 127.0.0.1:9100 (host CPU, memory, disk, network). */
  nodeExporter: z.boolean({ message: 'must be true or false' }).default(false),
});

const TIME_RULE = 'must be a time of day like 03:30 (24 h, host time)';
const timeOfDay = z.string({ message: TIME_RULE }).regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: TIME_RULE });
const DRILL_RULE = 'must be a weekday and time like "Sun 04:30"';
const REPOSITORY_RULE = 'must be a restic repository like sftp:backup@backup.example.com:/srv/restic/chat, rest:https://user:pass@host:8000/chat, s3:https://s3.example.com/bucket/chat or an absolute path';
const keepCount = (fallback: number) =>
  z.number({ message: 'must be a whole number from 0 to 1000' }).int({ message: 'must be a whole number from 0 to 1000' }).min(0).max(1000).default(fallback);

/**
 * Off-host backups with restic: a nightly consistent dump of the app's database into an encrypted,
 * deduplicated repository somewhere else, a weekly restore drill, retention by policy. The password
 * and any credentials are references, never inline.
 */
export const backupSection = z
  .strictObject({
    repository: z
      .string({ message: REPOSITORY_RULE })
      .refine((v) => /^(sftp:|rest:https?:\/\/|s3:|b2:|azure:|gs:|swift:|rclone:|\/)/.test(v) && !/[\s\0]/.test(v), { message: REPOSITORY_RULE }),
    /** Unset: generated once on this machine (~/.config/messenger-infra/backup/DOMAIN.restic-password). */
    password: secretRef.optional(),
    schedule: timeOfDay.default('03:30'),
    /** Spread over this many minutes after `schedule`, so many hosts do not hit one repository at once. */
    randomizedDelayMinutes: z.number({ message: 'must be a whole number of minutes from 0 to 180' }).int().min(0).max(180).default(30),
    drill: z
      .string({ message: DRILL_RULE })
      .regex(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([01]\d|2[0-3]):[0-5]\d$/, { message: DRILL_RULE })
      .default('Sun 04:30'),
    keep: z.strictObject({ daily: keepCount(7), weekly: keepCount(4), monthly: keepCount(6) }).prefault({}),
    /** Credentials restic reads from its environment (AWS_ACCESS_KEY_ID, B2_ACCOUNT_KEY, ...), by reference. */
    env: z.record(envName, secretRef).default({}),
    /** sftp: the private key the host logs in to the backup server with, and that server's known_hosts line(s). */
    sshKey: z.strictObject({ file: filePath }).optional(),
    knownHosts: filePath.optional(),
  })
  .superRefine((b, ctx) => {
    const sftp = b.repository.startsWith('sftp:');
    if (!sftp && (b.sshKey || b.knownHosts)) ctx.addIssue({ code: 'custom', path: [b.sshKey ? 'sshKey' : 'knownHosts'], message: 'applies to sftp: repositories only; remove it' });
    if (sftp && b.sshKey && !parseSftpRepository(b.repository)) ctx.addIssue({ code: 'custom', path: ['repository'], message: 'must name a path with sshKey, like sftp:backup@backup.example.com:/srv/restic/chat' });
    if (sftp && b.sshKey && !b.knownHosts) ctx.addIssue({ code: 'custom', path: ['knownHosts'], message: "is required with sshKey: a file with the backup server's known_hosts line (ssh-keyscan -p PORT HOST)" });
    if (b.keep.daily + b.keep.weekly + b.keep.monthly === 0) ctx.addIssue({ code: 'custom', path: ['keep'], message: 'keeps nothing; keep at least one daily, weekly or monthly snapshot' });
  });

const REBOOT_RULE = 'must be "never" or a time of day like 04:00 (host time) to reboot at when a security update needs it';
const onOff = z.boolean({ message: 'must be true or false' });

/**
 * The host itself: what `up` hardens beyond the firewall. Each part is on unless turned off; the
 * defaults are what a small production host should have.
 */
export const hardenSection = z.strictObject({
  /** sshd: keys only, root by key only when root deploys, MaxAuthTries and LoginGraceTime (validated with sshd -t). */
  ssh: onOff.default(true),
  /** fail2ban: jails for sshd and for nginx's request limits (bans through ufw). */
  fail2ban: onOff.default(true),
  /** unattended-upgrades: Debian's security updates, daily. */
  securityUpdates: onOff.default(true),
  /** When an update needs a reboot: never by itself (plan says so), or at this time. */
  reboot: z
    .string({ message: REBOOT_RULE })
    .refine((v) => v === 'never' || /^([01]\d|2[0-3]):[0-5]\d$/.test(v), { message: REBOOT_RULE })
    .default('never'),
  /** journald's disk cap in MB; the tier's when unset (mvp 200, growth 400, scale 800). */
  journalMaxMb: z.number({ message: 'must be a whole number of MB from 32 to 16384' }).int({ message: 'must be a whole number of MB from 32 to 16384' }).min(32).max(16384).optional(),
});

/**
 * Redis, the bus between the app's instances, and between the old and the new release while a deploy
 * switches: installed and configured by `up` for the bundled server and for a user's app of more than
 * one instance, unless `enabled` says otherwise. A user's app reads it from REDIS_URL (a Socket.IO
 * adapter, for example).
 */
export const redisSection = z.strictObject({
  enabled: z.boolean({ message: 'must be true or false (unset: on for the bundled server and for app.instances > 1)' }).optional(),
});

export const stackSchema = z.strictObject({
  tier: z.enum(TIER_NAMES, { message: `must be one of ${TIER_NAMES.join(', ')}` }),
  // DNS names are case-insensitive, but certbot's live/ folder and the certificate's names are
  // lowercase: a mixed-case domain would never match them and force a renewal on every run.
  domain: hostname.transform((v) => v.toLowerCase()),
  email: z.string({ message: EMAIL_RULE }).refine(isEmail, { message: EMAIL_RULE }),
  target: targetSection.optional(),
  /** Several servers (with `hosts`): each by name; absent, the stack is one server (`target`). */
  servers: z.record(serverName, serverSection).optional(),
  hosts: hostsSection.optional(),
  acme: acmeSection.default({ server: LETS_ENCRYPT_DIRECTORY }),
  verify: z
    .strictObject({
      ca: filePath.optional(),
      /**
       * Connect to this address with the domain as SNI and Host, as `up`'s closing check does: for a
       * server DNS does not point at yet (before the cut-over), or a private test host.
       */
      address: z.string().refine((v) => isIP(v) !== 0, { message: 'must be an IP address like 203.0.113.10' }).optional(),
    })
    .default({}),
  app: appSection.prefault({}),
  node: nodeSection.default({ version: NODE_RELEASE.version }),
  metrics: metricsSection.default({ nodeExporter: false }),
  backup: backupSection.optional(),
  harden: hardenSection.prefault({}),
  redis: redisSection.default({}),
}).superRefine((stack, ctx) => {
  topologyIssues(stack).forEach((issue) => ctx.addIssue({ code: 'custom', ...issue }));
  // The bundled server's instances share messages only through Redis: without it, clients of
  // different instances would stop hearing each other, silently.
  const instances = bundledInstances(stack.tier);
  if (stack.redis.enabled === false && stack.app.source === undefined && instances > 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['redis', 'enabled'],
      message: `the ${stack.tier} tier runs ${instances} instances of the bundled chat server, which share messages only through Redis; remove redis.enabled: false`,
    });
  }
});

/**
 * What the roles of a multi-host stack must satisfy. The edge is one of the app servers (it balances
 * over itself and the others); the database may have a server of its own.
 */
function topologyIssues(stack: { target?: unknown; servers?: Record<string, unknown>; hosts?: z.output<typeof hostsSection> }): { path: PropertyKey[]; message: string }[] {
  const { servers, hosts } = stack;
  if (!hosts) return servers ? [{ path: ['hosts'], message: 'is required with servers: say which server is the edge, the app and the db, like { edge: web, app: [web], db: db }' }] : [];
  if (!servers) return [{ path: ['servers'], message: 'is required with hosts: name each server, like { web: { host: 203.0.113.10, privateAddress: 10.0.0.2 } }' }];
  const issues: { path: PropertyKey[]; message: string }[] = [];
  if (stack.target !== undefined) issues.push({ path: ['target'], message: 'applies to a one-server stack; with hosts, give each server under servers, and remove target' });
  const known = Object.keys(servers);
  const named = (path: PropertyKey[], name: string) => {
    if (!known.includes(name)) issues.push({ path, message: `names no server; use one of ${known.join(', ')}` });
  };
  named(['hosts', 'edge'], hosts.edge);
  hosts.app.forEach((name, i) => named(['hosts', 'app', i], name));
  named(['hosts', 'db'], hosts.db);
  if (new Set(hosts.app).size !== hosts.app.length) issues.push({ path: ['hosts', 'app'], message: 'lists a server twice; list each once' });
  if (!hosts.app.includes(hosts.edge)) {
    issues.push({ path: ['hosts', 'app'], message: `must include the edge (${hosts.edge}) for now: the edge runs the app too, and balances over the other app servers` });
  }
  const addresses = new Map<string, string>();
  for (const [name, server] of Object.entries(servers) as [string, { privateAddress?: string }][]) {
    const at = server.privateAddress;
    if (at === undefined) continue;
    const other = addresses.get(at);
    if (other) issues.push({ path: ['servers', name, 'privateAddress'], message: `is ${other}'s too; give each server its own` });
    addresses.set(at, name);
  }
  const used = new Set([hosts.edge, ...hosts.app, hosts.db]);
  for (const name of known) if (!used.has(name)) issues.push({ path: ['servers', name], message: 'has no role in hosts; give it one or remove it' });
  return issues;
}

export type StackInput = z.input<typeof stackSchema>;
export type StackConfig = z.output<typeof stackSchema>;
export type SecretRef = z.output<typeof secretRef>;
export type BackupConfig = z.output<typeof backupSection>;
export type HardenConfig = z.output<typeof hardenSection>;
export type ServerConfig = z.output<typeof serverSection>;
export type HostsConfig = z.output<typeof hostsSection>;
