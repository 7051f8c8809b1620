/**
 * `messenger-infra sandbox up|down|status`: wiring only; the sandbox lives in src/sandbox.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Emit } from '../../src/executor/events.js';
import { MAX_HOSTS, sandboxDown, sandboxStatus, sandboxUp, SANDBOX_OSES, sshArgv, type SandboxInfo, type SandboxOs } from '../../src/sandbox/index.js';
import { runAction } from '../run-action.js';
import { withProgressOnStderr } from '../step-output.js';

/** Progress lines of the sandbox as info events of the step renderer (on stderr). */
const asInfo = (emit: Emit) => (message: string) => emit({ type: 'info', message });

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
  if (info.privateNetwork) {
    // Several guests: each on its own SSH port here, with an address on the private network.
    lines.push(`  private net:  ${info.privateNetwork}  (inside the sandbox's network namespaces only; 80/443 here reach the edge)`);
    info.hosts.forEach((h, i) =>
      lines.push(`  host ${i + 1}:       ${h.name}  ${h.privateAddress}  SSH ${info.sshUser}@${h.sshHost}:${h.sshPort}${i === 0 ? '  (edge)' : ''}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

function parseHosts(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_HOSTS) throw new InvalidArgumentError(`use a whole number from 1 to ${MAX_HOSTS}.`);
  return n;
}

export function register(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('a local, disposable Debian VPS (systemd-nspawn) with a local ACME CA (Pebble)');

  sandbox
    .command('up')
    .description('start the sandbox VPS and Pebble (or return the running one)')
    .addOption(new Option('--os <os>', 'guest OS').choices(SANDBOX_OSES).default('debian13'))
    .addOption(
      new Option('--hosts <n>', `guests on a private network, each in its own network namespace (1 to ${MAX_HOSTS}; 1 shares this machine's network)`)
        .argParser(parseHosts)
        .default(1),
    )
    .option('--json', 'print the sandbox info as JSON')
    .action(
      runAction(async (opts: { os: SandboxOs; hosts: number; json?: boolean }) => {
        const info = await withProgressOnStderr((emit) => sandboxUp({ os: opts.os, hosts: opts.hosts, onProgress: asInfo(emit) }));
        process.stdout.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : describeSandbox(info));
      }),
    );

  sandbox
    .command('down')
    .description('power the sandbox off, stop Pebble and remove the machine copy')
    .action(
      runAction(async () => {
        const { stopped } = await withProgressOnStderr((emit) => sandboxDown({ onProgress: asInfo(emit) }));
        process.stdout.write(stopped ? 'sandbox stopped\n' : 'no sandbox was running\n');
      }),
    );

  sandbox
    .command('status')
    .description('show the sandbox and whether it answers')
    .option('--json', 'print the status as JSON (null when there is no sandbox)')
    .action(
      runAction(async (opts: { json?: boolean }) => {
        const status = await sandboxStatus();
        if (opts.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        else if (!status) process.stdout.write('no sandbox (start one with `messenger-infra sandbox up`)\n');
        else process.stdout.write(describeSandbox(status, status.running));
      }),
    );
}
