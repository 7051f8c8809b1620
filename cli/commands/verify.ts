/**
 * `messenger-infra verify URL`: the post-deploy WebSocket verification. Wiring only; the checks live in
 * src/verify. Exit codes: 0 no check failed, 2 bad input, 3 could not connect at all, 4 a check failed.
 */
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { jwtClaimsOf, readSecretFile, resolveJwtSecret } from '../../src/config/jwt-secret.js';
import { loadStack } from '../../src/config/load.js';
import { DEFAULT_WEBSOCKET_PATHS } from '../../src/config/schema.js';
import type { StackConfig } from '../../src/config/schema.js';
import { appModelOf } from '../../src/core/host-model.js';
import { readBackupState } from '../../src/executor/data.js';
import { backupCheck, withCheck } from '../../src/verify/backup.js';
import { sshTargetOf } from '../target-options.js';
import {
  DEFAULTS,
  parseResolve,
  renderJson,
  renderTable,
  runVerify,
  verifyAppOf,
  VerifyInputError,
  type CheckResult,
  type VerifyApp,
  type VerifyOptions,
} from '../../src/verify/index.js';
import { runAction } from '../run-action.js';

interface Flags {
  stack?: string;
  resolve: string[];
  ca: string[];
  token?: string;
  tokenFile?: string;
  jwtSecretFile?: string;
  room: string;
  origin?: string;
  idle: string;
  connections: string;
  messages: string;
  timeout: string;
  httpPort: string;
  expectAddress?: string;
  quick?: boolean;
  json?: boolean;
  /** A user's app without a stack: its health path and WebSocket paths. */
  health?: string;
  websocket?: string[];
}

function wholeNumber(field: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new VerifyInputError(field, `"${raw}" is not a whole number`);
  return Number(raw);
}

function seconds(field: string, raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new VerifyInputError(field, `"${raw}" is not a number of seconds`);
  return Math.round(Number(raw) * 1000);
}

/** Builds VerifyOptions from the flags (and a stack file); throws VerifyInputError/ConfigError on bad input. */
/**
 * A user's app: from --health/--websocket, else from the stack's app.source (through appModelOf, the
 * model nginx is rendered from); undefined for the bundled chat server.
 */
function appFromFlags(flags: Flags, stack: ReturnType<typeof loadStack> | undefined): VerifyApp | undefined {
  const websocket = flags.websocket ?? [];
  if (flags.health !== undefined || websocket.length > 0) {
    if (flags.health === undefined) throw new VerifyInputError('--health', "is required with --websocket; the path your app answers 2xx on when ready, like /api/health");
    return { kind: 'source', health: flags.health, websocket: websocket.length ? websocket : [...DEFAULT_WEBSOCKET_PATHS] };
  }
  return stack ? verifyAppOf(appModelOf(stack)) : undefined;
}

/**
 * A ready token, kept out of argv (where `ps` shows it to every user): `--token-file`, or
 * $MESSENGER_VERIFY_TOKEN; `--token` still works for a one-off by hand.
 */
function readyToken(flags: Flags, env: NodeJS.ProcessEnv): string | undefined {
  if (flags.tokenFile !== undefined) {
    const token = readSecretFile('--token-file', flags.tokenFile).trim();
    if (!token) throw new VerifyInputError('--token-file', `${flags.tokenFile} is empty; put the token in it`);
    return token;
  }
  return flags.token ?? (env.MESSENGER_VERIFY_TOKEN?.trim() || undefined);
}

export function optionsFromFlags(
  url: string | undefined,
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
  stack: StackConfig | undefined = flags.stack ? loadStack({ file: flags.stack }) : undefined,
): VerifyOptions {
  const token = readyToken(flags, env);
  const app = appFromFlags(flags, stack);
  const target = url ?? (stack ? `wss://${stack.domain}${app ? app.websocket[0] : '/ws'}` : undefined);
  if (!target) throw new VerifyInputError('url', 'missing; pass the WebSocket URL (e.g. wss://chat.example.com/ws) or --stack FILE');
  const caPaths = [...flags.ca, ...(stack?.verify.ca ? [stack.verify.ca] : [])];
  // Explicit flags first, then the one order `up` uses too (stack reference, then $MESSENGER_JWT_SECRET).
  // A user's app gets no minted token (verify cannot know its tokens); only --token is passed on.
  const jwtSecret =
    token || app ? undefined : flags.jwtSecretFile ? readSecretFile('--jwt-secret-file', flags.jwtSecretFile).trim() : resolveJwtSecret(stack, env)?.value;
  const origin = flags.origin ?? stack?.app.allowedOrigins?.[0];
  const host = stack?.target?.host;
  const expectAddress = flags.expectAddress ?? (host && isIP(host) ? host : undefined);
  const opts: VerifyOptions = {
    url: target,
    room: flags.room,
    idleSeconds: wholeNumber('--idle', flags.idle),
    connections: wholeNumber('--connections', flags.connections),
    messages: wholeNumber('--messages', flags.messages),
    timeoutMs: seconds('--timeout', flags.timeout),
    httpPort: wholeNumber('--http-port', flags.httpPort),
    quick: Boolean(flags.quick),
  };
  if (flags.resolve.length) opts.resolve = flags.resolve.map(parseResolve);
  else if (stack?.verify.address) {
    // The stack's address stands for DNS on both ports, like `--resolve` twice.
    const { address } = stack.verify;
    opts.resolve = [new URL(target).port || '443', String(opts.httpPort)].map((port) => ({ host: stack.domain, port: Number(port), address }));
  }
  if (caPaths.length) opts.caPaths = caPaths;
  if (token) opts.token = token;
  if (jwtSecret) opts.jwtSecret = jwtSecret;
  if (stack) opts.jwtClaims = jwtClaimsOf(stack);
  if (origin) opts.origin = origin;
  if (expectAddress) opts.expectAddress = expectAddress;
  if (app) opts.app = app;
  return opts;
}

const collect = (value: string, previous: string[]) => [...previous, value];

const MARK: Record<CheckResult['status'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', warn: 'WARN' };

export function register(program: Command): void {
  program
    .command('verify')
    .description(
      'check a deployed chat server end to end: DNS, TLS, redirect, health, WebSocket upgrade, messaging, idle, reconnect, latency, concurrency; ' +
        "for your own app (app.source, or --health): DNS, TLS, redirect, its health path and each WebSocket path (Socket.IO's handshake and long-polling)",
    )
    .argument('[url]', 'the WebSocket URL, e.g. wss://chat.example.com/ws')
    .option('--stack <file>', 'take the URL, --ca, the JWT secret, the origin and the expected address from a stack file')
    .option('--resolve <host:port:addr>', "connect to ADDR for HOST:PORT, keeping HOST for SNI, Host and the certificate (like curl); one per port: the URL's, and the --http-port's for the redirect check", collect, [] as string[])
    .option('--ca <file>', 'trust an extra root certificate (PEM); repeatable', collect, [] as string[])
    .option('--token <jwt>', 'a token the server accepts (visible in `ps`: prefer --token-file or $MESSENGER_VERIFY_TOKEN)')
    .option('--token-file <file>', 'read the token from this file')
    .option('--jwt-secret-file <file>', 'mint a short-lived token with this secret (default: $MESSENGER_JWT_SECRET)')
    .option('--room <room>', 'the room verify writes to (never a users\' room)', DEFAULTS.room)
    .option('--origin <origin>', 'send this allowed browser Origin (default: none, like a non-browser client)')
    .option('--idle <seconds>', 'idle window an open connection must survive; 0 skips', String(DEFAULTS.idleSeconds))
    .option('--connections <n>', 'concurrent connections that must all upgrade', String(DEFAULTS.connections))
    .option('--messages <k>', 'round trips measured for latency', String(DEFAULTS.messages))
    .option('--timeout <seconds>', 'bound on each connect, handshake and reply', String(DEFAULTS.timeoutMs / 1000))
    .option('--http-port <port>', 'port of the http:// listener checked for the redirect', '80')
    .option('--expect-address <ip>', 'fail DNS unless the name resolves to this address')
    .option('--health <path>', "check your own app instead of the bundled chat server: GET PATH must answer 2xx (as the stack's app.health)")
    .option('--websocket <path>', "a WebSocket path of your own app, repeatable (as app.websocket; default /ws and /socket.io/); Socket.IO paths get its handshake and long-polling", collect, [] as string[])
    .option('--quick', 'all checks but the idle window (for CI and the end of `up`)')
    .option('--json', 'print a machine-readable report')
    .action(
      runAction(
        async (url: string | undefined, flags: Flags) => {
          const stack = flags.stack ? loadStack({ file: flags.stack }) : undefined;
          const opts = optionsFromFlags(url, flags, process.env, stack);
          const live = !flags.json && process.stderr.isTTY;
          if (live) opts.onResult = (r) => process.stderr.write(`  ${MARK[r.status]}  ${r.id}\n`);
          let report = await runVerify(opts);
          // Backups are read over SSH: the stack names the host and how to log in.
          if (stack?.backup && stack.target?.host) report = withCheck(report, backupCheck(await readBackupState(sshTargetOf(stack, {})).catch((e: Error) => e)));
          process.stdout.write(`${flags.json ? renderJson(report) : renderTable(report)}\n`);
          // 0 all passed, 3 could not connect at all, 4 a check failed (bad input is 2, from runAction).
          return report.exitCode;
        },
        // verify's own --json error shape, older than the event lines; scripts and tests read it.
        { jsonError: ({ code, message }) => ({ error: { code, message } }) },
      ),
    );
}
