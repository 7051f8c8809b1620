import { remote } from '../command.js';
import { factValue, packagesFact, type FactValues } from '../facts.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import { noChange, type Step, type StepPlan } from '../step.js';

/** The packages of `packages` that are not installed, in one apt transaction. */
export function installPackages(facts: FactValues, packages: readonly string[]): StepPlan {
  const installed = factValue(facts, packagesFact(packages));
  const missing = packages.filter((p) => !installed.has(p));
  if (missing.length === 0) return noChange();
  return {
    // One apt transaction that waits (bounded) for a dpkg lock held by unattended-upgrades.
    commands: [
      remote(`apt-get install ${missing.join(' ')}`, ['apt-install', ...missing], {
        errors: { [REMOTE_EXIT.APT_LOCKED]: 'MI_ERR_APT_LOCKED', [REMOTE_EXIT.FAILED]: 'MI_ERR_APT_FAILED' },
      }),
    ],
    changes: missing.map((p) => `install package ${p}`),
    diffs: [],
  };
}

export const packagesStep: Step = {
  id: 'packages',
  title: 'packages (nginx, MariaDB, certbot, ufw)',
  facts: (desired) => [packagesFact(desired.packages)],
  plan: (facts, desired) => installPackages(facts, desired.packages),
};
