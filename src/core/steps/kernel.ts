import { cmd, sh } from '../command.js';
import { commandFact, factValue } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import { HOST_PATHS } from '../host-model.js';
import { noChange, skipped, type Step } from '../step.js';

/**
 * Kernel-wide settings: swap, sysctl and the firewall act on the whole machine. Inside a container
 * they would act on the container's host, so there they are skipped with the reason (they still
 * show in `plan` as commands on a real VPS).
 */
function containerReason(container: string | null): string | null {
  return container ? `inside a container (${container}): kernel-wide, would change the host machine` : null;
}

const swapFact = commandFact('swap', 'swapon --show=NAME --noheadings 2>/dev/null');

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
      commands: [
        sh(
          `create ${mb} MB swap at ${HOST_PATHS.swapFile}`,
          'set -e; f="$1"; if ! swapon --show=NAME --noheadings | grep -qx "$f"; then rm -f "$f"; fallocate -l "$2M" "$f" || dd if=/dev/zero of="$f" bs=1M count="$2"; chmod 600 "$f"; mkswap "$f" >/dev/null; swapon "$f"; fi; grep -q "^$f " /etc/fstab || echo "$f none swap sw 0 0" >> /etc/fstab',
          [HOST_PATHS.swapFile, String(mb)],
        ),
      ],
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
    const files = desired.files.full.filter((f) => f.kernelWide);
    return planFileGroup(files, facts, {
      label: 'apply sysctl settings',
      validate: files.map((f) => `sysctl -q -p ${f.path}`).join(' && ') || 'true',
      // `sysctl -p` applies key by key; after a failure, reload every file so the kernel matches them.
      recover: 'sysctl -q --system',
    });
  },
};

const ufwFact = commandFact('ufw-status', 'ufw status verbose 2>/dev/null');

/** The rules we want, as `ufw status verbose` prints them (IPv4 lines). */
export function firewallRules(sshPort: number): string[] {
  return [`${sshPort}/tcp`, '80/tcp', '443/tcp'];
}

export const firewallStep: Step = {
  id: 'firewall',
  title: 'firewall (ufw: SSH, 80, 443)',
  facts: () => [ufwFact],
  plan(facts, desired) {
    const reason = containerReason(desired.host.container);
    if (reason) return skipped(reason);
    const status = factValue(facts, ufwFact).stdout;
    const rules = firewallRules(desired.host.sshPort);
    const active = /^Status: active$/m.test(status);
    const denyIn = /Default: deny \(incoming\)/.test(status);
    const missing = rules.filter((r) => !new RegExp(`^${r.replace('/', '\\/')}\\s+ALLOW IN\\s+Anywhere\\s*$`, 'm').test(status));
    if (active && denyIn && missing.length === 0) return noChange();
    return {
      commands: [
        cmd('ufw default deny incoming', 'ufw', 'default', 'deny', 'incoming'),
        cmd('ufw default allow outgoing', 'ufw', 'default', 'allow', 'outgoing'),
        // SSH first, so enabling the firewall can never cut the session we are using.
        ...rules.map((r) => cmd(`ufw allow ${r}`, 'ufw', 'allow', r)),
        cmd('ufw enable', 'ufw', '--force', 'enable'),
      ],
      changes: [...(active ? [] : ['enable ufw']), ...(denyIn ? [] : ['deny incoming by default']), ...missing.map((r) => `allow ${r}`)],
      diffs: [],
    };
  },
};
