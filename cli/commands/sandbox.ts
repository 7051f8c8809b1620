/**
 * `messenger-infra sandbox up|down|status`: wiring only; the sandbox lives in src/sandbox.
 */
import type { Command } from 'commander';
import {
  isSandboxError,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  SANDBOX_OSES,
  sshArgv,
  type SandboxInfo,
  type SandboxOs,
} from '../../src/sandbox/index.js';

const EXIT_FAILURE = 1;
const EXIT_BAD_INPUT = 2;

function fail(err: unknown, json: boolean): void {
  const code = isSandboxError(err) ? err.code : 'MI_ERR_SANDBOX';
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  process.stderr.write(`error ${code}: ${message}\n`);
  process.exitCode = isSandboxError(err) && err.code === 'MI_ERR_SANDBOX_BAD_OS' ? EXIT_BAD_INPUT : EXIT_FAILURE;
}

/** The lines a human needs to reach the sandbox and trust its CA. */
export function describeSandbox(info: SandboxInfo, running?: boolean): string {
  const ssh = sshArgv(info.sshKeyPath, info.knownHostsPath, []).slice(0, -1);
  const lines = [
    `sandbox ${info.name} (${info.os})${running === undefined ? '' : running ? ': running' : ': NOT running'}`,
    `  SSH target:   ${info.sshUser}@${info.sshHost}:${info.sshPort}`,
    `  SSH key:      ${info.sshKeyPath}`,
    `  known_hosts:  ${info.knownHostsPath}`,
    `  connect:      ${ssh.join(' ')}`,
    `  ACME server:  ${info.acmeDirectory}`,
    `  ACME CA:      ${info.acmeCaBundlePath}  (certbot on the guest must trust it: --acme-ca)`,
    `  CA root to trust: ${info.verifyCaPath}  (issued certificates chain to it: --verify-ca)`,
    `  domain/email: ${info.domain} / ${info.email}`,
    `  state:        ${info.stateDir}  (nspawn pid ${info.nspawnPid}, pebble pids ${info.pebblePids.join(', ')})`,
  ];
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('a local, disposable Debian VPS (systemd-nspawn) with a local ACME CA (Pebble)');

  sandbox
    .command('up')
    .description('start the sandbox VPS and Pebble (or return the running one)')
    .option('--os <os>', `guest OS: ${SANDBOX_OSES.join(' | ')}`, 'debian13')
    .option('--json', 'print the sandbox info as JSON')
    .action(async (opts: { os: string; json?: boolean }) => {
      const json = Boolean(opts.json);
      if (!(SANDBOX_OSES as readonly string[]).includes(opts.os)) {
        process.stderr.write(`error: --os: unknown sandbox OS "${opts.os}"; use one of ${SANDBOX_OSES.join(', ')}\n`);
        process.exitCode = EXIT_BAD_INPUT;
        return;
      }
      try {
        const info = await sandboxUp({ os: opts.os as SandboxOs, onProgress: (l) => process.stderr.write(`${l}\n`) });
        process.stdout.write(json ? `${JSON.stringify(info, null, 2)}\n` : describeSandbox(info));
      } catch (err) {
        fail(err, json);
      }
    });

  sandbox
    .command('down')
    .description('power the sandbox off, stop Pebble and remove the machine copy')
    .action(async () => {
      try {
        const { stopped } = await sandboxDown({ onProgress: (l) => process.stderr.write(`${l}\n`) });
        process.stdout.write(stopped ? 'sandbox stopped\n' : 'no sandbox was running\n');
      } catch (err) {
        fail(err, false);
      }
    });

  sandbox
    .command('status')
    .description('show the sandbox and whether it answers')
    .option('--json', 'print the status as JSON (null when there is no sandbox)')
    .action(async (opts: { json?: boolean }) => {
      const json = Boolean(opts.json);
      try {
        const status = await sandboxStatus();
        if (json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        else if (!status) process.stdout.write('no sandbox (start one with `messenger-infra sandbox up`)\n');
        else process.stdout.write(describeSandbox(status, status.running));
      } catch (err) {
        fail(err, json);
      }
    });
}
