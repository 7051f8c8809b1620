import type { StackConfig } from '../config/schema.js';
import { factValue, queryFact, type FactValues } from './facts.js';
import type { TierName } from './tiers.js';
import { MANAGED_MARKER, type RenderedFile } from './render.js';
import { renderTemplate } from './templates.js';

/**
 * The host hardened beyond its firewall (stack.harden): sshd for keys only, fail2ban, Debian's
 * security updates, a capped journal, needrestart in list mode. Pure: what is rendered and what the
 * `harden` fact says; the step (steps/harden.ts) plans it.
 */
export const HARDEN_PATHS = {
  /** Read before cloud images' 50-cloud-init.conf: sshd takes the first value it finds. */
  sshd: '/etc/ssh/sshd_config.d/10-messenger-infra.conf',
  fail2ban: '/etc/fail2ban/jail.d/messenger-infra.local',
  /** After Debian's 50unattended-upgrades, so these settings win. */
  upgrades: '/etc/apt/apt.conf.d/52messenger-infra-upgrades',
  journald: '/etc/systemd/journald.conf.d/60-messenger-infra.conf',
  needrestart: '/etc/needrestart/conf.d/60-messenger-infra.conf',
  modprobe: '/etc/modprobe.d/60-messenger-infra.conf',
  limits: '/etc/security/limits.d/60-messenger-infra.conf',
} as const;

/** python3-systemd: fail2ban's systemd backend (sshd logs only to the journal on a minimal image). */
export function hardenPackages(stack: StackConfig): string[] {
  const h = stack.harden;
  return [...(h.fail2ban ? ['fail2ban', 'python3-systemd'] : []), ...(h.securityUpdates ? ['unattended-upgrades'] : []), 'needrestart'];
}

/** About 1% of the tier's disk (20, 40, 80 GB). */
const JOURNAL_MB: Record<TierName, number> = { mvp: 200, growth: 400, scale: 800 };

export function journalMaxMb(stack: StackConfig): number {
  return stack.harden.journalMaxMb ?? JOURNAL_MB[stack.tier];
}

/** What the rendered files depend on beyond the stack: who deploys, where, on which SSH ports. */
export interface HardenHost {
  /** The SSH user this toolkit logs in as. */
  user: string;
  /** systemd-detect-virt --container, or null on a VM. */
  container: string | null;
  sshPorts: readonly number[];
  /** nginx runs here (the edge): its request-limit jail applies. Absent: it does (one server). */
  web?: boolean;
}

const ROOT = { owner: 'root', group: 'root' } as const;

export function hardenFiles(stack: StackConfig, host: HardenHost): RenderedFile[] {
  const h = stack.harden;
  const files: RenderedFile[] = [];
  if (h.ssh) {
    const root = host.user === 'root';
    files.push({
      path: HARDEN_PATHS.sshd,
      content: renderTemplate('harden/sshd.conf.hbs', {
        managed: MANAGED_MARKER,
        user: host.user,
        permitRootLogin: root ? 'prohibit-password' : 'no',
        permitRootLoginWhy: root ? 'root deploys: by key only' : `${host.user} deploys (sudo): root does not log in at all`,
      }),
      mode: 0o644,
      ...ROOT,
      validate: `sshd:${host.user}`,
      notify: [{ unit: 'ssh.service', action: 'reload' }],
    });
  }
  if (h.fail2ban) {
    // Inside a container the firewall is the host machine's: bans are only logged there.
    const banaction = host.container ? 'dummy' : 'ufw';
    files.push({
      path: HARDEN_PATHS.fail2ban,
      content: renderTemplate('harden/fail2ban.local.hbs', {
        managed: MANAGED_MARKER,
        banaction,
        banactionWhy: host.container
          ? `inside a container (${host.container}) the firewall is the host machine's: bans are logged only (/var/run/fail2ban/fail2ban.dummy)`
          : 'bans go into the firewall this host already runs',
        sshPorts: (host.sshPorts.length > 0 ? host.sshPorts : [22]).join(','),
        web: host.web !== false,
      }),
      mode: 0o644,
      ...ROOT,
      validate: 'fail2ban',
      notify: [{ unit: 'fail2ban.service', action: 'restart' }],
    });
  }
  const reboot = h.reboot === 'never' ? undefined : h.reboot;
  files.push({
    path: HARDEN_PATHS.upgrades,
    content: renderTemplate('harden/unattended-upgrades.conf.hbs', {
      // apt's configuration syntax comments with //.
      managed: MANAGED_MARKER.replace(/^#/, '//'),
      periodic: h.securityUpdates ? '1' : '0',
      automaticReboot: reboot ? 'true' : 'false',
      rebootTime: reboot ?? false,
      rebootWhy: reboot
        ? `an update that needs a reboot reboots at ${reboot} (harden.reboot)`
        : 'never rebooted by an update: `plan` says when one is needed (harden.reboot sets a time)',
    }),
    mode: 0o644,
    ...ROOT,
    validate: 'apt',
    notify: [],
  });
  const maxUseMb = journalMaxMb(stack);
  files.push({
    path: HARDEN_PATHS.journald,
    content: renderTemplate('harden/journald.conf.hbs', { managed: MANAGED_MARKER, maxUseMb, keepFreeMb: Math.max(512, maxUseMb * 2) }),
    mode: 0o644,
    ...ROOT,
    notify: [{ unit: 'systemd-journald.service', action: 'restart' }],
  });
  files.push({
    path: HARDEN_PATHS.needrestart,
    content: renderTemplate('harden/needrestart.conf.hbs', { managed: MANAGED_MARKER }),
    mode: 0o644,
    ...ROOT,
    validate: `perl:${HARDEN_PATHS.needrestart}`,
    notify: [],
  });
  for (const [path, template] of [
    [HARDEN_PATHS.modprobe, 'harden/modprobe.conf.hbs'],
    [HARDEN_PATHS.limits, 'harden/limits.conf.hbs'],
  ] as const) {
    files.push({ path, content: renderTemplate(template, { managed: MANAGED_MARKER }), mode: 0o644, ...ROOT, notify: [] });
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// What the host says (the `harden` fact, remote/facts.sh).

export interface HardenState {
  /** sshd -T for the deploy user's next login: the effective values, whatever file set them. */
  sshd: Record<string, string>;
  /** fail2ban's running jails, with the addresses each bans now. */
  jails: Array<{ name: string; banned: number }>;
  /** Whether fail2ban answered at all (installed and running). */
  fail2ban: boolean;
  securityUpdates: boolean;
  /** /run/reboot-required: an update waits for a reboot (with the packages that asked). */
  rebootRequired: string[] | null;
  /** Services needrestart lists as running outdated libraries. */
  outdated: string[];
  /** systemd-analyze security's overall exposure of the app's unit (0 safest, 10 least). */
  exposure: number | null;
}

/** The `harden` fact for this deploy user and the app's first unit. */
export function hardenStateFact(user: string, unit: string) {
  return queryFact('harden-state', ['harden', user, unit]);
}

export function hardenStateOf(facts: FactValues, user: string, unit: string): HardenState {
  return parseHardenState(factValue(facts, hardenStateFact(user, unit)).stdout);
}

const SSHD_KEYS = ['passwordauthentication', 'kbdinteractiveauthentication', 'permitrootlogin', 'pubkeyauthentication', 'maxauthtries', 'logingracetime', 'x11forwarding', 'allowtcpforwarding'];

export function parseHardenState(stdout: string): HardenState {
  const state: HardenState = { sshd: {}, jails: [], fail2ban: false, securityUpdates: false, rebootRequired: null, outdated: [], exposure: null };
  for (const line of stdout.split('\n')) {
    const [kind = '', ...rest] = line.trim().split(/\s+/);
    switch (kind) {
      case 'sshd':
        if (rest[0] && SSHD_KEYS.includes(rest[0])) state.sshd[rest[0]] = rest.slice(1).join(' ');
        break;
      case 'jail':
        if (rest[0]) state.jails.push({ name: rest[0], banned: Number(rest[1] ?? 0) || 0 });
        break;
      case 'fail2ban':
        state.fail2ban = rest[0] === 'running';
        break;
      case 'updates':
        state.securityUpdates = rest[0] === '1';
        break;
      case 'reboot-required':
        state.rebootRequired = rest;
        break;
      case 'outdated':
        if (rest[0]) state.outdated.push(rest[0]);
        break;
      case 'exposure': {
        const n = Number(rest[0]);
        state.exposure = Number.isFinite(n) ? n : null;
        break;
      }
    }
  }
  return state;
}

/** The `harden` lines of `plan` (and `status`): what is in effect, and what waits for someone. */
export function describeHardenState(state: HardenState): { lines: string[]; warnings: string[] } {
  const s = state.sshd;
  const lines: string[] = [];
  const warnings: string[] = [];
  if (Object.keys(s).length > 0) {
    lines.push(
      `ssh: password ${s.passwordauthentication === 'no' && s.kbdinteractiveauthentication === 'no' ? 'off' : 'ON'}, root login ${s.permitrootlogin ?? '?'}, MaxAuthTries ${s.maxauthtries ?? '?'}, LoginGraceTime ${s.logingracetime ?? '?'} s`,
    );
    if (s.passwordauthentication !== 'no') warnings.push('sshd accepts passwords: another sshd_config.d file read before ours, or harden.ssh is off and ours was never written');
  }
  lines.push(state.fail2ban ? `fail2ban: ${state.jails.map((j) => `${j.name} (${j.banned} banned)`).join(', ') || 'no jails'}` : 'fail2ban: not running');
  lines.push(`security updates: ${state.securityUpdates ? 'daily (unattended-upgrades)' : 'off'}`);
  if (state.exposure !== null) lines.push(`app unit exposure (systemd-analyze security): ${state.exposure.toFixed(1)} of 10`);
  if (state.rebootRequired) warnings.push(`a reboot is needed for ${state.rebootRequired.join(', ') || 'an update'} (harden.reboot is never: reboot when it suits)`);
  if (state.outdated.length > 0) warnings.push(`services still run outdated libraries: ${state.outdated.join(', ')} (messenger-infra restart for the chat; systemctl restart for the others)`);
  return { lines, warnings };
}
