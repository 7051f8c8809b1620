import { sh } from '../command.js';
import { factValue, packagesFact } from '../facts.js';
import { noChange, type Step } from '../step.js';

/** apt waits for a held dpkg lock (unattended-upgrades on a fresh VPS) instead of failing. */
const APT_ENV = 'export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a; apt="apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"';

export const packagesStep: Step = {
  id: 'packages',
  title: 'packages (nginx, MariaDB, certbot, ufw)',
  facts: (desired) => [packagesFact(desired.packages)],
  plan(facts, desired) {
    const installed = factValue(facts, packagesFact(desired.packages));
    const missing = desired.packages.filter((p) => !installed.has(p));
    if (missing.length === 0) return noChange();
    return {
      commands: [
        sh(
          `apt-get install ${missing.join(' ')}`,
          `set -e; ${APT_ENV}; $apt update >/dev/null; $apt install --no-install-recommends "$@" >/dev/null`,
          missing,
        ),
      ],
      changes: missing.map((p) => `install package ${p}`),
      diffs: [],
    };
  },
};
