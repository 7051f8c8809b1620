/**
 * The NestJS fixture (tests/fixtures/nest-app), the user backend the deploy tests ship to the sandbox VPS,
 * run here the way a server runs it: a copy without node_modules/dist, `npm ci` + `npm run build`, then
 * `npm ci --omit=dev`, `npm run migration:run` and `node dist/main.js` against a throwaway MariaDB, with
 * only the environment it is given. REST, Socket.IO over websocket and long-polling, and SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { access, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import mysql from 'mysql2/promise';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { stopProcess, waitForHttp, type AppProcess } from './fixture.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'nest-app');
const VERSION = 'fixture-1.4.2';

let db: ThrowawayMariaDb;
let dir: string;
const procs: AppProcess[] = [];
const sockets: Socket[] = [];

interface Run { code: number; stdout: string; stderr: string }

/** Runs a command in the app copy; never throws, the exit code is part of the result. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: dir, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function npm(args: string[]): Promise<void> {
  const r = await run('npm', [...args, '--no-audit', '--no-fund'], process.env);
  if (r.code !== 0) throw new Error(`npm ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/** Only what the app is given: PATH, HOME and the variables of the test. */
function appEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...vars };
}

function dbVars(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DB_HOST: db.host,
    DB_PORT: String(db.port),
    DB_USERNAME: db.user,
    DB_PASSWORD: db.password,
    DB_NAME: db.database,
    ...overrides,
  };
}

const migrate = (vars: Record<string, string>) => run('npm', ['run', '--silent', 'migration:run'], appEnv(vars), 60_000);

/** `node dist/main.js` in the app copy on `port`; resolves once /api/health says ok. */
async function startApp(vars: Record<string, string>, port: number): Promise<AppProcess> {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: dir,
    env: appEnv({ PORT: String(port), APP_VERSION: VERSION, ...vars }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  child.stdout?.on('data', (d: Buffer) => stdout.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => stdout.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const p: AppProcess = { child, port, stdout, exited };
  procs.push(p);
  await Promise.race([
    waitForHttp(`http://127.0.0.1:${port}/api/health`, (b) => b.status === 'ok', 30_000),
    exited.then((code) => {
      throw new Error(`app exited ${code} before it was healthy:\n${stdout.join('')}`);
    }),
  ]);
  return p;
}

function connect(port: number, transport: 'websocket' | 'polling'): Promise<Socket> {
  const s = io(`http://127.0.0.1:${port}`, {
    transports: [transport],
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    timeout: 5000,
  });
  sockets.push(s);
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

function nextEvent<T>(s: Socket, event: string, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    s.once(event, (arg: T) => {
      clearTimeout(t);
      resolve(arg);
    });
  });
}

async function withDb<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database, charset: 'utf8mb4_unicode_ci' });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function post(port: number, body: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const timings: Record<string, number> = {};
async function timed(name: string, fn: () => Promise<void>): Promise<void> {
  const t0 = Date.now();
  await fn();
  timings[name] = Date.now() - t0;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mi-nest-app-'));
  const build = (async () => {
    await cp(FIXTURE, dir, {
      recursive: true,
      filter: (src) => {
        const first = relative(FIXTURE, src).split(sep)[0];
        return first !== 'node_modules' && first !== 'dist';
      },
    });
    await timed('npm ci', () => npm(['ci']));
    await timed('npm run build', () => npm(['run', 'build']));
    await timed('npm ci --omit=dev', () => npm(['ci', '--omit=dev']));
  })();
  const [started] = await Promise.all([startMariaDb(), build]);
  db = started;
  console.log(`nest fixture: ${Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')}`);
}, 240_000);

afterAll(async () => {
  for (const s of sockets) s.close();
  for (const p of procs) await stopProcess(p);
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nest fixture: build', () => {
  it('is NestJS 11, built by tsc, and runs from production dependencies only', async () => {
    const lock = JSON.parse(await readFile(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    const nest = Object.entries(lock.packages).filter(([k]) => k.startsWith('node_modules/@nestjs/'));
    expect(nest.map(([k]) => k.replace('node_modules/', '')).sort()).toEqual([
      '@nestjs/common', '@nestjs/core', '@nestjs/platform-express', '@nestjs/platform-socket.io', '@nestjs/typeorm', '@nestjs/websockets',
    ]);
    for (const [name, { version }] of nest) expect(version, name).toMatch(/^11\./);
    await access(join(dir, 'dist', 'main.js'));
    await access(join(dir, 'dist', 'migrate.js'));
    await access(join(dir, 'node_modules', '@nestjs', 'core', 'package.json'));
    // --omit=dev removed the build tools: what runs below runs without them.
    await expect(access(join(dir, 'node_modules', 'typescript'))).rejects.toThrow();
  });
});

describe('nest fixture: migration:run', () => {
  it('exits 1 on a bad environment or wrong credentials', async () => {
    const wrong = await migrate(dbVars({ DB_PASSWORD: 'not-the-password' }));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/migrations failed: .*Access denied/);
    const missing = await migrate(dbVars({ DB_NAME: '' }));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('DB_NAME is required');
  });

  it('creates the utf8mb4 messages table once; a second run applies nothing', async () => {
    const first = await migrate(dbVars());
    expect(first, first.stderr).toMatchObject({ code: 0 });
    expect(first.stdout).toContain('migrations: applied CreateMessages1767225600000');
    const again = await migrate(dbVars());
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('migrations: none pending');

    const [tables] = await withDb((c) => c.query(
      "SELECT TABLE_COLLATION AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'messages'", [db.database]));
    expect(tables).toEqual([{ c: 'utf8mb4_unicode_ci' }]);
    const [cols] = await withDb((c) => c.query(
      "SELECT COLUMN_NAME AS n, COLUMN_TYPE AS t, CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'messages' ORDER BY ORDINAL_POSITION", [db.database]));
    expect(cols).toEqual([
      { n: 'id', t: 'int(11)', cs: null },
      { n: 'room', t: 'varchar(64)', cs: 'utf8mb4' },
      { n: 'text', t: 'text', cs: 'utf8mb4' },
      { n: 'createdAt', t: 'datetime(3)', cs: null },
    ]);
    const [applied] = await withDb((c) => c.query('SELECT name FROM migrations'));
    expect(applied).toEqual([{ name: 'CreateMessages1767225600000' }]);
  });
});

describe('nest fixture: the running app', () => {
  let port: number;
  let app: AppProcess;
  let ws: Socket;
  let polling: Socket;
  const room = 'lobby';

  beforeAll(async () => {
    port = await freePort();
    // DATABASE_URL wins: every DB_* variable below is wrong.
    const url = `mysql://${db.user}:${encodeURIComponent(db.password)}@127.0.0.1:${db.port}/${db.database}`;
    app = await startApp({ ...dbVars({ DB_PORT: '1', DB_PASSWORD: 'wrong', DB_NAME: 'nope' }), DATABASE_URL: url }, port);
  }, 60_000);

  it('answers /api/health with 200, APP_VERSION and the Node.js it runs on', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', version: VERSION, node: process.versions.node });
  });

  it('stores a POSTed emoji message intact and lists the last 50 of a room in ascending order', async () => {
    const text = 'hello 😀 привет';
    const res = await post(port, { room, text });
    expect(res.status).toBe(201);
    const stored = (await res.json()) as { id: number; room: string; text: string; createdAt: string };
    expect(stored).toEqual({ id: expect.any(Number), room, text, createdAt: expect.any(String) });
    expect(Math.abs(Date.parse(stored.createdAt) - Date.now())).toBeLessThan(60_000);

    const list = (await (await fetch(`http://127.0.0.1:${port}/api/messages?room=${room}`)).json()) as Array<typeof stored>;
    expect(list).toEqual([stored]);
    // The bytes in MariaDB are the UTF-8 of the text (4-byte emoji included), not a lossy conversion.
    const [rows] = await withDb((c) => c.query('SELECT HEX(text) AS h FROM messages WHERE id = ?', [stored.id]));
    expect(rows).toEqual([{ h: Buffer.from(text, 'utf8').toString('hex').toUpperCase() }]);

    expect((await post(port, { room, text: '' })).status).toBe(400);
    expect((await post(port, { room: 'x'.repeat(65), text: 'a' })).status).toBe(400);
    expect((await fetch(`http://127.0.0.1:${port}/api/messages`)).status).toBe(400);

    for (let i = 1; i <= 52; i++) expect((await post(port, { room: 'history', text: `m${i}` })).status).toBe(201);
    const history = (await (await fetch(`http://127.0.0.1:${port}/api/messages?room=history`)).json()) as Array<typeof stored>;
    expect(history.map((m) => m.text)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i + 3}`));
    expect(history.map((m) => m.id)).toEqual([...history.map((m) => m.id)].sort((a, b) => a - b));
  });

  it('relays over Socket.IO between a websocket and a long-polling client, storing first', async () => {
    [ws, polling] = await Promise.all([connect(port, 'websocket'), connect(port, 'polling')]);
    expect(ws.io.engine.transport.name).toBe('websocket');
    expect(polling.io.engine.transport.name).toBe('polling');
    expect(await ws.timeout(5000).emitWithAck('version')).toBe(VERSION);
    expect(await ws.timeout(5000).emitWithAck('join', room)).toEqual({ ok: true });
    expect(await polling.timeout(5000).emitWithAck('join', room)).toEqual({ ok: true });
    expect(await ws.timeout(5000).emitWithAck('join', '')).toMatchObject({ ok: false });

    const text = 'over socket.io 😀';
    const gotWs = nextEvent<Record<string, unknown>>(ws, 'message');
    const gotPolling = nextEvent<Record<string, unknown>>(polling, 'message');
    const ack = (await polling.timeout(5000).emitWithAck('send', { room, text })) as { id: number; room: string; text: string };
    expect(ack).toMatchObject({ id: expect.any(Number), room, text });
    expect(await gotWs).toEqual(ack);
    expect(await gotPolling).toEqual(ack);

    const [rows] = await withDb((c) => c.query('SELECT room, text FROM messages WHERE id = ?', [ack.id]));
    expect(rows).toEqual([{ room, text }]);
    const list = (await (await fetch(`http://127.0.0.1:${port}/api/messages?room=${room}`)).json()) as Array<{ id: number }>;
    expect(list.at(-1)).toEqual(ack);
  });

  it('on SIGTERM disconnects the clients and exits 0 within 10 s; the clients reconnect to the next instance', async () => {
    const reasons = [nextEvent<string>(ws, 'disconnect'), nextEvent<string>(polling, 'disconnect')];
    const t0 = Date.now();
    process.kill(app.child.pid!, 'SIGTERM');
    const code = await Promise.race([app.exited, new Promise<string>((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
    expect(code, app.stdout.join('')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // "transport close", not "io server disconnect": Socket.IO clients reconnect on their own after it.
    expect(await Promise.all(reasons)).toEqual(['transport close', 'transport close']);
    expect(ws.active && polling.active).toBe(true);
    expect(app.stdout.join('')).toContain('SIGTERM: closing Socket.IO, disconnecting 2 client(s)');

    // The next instance on the same port (as after a deploy's restart): both clients come back by themselves.
    const reconnected = [nextEvent(ws, 'connect', 30_000), nextEvent(polling, 'connect', 30_000)];
    app = await startApp(dbVars(), port);
    await Promise.all(reconnected);
    expect(await ws.timeout(5000).emitWithAck('join', room)).toEqual({ ok: true });
    expect(await polling.timeout(5000).emitWithAck('join', room)).toEqual({ ok: true });
    const got = nextEvent<{ text: string }>(polling, 'message');
    await ws.timeout(5000).emitWithAck('send', { room, text: 'after restart' });
    expect((await got).text).toBe('after restart');
  });

  it('answers /api/health with 503 when the database is gone, and still exits 0 on SIGTERM', async () => {
    await db.stop();
    const res = await fetch(`http://127.0.0.1:${port}/api/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'error', version: VERSION });
    for (const s of sockets) s.close();
    expect(await stopProcess(app)).toBe(0);
  });
});
