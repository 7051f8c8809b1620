import type { Step } from '../step.js';
import { appStep } from './app.js';
import { firewallStep, swapStep, sysctlStep } from './kernel.js';
import { databaseStep, mariadbConfigStep } from './mariadb.js';
import { nodeStep } from './node.js';
import { nodeExporterStep } from './metrics.js';
import { packagesStep } from './packages.js';
import { secretsStep } from './secrets.js';
import { certificateStep, nginxStep, siteStep } from './web.js';

/**
 * The steps of `up`, in order. Each reads its facts, plans, and applies; a later step's facts are
 * gathered again when an earlier one changed something. An inner array holds chains that touch
 * disjoint things and run at the same time: Node.js downloads while apt installs; the database and
 * the chat server come up while nginx gets its certificate (the TLS site only needs the upstream's
 * address, not a running server, to pass `nginx -t`).
 */
export const UP_STEPS: ReadonlyArray<Step | ReadonlyArray<Step | readonly Step[]>> = [
  swapStep,
  sysctlStep,
  [packagesStep, nodeStep],
  firewallStep,
  [
    [mariadbConfigStep, secretsStep, databaseStep, appStep],
    [nginxStep, certificateStep, siteStep],
    nodeExporterStep,
  ],
];
