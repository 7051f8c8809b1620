/**
 * An off-host-like restic repository server for tests: `rclone serve restic` (Debian's rclone) on a
 * free loopback port with a user and password, storing into a temp folder, stopped by its PID.
 * Reusable by any test: `const srv = await startResticServer(); ... srv.url ... await srv.stop();`.
 * One server holds any number of repositories: `srv.repository('name')` is another one beside the
 * root repository `srv.url`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, tcpOpen } from './mariadb.js';

export interface ResticServer {
  /** The root repository: `rest:http://USER:PASS@127.0.0.1:PORT/`. */
  url: string;
  /** Another repository on the same server: `rest:http://USER:PASS@127.0.0.1:PORT/NAME/`. */
  repository(name: string): string;
  /** Where a repository's files are (`config`, `data/`, `index/`, ...): the root one, or NAME's. */
  dataDir(name?: string): string;
  port: number;
  user: string;
  password: string;
  pid: number;
  /** The temp folder: data/ and rclone.log. */
  dir: string;
  /** Stops rclone by its PID and removes the temp folder. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts `rclone serve restic` (well under a second). Needs Debian's rclone. */
export async function startResticServer(): Promise<ResticServer> {
  const dir = await mkdtemp(join(tmpdir(), 'mi-restic-server-'));
  const data = join(dir, 'data');
  await mkdir(data);
  const user = 'backup';
  const password = randomBytes(18).toString('base64url');
  const log = join(dir, 'rclone.log');
  // A port found free may be taken before rclone binds it: a few tries.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn('rclone', [
      'serve', 'restic', '--addr', `127.0.0.1:${port}`, '--user', user, '--pass', password,
      '--log-file', log, '--config', join(dir, 'rclone.conf'), data,
    ], { stdio: 'ignore' });
    const pid = child.pid;
    if (pid === undefined) throw new Error('MI_ERR_TEST_RESTIC_SERVER: rclone did not start (is rclone installed?)');
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, 'SIGTERM');
        const t = setTimeout(() => {
          if (child.exitCode === null) process.kill(pid, 'SIGKILL');
        }, 10_000);
        await exited(child);
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + 15_000;
    let up = false;
    while (!up && child.exitCode === null && Date.now() < deadline) {
      up = await tcpOpen(port);
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    if (up) {
      const base = `rest:http://${user}:${password}@127.0.0.1:${port}/`;
      return {
        url: base,
        repository: (name) => {
          if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) throw new Error(`repository name ${name} must match [a-z0-9][a-z0-9_-]*`);
          return `${base}${name}/`;
        },
        dataDir: (name) => (name ? join(data, name) : data),
        port,
        user,
        password,
        pid,
        dir,
        stop,
      };
    }
    const text = await readFile(log, 'utf8').catch(() => '');
    if (child.exitCode === null) process.kill(pid, 'SIGKILL');
    await exited(child);
    if (attempt >= 3 || !/address already in use/.test(text)) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`MI_ERR_TEST_RESTIC_SERVER: rclone serve restic did not listen on 127.0.0.1:${port}\n${text.slice(-2000)}`);
    }
  }
}
