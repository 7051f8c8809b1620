import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import { REMOTE_PROGRAM, type Command } from '../core/command.js';
import { MiError } from '../errors/index.js';
import type { Host, RunResult, Started } from './host.js';
import { keysFor, knownHostsLine } from './known-hosts.js';
import { toShell } from './quote.js';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Private key file; without it (and without `privateKey`), the SSH agent ($SSH_AUTH_SOCK). */
  keyPath?: string;
  /** Private key text, for callers that hold it in memory (a Pulumi secret). */
  privateKey?: string;
  knownHostsPath: string;
  /** known_hosts text, used instead of reading knownHostsPath. */
  knownHostsText?: string;
  /** Trust a host that known_hosts does not list yet (like StrictHostKeyChecking=accept-new). */
  acceptNewHostKey?: boolean;
  connectTimeoutMs?: number;
}

/**
 * A Host over one SSH connection (node-ssh). This is the single place where argv is quoted into a
 * shell string; a non-root user runs everything through `sudo -n`.
 */
/** How long a timed-out remote program has for its rollback before coreutils `timeout` kills it. */
const KILL_AFTER_S = 120;

/**
 * A remote exit as a shell reports it: killed by signal N is 128+N; neither a status nor a signal
 * means the channel closed under the command (the connection dropped).
 */
function exitOf(r: { code: number | null; signal: string | null; stdout: string; stderr: string }): RunResult {
  if (r.code !== null) return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  // ssh2 names it SIGKILL; the protocol says KILL.
  const signo = r.signal ? (constants.signals as Record<string, number>)[r.signal.startsWith('SIG') ? r.signal : `SIG${r.signal}`] : undefined;
  if (signo !== undefined) return { code: 128 + signo, stdout: r.stdout, stderr: r.stderr };
  return { code: 255, stdout: r.stdout, stderr: r.stderr, dropped: true };
}

/** The key type named inside an SSH wire-format public key (e.g. ssh-ed25519). */
function keyType(key: Buffer): string {
  return key.subarray(4, 4 + key.readUInt32BE(0)).toString();
}

export class SshHost implements Host {
  readonly label: string;
  /**
   * The known_hosts line of the key this host presented (matched or accepted as new): the caller
   * that keeps no known_hosts file (the Pulumi resource) records it and pins it on later runs.
   */
  hostKey = '';
  /** Where the remote programs were installed on this host (see remote-programs.ts). */
  private programsDir: string | null = null;
  private constructor(
    private readonly ssh: NodeSSH,
    private readonly target: SshTarget,
  ) {
    this.label = `${target.user}@${target.host}:${target.port}`;
  }

  static async connect(target: SshTarget): Promise<SshHost> {
    const label = `${target.user}@${target.host}:${target.port}`;
    let knownHosts = target.knownHostsText ?? '';
    try {
      if (target.knownHostsText === undefined) knownHosts = readFileSync(target.knownHostsPath, 'utf8');
    } catch {
      if (!target.acceptNewHostKey) {
        throw new MiError('MI_ERR_SSH_KNOWN_HOSTS', `known_hosts file ${target.knownHostsPath} cannot be read; pass --known-hosts FILE`, { host: label });
      }
    }
    const { keys, revoked } = keysFor(knownHosts, target.host, target.port);
    let hostKeyProblem: MiError | null = null;
    let accepted: string | null = null;
    let presented = '';
    const ssh = new NodeSSH();
    try {
      await ssh.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        ...(target.privateKey !== undefined
          ? { privateKey: target.privateKey }
          : target.keyPath
            ? { privateKey: readFileSync(target.keyPath, 'utf8') }
            : { agent: process.env.SSH_AUTH_SOCK }),
        readyTimeout: target.connectTimeoutMs ?? 10_000,
        // A silently dead link (NAT timeout, a server powered off) ends the connection within a minute
        // instead of leaving `logs -f` or a step waiting forever.
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
        hostVerifier: (key: Buffer) => {
          const offered = key.toString('base64');
          presented = knownHostsLine(target.host, target.port, keyType(key), offered);
          if (revoked.includes(offered)) {
            hostKeyProblem = new MiError('MI_ERR_SSH_HOSTKEY_REVOKED', `host key of ${label} is marked @revoked in ${target.knownHostsPath}`, { host: label });
            return false;
          }
          if (keys.some((k) => k.key === offered)) return true;
          if (keys.length === 0 && target.acceptNewHostKey) {
            accepted = presented;
            return true;
          }
          const type = keyType(key);
          hostKeyProblem =
            keys.length === 0
              ? new MiError(
                  'MI_ERR_SSH_HOSTKEY_UNKNOWN',
                  `host key of ${label} is not in ${target.knownHostsPath}; check its fingerprint and add: ${knownHostsLine(target.host, target.port, type, offered)}`,
                  { host: label },
                )
              : new MiError('MI_ERR_SSH_HOSTKEY_MISMATCH', `host key of ${label} does not match ${target.knownHostsPath}: possible man-in-the-middle, or the server was rebuilt`, { host: label });
          return false;
        },
      });
    } catch (err) {
      if (hostKeyProblem) throw hostKeyProblem;
      const reason = (err as Error).message;
      const auth = /authentication/i.test(reason);
      throw new MiError(
        auth ? 'MI_ERR_SSH_AUTH' : 'MI_ERR_SSH_CONNECT',
        auth ? `SSH login to ${label} refused (${reason}); check --ssh-user and --ssh-key` : `cannot connect to ${label}: ${reason}`,
        { host: label },
      );
    }
    // Like ssh's accept-new: trusted once, then recorded, so every later run checks it.
    if (accepted && target.knownHostsText === undefined) {
      mkdirSync(dirname(target.knownHostsPath), { recursive: true, mode: 0o700 });
      appendFileSync(target.knownHostsPath, `${accepted}\n`, { mode: 0o600 });
    }
    const host = new SshHost(ssh, target);
    host.hostKey = presented;
    return host;
  }

  usePrograms(dir: string): void {
    this.programsDir = dir;
  }

  /** The command line for argv: remote programs resolved, root through `sudo -n` for other users. */
  private line(argv: readonly string[]): string {
    const resolved = argv.map((arg) => {
      if (arg !== REMOTE_PROGRAM) return arg;
      if (!this.programsDir) throw new MiError('MI_ERR_REMOTE_PROGRAMS', `the remote programs are not installed on ${this.label} yet`, { host: this.label });
      return `${this.programsDir}/${REMOTE_PROGRAM}`;
    });
    return (this.target.user === 'root' ? '' : 'sudo -n ') + toShell(resolved);
  }

  async run(command: Command, options: { timeoutMs?: number } = {}): Promise<RunResult> {
    // The remote side gets the bound too (coreutils timeout), so a timed-out apt or certbot does not
    // keep running on the host and hold its locks.
    // TERM at the bound lets a remote program roll back; KILL only if that rollback (restarts, reloads)
    // has not finished after KILL_AFTER_S.
    const bounded = options.timeoutMs ? ['timeout', `--kill-after=${KILL_AFTER_S}`, `${Math.ceil(options.timeoutMs / 1000)}`, ...command.argv] : command.argv;
    const line = this.line(bounded);
    const stdin = command.stdin === undefined ? undefined : Readable.from([Buffer.from(command.stdin)]);
    let timer: NodeJS.Timeout | undefined;
    const exec = this.ssh.execCommand(line, { ...(stdin ? { stdin } : {}), noTrim: true });
    const timeout = new Promise<never>((_, reject) => {
      if (options.timeoutMs) {
        timer = setTimeout(
          () => reject(new MiError('MI_ERR_TIMEOUT', `${command.label} on ${this.label} took longer than ${options.timeoutMs} ms`, { host: this.label })),
          // A little after the remote bound, so the remote exit status usually wins.
          options.timeoutMs + (KILL_AFTER_S + 15) * 1000,
        );
      }
    });
    try {
      return exitOf(await Promise.race([exec, timeout]));
    } catch (err) {
      if (err instanceof MiError) throw err;
      throw new MiError('MI_ERR_SSH_DROPPED', `${command.label} on ${this.label}: the SSH connection ended (${(err as Error).message})`, { host: this.label });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Starts a command that runs until `end()` closes its stdin (or the connection drops); its stdout
   * arrives in chunks as it is printed.
   */
  start(command: Command, onStdout: (chunk: string) => void = () => {}): Started {
    const stdin = new PassThrough();
    const done = this.ssh.execCommand(this.line(command.argv), { stdin, noTrim: true, onStdout: (chunk) => onStdout(chunk.toString()) }).then(exitOf);
    return {
      done,
      end: async () => {
        stdin.end();
        return done;
      },
    };
  }

  /**
   * Runs a command with stdin read from `input` and stdout written to `output`, both with backpressure,
   * so an import or export of any size holds only a buffer in memory; stderr is collected. With `pty`
   * the command gets a terminal (an interactive client): stdin is passed through as typed.
   */
  stream(command: Command, io: { input?: Readable; output?: Writable; pty?: { term: string; rows: number; cols: number }; onChannel?: (channel: StreamChannel) => void }): Promise<RunResult> {
    const client = this.ssh.connection as unknown as SshExecClient | null;
    if (!client) return Promise.reject(new MiError('MI_ERR_SSH_DROPPED', `${command.label} on ${this.label}: not connected`, { host: this.label }));
    return new Promise((resolve, reject) => {
      client.exec(this.line(command.argv), io.pty ? { pty: io.pty } : {}, (err, channel) => {
        if (err) return reject(new MiError('MI_ERR_SSH_DROPPED', `${command.label} on ${this.label}: ${err.message}`, { host: this.label }));
        let stderr = '';
        let exit: { code: number | null; signal: string | null } = { code: null, signal: null };
        channel.stderr.on('data', (d: Buffer) => {
          // Only the tail matters for the one-line error; a chatty program must not grow memory.
          stderr = (stderr + d.toString()).slice(-16_384);
        });
        channel.on('exit', (code: number | null, signal?: string) => (exit = { code: code ?? null, signal: signal ?? null }));
        channel.on('close', () => resolve(exitOf({ ...exit, stdout: '', stderr })));
        if (io.output) channel.pipe(io.output, { end: false });
        else channel.resume();
        if (io.input) {
          io.input.on('error', (e) => channel.destroy(e));
          io.input.pipe(channel);
        } else if (!io.pty) channel.end();
        io.onChannel?.(channel);
      });
    });
  }

  async close(): Promise<void> {
    this.ssh.dispose();
  }
}

/** The part of an ssh2 exec channel `stream` hands out (a terminal resize, an early end). */
export interface StreamChannel extends NodeJS.ReadWriteStream {
  stderr: NodeJS.ReadableStream;
  setWindow?(rows: number, cols: number, height: number, width: number): void;
  destroy(error?: Error): void;
}

/** The slice of ssh2's Client that `stream` uses (node-ssh does not expose streaming exec). */
interface SshExecClient {
  exec(command: string, options: { pty?: { term: string; rows: number; cols: number } }, callback: (err: Error | undefined, channel: StreamChannel & { pipe: Readable['pipe']; resume(): void; end(): void }) => void): void;
}
