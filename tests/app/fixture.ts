/** Shared setup of the app tests: a throwaway MariaDB, in-process servers, child-process bundles. */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, type ChatConfig } from '../../app/src/config.js';
import { createLogger } from '../../app/src/log.js';
import { createChatServer, type ChatLimits, type ChatServer } from '../../app/src/server.js';
import type { ThrowawayMariaDb } from '../helpers/mariadb.js';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop';
export const ALLOWED_ORIGIN = 'https://chat.example.test';

/** Config for a server on a free port against `db` (database `dbName`). */
export function testConfig(db: ThrowawayMariaDb, dbName: string, extra: Record<string, string> = {}): ChatConfig {
  return loadConfig({
    ...db.env(),
    MESSENGER_DB_NAME: dbName,
    MESSENGER_PORT: '0',
    MESSENGER_JWT_SECRET: SECRET,
    MESSENGER_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
    ...extra,
  });
}

/** Starts an in-process server; logs are collected in `logs` (not printed). */
export async function startServer(config: ChatConfig, limits: Partial<ChatLimits> = {}): Promise<{ server: ChatServer; port: number; url: string; http: string; logs: string[] }> {
  const logs: string[] = [];
  const server = createChatServer(config, { log: createLogger({ svc: 'test' }, { level: 'debug', write: (l) => logs.push(l) }), limits: { statsIntervalMs: 0, ...limits } });
  const port = await server.start();
  return { server, port, url: `ws://127.0.0.1:${port}/ws`, http: `http://127.0.0.1:${port}`, logs };
}

/** Builds the bundle into a fresh temp dir (no node_modules anywhere up its path) and returns the .mjs path. */
export async function buildBundle(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mi-app-bundle-'));
  await promisify(execFile)(process.execPath, ['scripts/build-app.mjs', '--outdir', dir], { cwd: join(import.meta.dirname, '..', '..') });
  return join(dir, 'messenger-chat.mjs');
}

export interface AppProcess { child: ChildProcess; port: number; stdout: string[]; exited: Promise<number | null> }

/** Runs the bundle with plain `node` in its own directory with only the given environment. */
export function runBundle(bundle: string, env: Record<string, string>, port: number): AppProcess {
  const child = spawn(process.execPath, [bundle], {
    cwd: join(bundle, '..'),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MESSENGER_JWT_SECRET: SECRET, MESSENGER_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    stdout.push(...lines);
  });
  child.stderr?.on('data', (d: Buffer) => stdout.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, port, stdout, exited };
}

/** Polls a URL until it answers 200 (and `check` accepts the JSON body). */
export async function waitForHttp(url: string, check: (body: Record<string, unknown>) => boolean = () => true, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status === 200 && check((await res.json()) as Record<string, unknown>)) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops a child by its PID (SIGTERM) and waits; SIGKILL after 15 s. */
export async function stopProcess(p: AppProcess): Promise<number | null> {
  if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
    process.kill(p.child.pid, 'SIGTERM');
    const t = setTimeout(() => p.child.pid && p.child.exitCode === null && process.kill(p.child.pid, 'SIGKILL'), 15_000);
    const code = await p.exited;
    clearTimeout(t);
    return code;
  }
  return p.child.exitCode;
}
