import { MiError } from '../../errors/index.js';
import { cmd, remote } from '../command.js';
import { factValue, queryFact } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import { HOST_PATHS, REDIS_PORT } from '../host-model.js';
import { INTERNAL_SITE_PORT, MARIADB_TCP_PORT } from '../render.js';
import { noChange, skipped, type Step } from '../step.js';
import { SINGLE_HOST, type Placement } from '../topology.js';

/**
 * Kernel-wide settings: swap, sysctl and the firewall act on the whole machine. Inside a container
 * they would act on the container's host, so there they are skipped with the reason (they still
 * show in `plan` as commands on a real VPS).
 */
function containerReason(container: string | null): string | null {
  return container ? `inside a container (${container}): kernel-wide, would change the host machine` : null;
}

const swapFact = queryFact('swap', ['swap']);

export const swapStep: Step = {
  id: 'swap',
  title: 'swap file',
  facts: () => [swapFact],
  plan(facts, desired) {
    const reason = containerReason(desired.host.container);
    if (reason) return skipped(reason);
    // Any active swap (a provider's partition too) is enough; we only add one where there is none.
    if (factValue(facts, swapFact).stdout !== '') return noChange();
    const mb = desired.model.sizing.swapMb;
    return {
      commands: [remote(`create ${mb} MB swap at ${HOST_PATHS.swapFile}`, ['swap-file', HOST_PATHS.swapFile, String(mb)])],
      changes: [`create and enable ${mb} MB swap at ${HOST_PATHS.swapFile}`],
      diffs: [],
    };
  },
};

export const sysctlStep: Step = {
  id: 'sysctl',
  title: 'kernel settings',
  facts: (desired) => fileFacts(desired.files.full.filter((f) => f.kernelWide)),
  plan(facts, desired) {
    const reason = containerReason(desired.host.container);
    if (reason) return skipped(reason);
    // Each file's validator applies it (`sysctl -p`); a refused key restores the files and reloads them all.
    return planFileGroup(desired.files.full.filter((f) => f.kernelWide), facts, 'apply sysctl settings');
  },
};

const ufwFact = queryFact('ufw-status', ['ufw']);
export const sshPortsFact = queryFact('ssh-ports', ['ssh-ports']);

/** `sshd PORT` and `session PORT` lines of the ssh-ports fact. */
export function parseSshPorts(stdout: string): { sshd: number[]; session?: number } {
  const sshd: number[] = [];
  let session: number | undefined;
  for (const line of stdout.split('\n')) {
    const m = /^(sshd|session) (\d{1,5})$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === 'sshd') sshd.push(Number(m[2]));
    else session = Number(m[2]);
  }
  return { sshd: [...new Set(sshd)].sort((a, b) => a - b), ...(session === undefined ? {} : { session }) };
}

export interface FirewallRule {
  /** As `ufw status verbose` prints it: `443/tcp` and `Anywhere`, or `3306/tcp` from an app server's address. */
  port: string;
  from: string;
  argv: string[];
}

/**
 * The rules we want (IPv4 lines of `ufw status verbose`): the ports sshd itself listens on (not the
 * one this machine dialled: behind a forwarded port they differ), the web ports on the edge, an app
 * server's site for the edge only, and on a db server that others use, MariaDB and Redis from each
 * app server's private address only.
 */
export function firewallRules(sshPorts: readonly number[], placement: Placement = SINGLE_HOST): FirewallRule[] {
  const open = (port: string): FirewallRule => ({ port, from: 'Anywhere', argv: ['ufw', 'allow', port] });
  const fromApp = (port: number, from: string): FirewallRule => ({
    port: `${port}/tcp`,
    from,
    argv: ['ufw', 'allow', 'from', from, 'to', 'any', 'port', String(port), 'proto', 'tcp'],
  });
  return [
    ...sshPorts.map((p) => open(`${p}/tcp`)),
    ...(placement.roles.has('edge') ? [open('80/tcp'), open('443/tcp')] : []),
    // An app server behind the edge: its site, for the edge only.
    ...(placement.edgeAddress ? [fromApp(INTERNAL_SITE_PORT, placement.edgeAddress)] : []),
    ...placement.dbClients.flatMap((c) => [fromApp(MARIADB_TCP_PORT, c), fromApp(REDIS_PORT, c)]),
  ];
}

export const firewallStep: Step = {
  id: 'firewall',
  title: 'firewall (ufw: SSH; 80 and 443 on the edge; the rest from the private network only)',
  facts: () => [ufwFact, sshPortsFact],
  plan(facts, desired) {
    const reason = containerReason(desired.host.container);
    if (reason) return skipped(reason);
    const status = factValue(facts, ufwFact).stdout;
    const ssh = parseSshPorts(factValue(facts, sshPortsFact).stdout);
    // sshd's own ports; the dialled one only when sshd could not say (then it is the best we know).
    const sshPorts = ssh.sshd.length > 0 ? ssh.sshd : [desired.host.sshPort];
    const rules = firewallRules(sshPorts, desired.model.placement);
    const active = /^Status: active$/m.test(status);
    const denyIn = /Default: deny \(incoming\)/.test(status);
    const escape = (text: string) => text.replace(/[./]/g, '\\$&');
    const missing = rules.filter((r) => !new RegExp(`^${escape(r.port)}\\s+ALLOW IN\\s+${escape(r.from)}\\s*$`, 'm').test(status));
    if (active && denyIn && missing.length === 0) return noChange();
    if (ssh.session !== undefined && !sshPorts.includes(ssh.session)) {
      // Enabling would cut the very connection this run uses, and every later one.
      throw new MiError(
        'MI_ERR_FIREWALL_LOCKOUT',
        `this SSH session reaches the host on port ${ssh.session}, which sshd does not list (it listens on ${sshPorts.join(', ')}); the firewall would cut it, so it was left as it is: check sshd's Port settings`,
      );
    }
    return {
      commands: [
        cmd('ufw default deny incoming', 'ufw', 'default', 'deny', 'incoming'),
        cmd('ufw default allow outgoing', 'ufw', 'default', 'allow', 'outgoing'),
        // SSH first, so enabling the firewall can never cut the session we are using.
        ...rules.map((r) => cmd(r.argv.join(' '), ...r.argv)),
        cmd('ufw enable', 'ufw', '--force', 'enable'),
      ],
      changes: [...(active ? [] : ['enable ufw']), ...(denyIn ? [] : ['deny incoming by default']), ...missing.map((r) => `allow ${r.port}${r.from === 'Anywhere' ? '' : ` from ${r.from}`}`)],
      diffs: [],
    };
  },
};
