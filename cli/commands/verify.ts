/**
 * `messenger-infra verify URL`: the post-deploy WebSocket verification. Wiring only; the checks live in
 * src/verify. Exit codes: 0 no check failed, 2 bad input, 3 could not connect at all, 4 a check failed.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { ConfigError } from '../../src/config/errors.js';
import { loadStack } from '../../src/config/load.js';
import {
  DEFAULTS,
  parseResolve,
  renderJson,
  renderTable,
  runVerify,
  VerifyInputError,
  type CheckResult,
  type VerifyOptions,
} from '../../src/verify/index.js';

export const EXIT_BAD_INPUT = 2;

interface Flags {
  stack?: string;
  resolve?: string;
  ca: string[];
  token?: string;
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
}

function wholeNumber(field: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new VerifyInputError(field, `"${raw}" is not a whole number`);
  return Number(raw);
}

function seconds(field: string, raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new VerifyInputError(field, `"${raw}" is not a number of seconds`);
  return Math.round(Number(raw) * 1000);
}

function readSecretFile(field: string, path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new VerifyInputError(field, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); pass a readable file holding the secret`);
  }
}

/** Builds VerifyOptions from the flags (and a stack file); throws VerifyInputError/ConfigError on bad input. */
export function optionsFromFlags(url: string | undefined, flags: Flags, env: NodeJS.ProcessEnv = process.env): VerifyOptions {
  const stack = flags.stack ? loadStack({ file: flags.stack }) : undefined;
  const target = url ?? (stack ? `wss://${stack.domain}/ws` : undefined);
  if (!target) throw new VerifyInputError('url', 'missing; pass the WebSocket URL (e.g. wss://chat.example.com/ws) or --stack FILE');
  const caPaths = [...flags.ca, ...(stack?.verify.ca ? [stack.verify.ca] : [])];
  let jwtSecret: string | undefined;
  if (!flags.token) {
    if (flags.jwtSecretFile) jwtSecret = readSecretFile('--jwt-secret-file', flags.jwtSecretFile);
    else if (env.MESSENGER_JWT_SECRET) jwtSecret = env.MESSENGER_JWT_SECRET;
    else if (stack?.app.jwtSecret) {
      const ref = stack.app.jwtSecret;
      jwtSecret = 'file' in ref ? readSecretFile('stack.app.jwtSecret.file', ref.file) : env[ref.env];
      if (!jwtSecret) throw new VerifyInputError('stack.app.jwtSecret', `environment variable ${'env' in ref ? ref.env : ''} is empty; export it or pass --token`);
    }
  }
  const origin = flags.origin ?? stack?.app.allowedOrigins?.[0];
  const expectAddress = flags.expectAddress ?? (stack?.target && isIP(stack.target.host) ? stack.target.host : undefined);
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
  if (flags.resolve) opts.resolve = parseResolve(flags.resolve);
  if (caPaths.length) opts.caPaths = caPaths;
  if (flags.token) opts.token = flags.token;
  if (jwtSecret) opts.jwtSecret = jwtSecret;
  if (origin) opts.origin = origin;
  if (expectAddress) opts.expectAddress = expectAddress;
  return opts;
}

const MARK: Record<CheckResult['status'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', warn: 'WARN' };

export function register(program: Command): void {
  program
    .command('verify')
    .description('check a deployed chat server end to end: DNS, TLS, redirect, health, WebSocket upgrade, messaging, idle, reconnect, latency, concurrency')
    .argument('[url]', 'the WebSocket URL, e.g. wss://chat.example.com/ws')
    .option('--stack <file>', 'take the URL, --ca, the JWT secret, the origin and the expected address from a stack file')
    .option('--resolve <host:port:addr>', 'connect to ADDR for HOST:PORT, keeping HOST for SNI, Host and the certificate (like curl)')
    .option('--ca <file>', 'trust an extra root certificate (PEM); repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--token <jwt>', 'a token the server accepts')
    .option('--jwt-secret-file <file>', 'mint a short-lived token with this secret (default: $MESSENGER_JWT_SECRET)')
    .option('--room <room>', 'the room verify writes to (never a users\' room)', DEFAULTS.room)
    .option('--origin <origin>', 'send this allowed browser Origin (default: none, like a non-browser client)')
    .option('--idle <seconds>', 'idle window an open connection must survive; 0 skips', String(DEFAULTS.idleSeconds))
    .option('--connections <n>', 'concurrent connections that must all upgrade', String(DEFAULTS.connections))
    .option('--messages <k>', 'round trips measured for latency', String(DEFAULTS.messages))
    .option('--timeout <seconds>', 'bound on each connect, handshake and reply', String(DEFAULTS.timeoutMs / 1000))
    .option('--http-port <port>', 'port of the http:// listener checked for the redirect', '80')
    .option('--expect-address <ip>', 'fail DNS unless the name resolves to this address')
    .option('--quick', 'all checks but the idle window (for CI and the end of `up`)')
    .option('--json', 'print a machine-readable report')
    .action(async (url: string | undefined, flags: Flags) => {
      let opts: VerifyOptions;
      try {
        opts = optionsFromFlags(url, flags);
        const live = !flags.json && process.stderr.isTTY;
        if (live) opts.onResult = (r) => process.stderr.write(`  ${MARK[r.status]}  ${r.id}\n`);
        const report = await runVerify(opts);
        process.stdout.write(`${flags.json ? renderJson(report) : renderTable(report)}\n`);
        process.exitCode = report.exitCode;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (flags.json) process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
        process.stderr.write(`error: ${err.message}\n`);
        process.exitCode = EXIT_BAD_INPUT;
      }
    });
}
