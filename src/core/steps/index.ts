import type { Step } from '../step.js';
import { appBuildStep, appStep } from './app.js';
import { backupStep } from './backup.js';
import { hardenStep } from './harden.js';
import { firewallStep, swapStep, sysctlStep } from './kernel.js';
import { databaseStep, mariadbConfigStep } from './mariadb.js';
import { nodeStep } from './node.js';
import { nodeExporterStep } from './metrics.js';
import { packagesStep } from './packages.js';
import { redisStep } from './redis.js';
import { appSecretsStep, secretsStep } from './secrets.js';
import { certificateStep, nginxStep, siteStep } from './web.js';

/**
 * The steps of `up`, in order. Each reads its facts, plans, and applies; a later step's facts are
 * gathered again when an earlier one changed something. An inner array holds chains that touch
 * disjoint things and run at the same time: Node.js downloads while apt installs; the database comes
 * up, the release is built and the host is hardened while nginx gets its certificate. The release goes live last, once the
 * TLS site serves: its switch is confirmed through nginx.
 */
export const UP_STEPS: ReadonlyArray<Step | ReadonlyArray<Step | readonly Step[]>> = [
  swapStep,
  sysctlStep,
  [packagesStep, nodeStep],
  firewallStep,
  [
    [mariadbConfigStep, secretsStep, redisStep, databaseStep, appSecretsStep, backupStep],
    [nginxStep, certificateStep, siteStep],
    appBuildStep,
    nodeExporterStep,
    hardenStep,
  ],
  appStep,
];

/**
 * How many of UP_STEPS' phases need nothing from another server (the host itself: swap, kernel,
 * packages, Node.js, firewall): in a multi-host run an app server goes through them while the db
 * server converges, and waits for the db server's secrets before the rest.
 */
export const HOST_ONLY_PHASES = 4;

/**
 * `deploy`: only the app and what it reads (Node.js and npm, its database, user and secrets, nginx's
 * config for its paths and drain); no apt, no certbot.
 */
export const DEPLOY_STEPS: ReadonlyArray<Step | ReadonlyArray<Step | readonly Step[]>> = [
  [nodeStep, [secretsStep, databaseStep, appSecretsStep], nginxStep],
  appBuildStep,
  appStep,
];

/**
 * `restart` and `rollback`: a release already on the host goes live again through the same switch.
 * One chain, in order: a user's app secrets are composed from the DB password the secrets step keeps.
 */
export const SWITCH_STEPS: ReadonlyArray<Step | ReadonlyArray<Step | readonly Step[]>> = [[[secretsStep, appSecretsStep]], appStep];
