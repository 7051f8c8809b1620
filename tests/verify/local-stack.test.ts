// The happy path on a local stack: real nginx (TLS from a throwaway CA) in front of the real chat server
// on a throwaway MariaDB. Every check passes; the quick run prints its duration; the CLI maps the report
// to its exit codes and JSON.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../app/src/token.js';
import { runVerify, type VerifyOptions, type VerifyReport } from '../../src/verify/index.js';
import { renderTable } from '../../src/verify/report.js';
import { STACK_ORIGIN, startChatBackend, verifyOptionsFor, startProxy, type ChatBackend, type Proxy } from '../helpers/local-stack.js';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let backend: ChatBackend;
let proxy: Proxy;

beforeAll(async () => {
  backend = await startChatBackend();
  proxy = await startProxy(backend);
});
afterAll(async () => {
  await proxy?.stop();
  await backend?.stop();
});

function options(patch: Partial<VerifyOptions> = {}): VerifyOptions {
  return verifyOptionsFor(backend, proxy, { idleSeconds: 3, connections: 50, messages: 50, quick: false, ...patch });
}

const statuses = (r: VerifyReport) => Object.fromEntries(r.checks.map((c) => [c.id, c.status]));

describe('verify against a healthy local stack', () => {
  it('passes every check, the idle window included; DNS is skipped under --resolve', async () => {
    const report = await runVerify(options());
    process.stdout.write(`${renderTable(report)}\n`);
    expect(report.exitCode).toBe(0);
    expect(report.reachable).toBe(true);
    const notPassed = report.checks.filter((c) => c.status !== 'pass').map((c) => [c.id, c.status, c.cause]);
    expect(notPassed).toEqual([['dns.resolve', 'skip', '--resolve given: connecting to 127.0.0.1, DNS not consulted']]);
    const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]));
    expect(byId['tls.chain']!.data).toMatchObject({ protocol: 'TLSv1.3', issuer: 'messenger-infra test root', authorized: true });
    expect(byId['ws.latency']!.data).toMatchObject({ count: 50 });
    expect(byId['ws.concurrency']!.data).toMatchObject({ connections: 50, upgraded: 50 });
    expect(byId['ws.reconnect']!.data).toMatchObject({ closeCode: 1009, missed: 3, caughtUp: 3 });
    expect(byId['ws.idle']!.data).toMatchObject({ idleSeconds: 3 });
  });

  it('quick mode runs everything but the idle window (figure printed, not asserted)', async () => {
    const report = await runVerify(options({ quick: true, idleSeconds: 75 }));
    process.stdout.write(`verify --quick on the local stack: ${report.durationMs} ms (target: under 5000 ms on the sandbox)\n`);
    expect(report.exitCode).toBe(0);
    expect(statuses(report)['ws.idle']).toBe('skip');
    expect(report.checks.find((c) => c.id === 'ws.idle')!.cause).toBe('--quick: idle window skipped');
    expect(report.summary).toEqual({ pass: 14, fail: 0, warn: 0, skip: 2 });
  });

  it('resolves the name through node:dns when no --resolve is given (localhost, from /etc/hosts)', async () => {
    const report = await runVerify(options({ url: `wss://localhost:${proxy.httpsPort}/ws`, resolve: undefined, quick: true, expectAddress: '127.0.0.1' }));
    const dns = report.checks.find((c) => c.id === 'dns.resolve')!;
    expect(dns.status).toBe('pass');
    expect(dns.figure).toMatch(/^localhost → .*127\.0\.0\.1/);
    expect(report.exitCode).toBe(0);
  });

  it('fails DNS when the name resolves elsewhere than the expected address', async () => {
    const report = await runVerify(options({ url: `wss://localhost:${proxy.httpsPort}/ws`, resolve: undefined, quick: true, expectAddress: '127.0.0.2' }));
    const failed = report.checks.filter((c) => c.status === 'fail');
    expect(failed.map((c) => c.id)).toEqual(['dns.resolve']);
    expect(failed[0]!.cause).toMatch(/^localhost resolves to 127\.0\.0\.1, not the server's 127\.0\.0\.2: point the DNS record at 127\.0\.0\.2/);
    expect(report.exitCode).toBe(4);
  });

  it('speaks plain ws:// straight to the app (no proxy): TLS and redirect are skipped, the rest passes', async () => {
    const report = await runVerify(options({ url: `ws://127.0.0.1:${backend.appPort}/ws`, resolve: undefined, caPaths: undefined, quick: true }));
    const skipped = report.checks.filter((c) => c.status === 'skip').map((c) => [c.id, c.cause]);
    expect(skipped).toEqual([
      ['dns.resolve', 'the URL names an IP address'],
      ['tls.chain', 'ws:// URL: no TLS'],
      ['tls.expiry', 'ws:// URL: no TLS'],
      ['http.redirect', 'ws:// URL: nothing to redirect to'],
      ['ws.idle', '--quick: idle window skipped'],
    ]);
    expect(report.exitCode).toBe(0);
  });

  it('writes only to the verify room, as the verify user', async () => {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: backend.db.port, user: backend.db.user, password: backend.db.password, database: backend.db.database });
    try {
      const [tables] = await conn.query<mysql.RowDataPacket[]>('SHOW TABLES');
      const names = tables.map((t) => String(Object.values(t)[0]));
      const table = names.find((n) => /message/i.test(n));
      expect(table).toBeDefined();
      const [rooms] = await conn.query<mysql.RowDataPacket[]>(`SELECT DISTINCT room, user FROM \`${table!}\``);
      expect(rooms.map((r) => [r.room, r.user])).toEqual([['verify', 'messenger-infra-verify']]);
    } finally {
      await conn.end();
    }
  });

  it('a room given with --room is the only one written to', async () => {
    const report = await runVerify(options({ quick: true, room: 'verify-ci', connections: 2, messages: 3 }));
    expect(report.exitCode).toBe(0);
    const token = await mintToken(backend.jwtSecret, 'reader', 60);
    const res = await fetchHistory('verify-ci', token);
    // broadcast (1) + reconnect's missed messages (3) + latency (3)
    expect(res.messages.length).toBe(7);
    expect(res.messages.every((m) => m.user === 'messenger-infra-verify' && m.text.startsWith('messenger-infra verify '))).toBe(true);
  });
});

async function fetchHistory(room: string, token: string): Promise<{ messages: { user: string; text: string }[] }> {
  const res = await fetch(`http://127.0.0.1:${backend.appPort}/api/rooms/${room}/messages?after=0&limit=500`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { messages: { user: string; text: string }[] };
}

describe('the verify CLI', () => {
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'tests/verify/cli-entry.ts'), 'verify', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...env },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const common = () => [proxy.url, '--resolve', proxy.resolveArg, '--ca', backend.pki.caPath, '--http-port', String(proxy.httpPort), '--connections', '5', '--messages', '5'];

  it('exits 0 with a stable JSON report when everything passes (secret from the environment)', async () => {
    const r = await cli([...common(), '--quick', '--json'], { MESSENGER_JWT_SECRET: backend.jwtSecret });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as VerifyReport;
    expect(doc).toMatchObject({ schema: 'messenger-infra/verify@1', exitCode: 0, reachable: true, address: '127.0.0.1', quick: true });
    expect(doc.checks).toHaveLength(16);
  });

  it('exits 4 and prints the table when a check fails (a token the server does not accept)', async () => {
    const wrong = await mintToken('x'.repeat(40), 'someone', 60);
    const r = await cli([...common(), '--quick', '--token', wrong]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/FAIL {2}ws\.upgrade +the server refused the token \(401\)/);
  });

  it('exits 3 when nothing answers at all', async () => {
    const { freePort } = await import('../helpers/mariadb.js');
    const port = await freePort();
    const r = await cli([`wss://chat.verify.test:${port}/ws`, '--resolve', `chat.verify.test:${port}:127.0.0.1`, '--token', 't', '--http-port', String(port), '--quick', '--timeout', '2']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/FAIL {2}tls\.chain +cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(r.stdout).toMatch(/could not connect at all$/m);
  });

  it('takes the CA, the secret and the origin from --stack', async () => {
    const { writeFile } = await import('node:fs/promises');
    const secretFile = join(backend.dir, 'jwt-secret');
    const stackFile = join(backend.dir, 'stack.yaml');
    await writeFile(secretFile, `${backend.jwtSecret}\n`, { mode: 0o600 });
    await writeFile(
      stackFile,
      [
        'tier: mvp',
        'domain: chat.verify.test',
        'email: ops@verify.test',
        `verify: { ca: ${backend.pki.caPath} }`,
        `app: { jwtSecret: { file: ${secretFile} }, allowedOrigins: ["${STACK_ORIGIN}"] }`,
      ].join('\n'),
    );
    const r = await cli([proxy.url, '--stack', stackFile, '--resolve', proxy.resolveArg, '--http-port', String(proxy.httpPort), '--connections', '5', '--messages', '5', '--quick', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as VerifyReport).summary).toEqual({ pass: 14, fail: 0, warn: 0, skip: 2 });
  });

  it('exits 2 with one line naming the field for bad input', async () => {
    const r = await cli([proxy.url, '--resolve', 'chat.verify.test:443', '--token', 't']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['error: --resolve: "chat.verify.test:443" is not HOST:PORT:ADDR with ADDR an IP address (e.g. chat.example.com:443:203.0.113.7)']);
    const noCreds = await cli([proxy.url]);
    expect(noCreds.code).toBe(2);
    expect(noCreds.stderr).toMatch(/^error: --token: no credentials/);
  });
});
