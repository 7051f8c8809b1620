/**
 * A throwaway MariaDB for tests and benchmarks: a fresh datadir in a temp directory, `mariadbd` on a free
 * loopback port and a private socket, real authentication (a user with a random password), torn down by
 * PID. Reusable by any test: `const db = await startMariaDb(); ... await db.stop();`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';

const run = promisify(execFile);

export interface ThrowawayMariaDb {
  host: '127.0.0.1';
  port: number;
  socketPath: string;
  /** Application user with a password, ALL on `database` only. */
  user: string;
  password: string;
  database: string;
  pid: number;
  dir: string;
  /** The MESSENGER_DB_* variables for the chat server (TCP unless `viaSocket`). */
  env(viaSocket?: boolean): Record<string, string>;
  /** Creates another database the same user may use (for isolated tests) and returns its name. */
  createDatabase(name: string): Promise<string>;
  /** Stops mariadbd by its PID and removes the datadir. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:PORT. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts a throwaway MariaDB (about 3-5 s). Needs the Debian packages mariadb-server (mariadbd, mariadb-install-db). */
export async function startMariaDb(opts: { database?: string } = {}): Promise<ThrowawayMariaDb> {
  const dir = await mkdtemp(join(tmpdir(), 'mi-mariadb-'));
  const datadir = join(dir, 'data');
  const socketPath = join(dir, 'mysqld.sock');
  const asRoot = process.getuid?.() === 0;
  const userArgs = asRoot ? ['--user=root'] : [];
  await run('mariadb-install-db', [
    '--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db',
    '--skip-name-resolve', ...userArgs,
  ], { timeout: 120_000 });
  const port = await freePort();
  const child = spawn('mariadbd', [
    '--no-defaults', `--datadir=${datadir}`, `--socket=${socketPath}`, `--port=${port}`, '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'mariadbd.pid')}`, `--log-error=${join(dir, 'error.log')}`, '--skip-name-resolve',
    '--innodb-buffer-pool-size=64M', '--max-connections=500', '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci', ...userArgs,
  ], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error('MI_ERR_TEST_MARIADB: mariadbd did not start');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      const t = setTimeout(() => {
        if (child.exitCode === null) process.kill(pid, 'SIGKILL');
      }, 30_000);
      await exited(child);
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };

  // Wait for the server to accept root over its socket.
  let root: mysql.Connection | undefined;
  const deadline = Date.now() + 60_000;
  while (!root) {
    if (child.exitCode !== null) {
      const errLog = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
      await stop();
      throw new Error(`MI_ERR_TEST_MARIADB: mariadbd exited with ${child.exitCode}\n${errLog.slice(-2000)}`);
    }
    try {
      root = await mysql.createConnection({ socketPath, user: 'root', password: '' });
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`MI_ERR_TEST_MARIADB: mariadbd not ready within 60 s: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const user = 'chat';
  const password = randomBytes(18).toString('base64url');
  const database = opts.database ?? 'messenger';
  for (const host of ['127.0.0.1', 'localhost']) {
    await root.query(`CREATE USER '${user}'@'${host}' IDENTIFIED BY ?`, [password]);
  }
  const createDatabase = async (name: string) => {
    if (!/^[a-z0-9_]{1,64}$/.test(name)) throw new Error(`database name ${name} must match [a-z0-9_]{1,64}`);
    const c = await mysql.createConnection({ socketPath, user: 'root', password: '' });
    try {
      await c.query(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      for (const host of ['127.0.0.1', 'localhost']) await c.query(`GRANT ALL ON \`${name}\`.* TO '${user}'@'${host}'`);
    } finally {
      await c.end();
    }
    return name;
  };
  await root.end();
  await createDatabase(database);

  return {
    host: '127.0.0.1',
    port,
    socketPath,
    user,
    password,
    database,
    pid,
    dir,
    env(viaSocket = false) {
      return {
        ...(viaSocket ? { MESSENGER_DB_SOCKET: socketPath } : {}),
        MESSENGER_DB_HOST: '127.0.0.1',
        MESSENGER_DB_PORT: String(port),
        MESSENGER_DB_USER: user,
        MESSENGER_DB_PASSWORD: password,
        MESSENGER_DB_NAME: database,
      };
    },
    createDatabase,
    stop,
  };
}
