import type { DesiredState } from '../desired-state.js';
import { factValue, packagesFact, unitFact, type FactValues } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import { HARDEN_PATHS, hardenFiles, hardenPackages, type HardenHost } from '../harden.js';
import { ensureRunning, mergePlans, noChange, type Step, type StepPlan } from '../step.js';
import { parseSshPorts, sshPortsFact } from './kernel.js';
import { installPackages } from './packages.js';

/**
 * The host hardened (stack.harden): its packages first (their own apt transaction, while the other
 * chains of the phase set up the database, nginx and the release), then each concern goes live on its
 * own, validated, so a refused sshd change never holds back the journal cap. sshd goes last and only through `sshd -t` plus a check
 * that the deploy user's next key login still works; sshd reloads (the session running `up` stays).
 */
const fail2banUnit = unitFact('fail2ban');

function hardenHost(desired: DesiredState, facts?: FactValues): HardenHost {
  return {
    user: desired.host.sshUser ?? 'root',
    container: desired.host.container,
    sshPorts: facts ? parseSshPorts(factValue(facts, sshPortsFact).stdout).sshd : [],
    web: desired.model.placement.roles.has('edge') || desired.model.placement.roles.has('app'),
  };
}

/** Groups that go live together, in order: the riskiest (sshd) last, once everything else is in place. */
const GROUPS: ReadonlyArray<{ paths: readonly string[]; label: string }> = [
  { paths: [HARDEN_PATHS.journald], label: 'cap the journal' },
  { paths: [HARDEN_PATHS.needrestart, HARDEN_PATHS.modprobe, HARDEN_PATHS.limits], label: 'needrestart in list mode, unused kernel modules, no core dumps' },
  { paths: [HARDEN_PATHS.upgrades], label: 'security updates' },
  { paths: [HARDEN_PATHS.fail2ban], label: 'fail2ban jails' },
  { paths: [HARDEN_PATHS.sshd], label: 'harden sshd (sshd -t, then reload)' },
];

export const hardenStep: Step = {
  id: 'harden',
  title: 'host hardening (sshd, fail2ban, security updates, journal, needrestart)',
  facts: (desired) => [packagesFact(hardenPackages(desired.stack)), sshPortsFact, fail2banUnit, ...fileFacts(hardenFiles(desired.stack, hardenHost(desired)))],
  plan(facts, desired) {
    const packages = installPackages(facts, hardenPackages(desired.stack));
    const files = hardenFiles(desired.stack, hardenHost(desired, facts));
    const plans = new Map<string, StepPlan>();
    for (const group of GROUPS) {
      const members = files.filter((f) => group.paths.includes(f.path));
      if (members.length > 0) plans.set(group.paths[0]!, planFileGroup(members, facts, group.label));
    }
    const jail = plans.get(HARDEN_PATHS.fail2ban);
    // An unchanged jail file restarts nothing: fail2ban must still be running (Debian starts it at
    // install, where its stock sshd jail can fail on a host without /var/log/auth.log).
    const running = jail && jail.commands.length === 0 ? ensureRunning('fail2ban', factValue(facts, fail2banUnit)) : noChange();
    return mergePlans(packages, ...plans.values(), running);
  },
};
