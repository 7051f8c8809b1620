/**
 * A throwaway Redis for tests and benchmarks: Debian's redis-server on a free loopback port with the
 * users the host gets (redisUsersTemplate: no default user, the app's user limited as in production),
 * nothing persisted, torn down by PID. `restart()` stops it and starts it again on the same port, as
 * `systemctl restart redis-server` does on a host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusAddress } from '../../app/src/config.js';
import { REDIS_PASSWORD_KEY, redisUsersTemplate } from '../../src/core/redis.js';
import { REDIS_USER, type HostModel } from '../../src/core/host-model.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import { freePort } from './mariadb.js';

export interface ThrowawayRedis {
  port: number;
  address: BusAddress;
  /** A user with every right, for tests that play the operator (CLIENT KILL, ACL SETUSER). */
  admin: BusAddress;
  /** The MESSENGER_REDIS* variables of the chat server. */
  env(): Record<string, string>;
  /** SIGTERM, wait, start again on the same port (subscribers are cut off; nothing is kept). */
  restart(downMs?: number): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that hangs with its connections open (swapping, a partition). */
  freeze(): void;
  thaw(): void;
  /** Stops it (SIGKILL when `hard`); `start()` brings it back. */
  kill(hard?: boolean): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts a throwaway Redis (well under a second). Needs the Debian package redis-server. */
export async function startRedis(kind: HostModel['app']['kind'] = 'bundled'): Promise<ThrowawayRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'mi-redis-'));
  const password = randomBytes(24).toString('hex');
  const port = await freePort();
  const adminPassword = randomBytes(24).toString('hex');
  const users = redisUsersTemplate({ app: { kind } as HostModel['app'], os: OS_PROFILES.debian12 }, 'test').content.replaceAll(`@${REDIS_PASSWORD_KEY}@`, password);
  await writeFile(join(dir, 'users.conf'), `${users}user test-admin on >${adminPassword} ~* &* +@all\n`, { mode: 0o600 });
  await writeFile(
    join(dir, 'redis.conf'),
    [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'save ""', 'appendonly no', 'logfile ""', 'databases 1',
      'maxmemory 64mb', 'maxmemory-policy noeviction', `include ${join(dir, 'users.conf')}`, ''].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    const c = spawn('redis-server', [join(dir, 'redis.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`redis-server did not start within 10 s: ${out}`)), 10_000);
      c.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(t);
          resolve();
        }
      });
      c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      c.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`redis-server exited with ${code}: ${out}`));
      });
    });
  };
  const kill = async (hard = false) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited(c);
  };
  await start();
  const address: BusAddress = { host: '127.0.0.1', port, username: REDIS_USER, password };
  return {
    port,
    address,
    admin: { host: '127.0.0.1', port, username: 'test-admin', password: adminPassword },
    env: () => ({ MESSENGER_REDIS: `127.0.0.1:${port}`, MESSENGER_REDIS_USER: REDIS_USER, MESSENGER_REDIS_PASSWORD: password }),
    async restart(downMs = 0) {
      await kill();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
    kill,
    start,
    async stop() {
      child?.kill('SIGCONT');
      await kill(true);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
