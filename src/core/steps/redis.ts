import { cmd, remote } from '../command.js';
import { factValue, queryFact, unitFact } from '../facts.js';
import { activateFiles, changedFiles, describeChanges, fileFacts, stageFile } from '../file-plan.js';
import { HOST_PATHS, REDIS_UNIT } from '../host-model.js';
import { REDIS_PASSWORD_KEY, redisUsersTemplate } from '../redis.js';
import type { RenderedFile } from '../render.js';
import type { DesiredState } from '../desired-state.js';
import { ensureRunning, mergePlans, noChange, type Step, type StepPlan } from '../step.js';
import { parseSecrets, secretsFact } from './secrets.js';

/** The users file's mode and owner, and the hash of what it was composed from. */
const usersFact = queryFact('redis-users', ['inputs', HOST_PATHS.redisUsers]);
const redisUnit = unitFact(REDIS_UNIT);
/** The users file holds the password: Redis' alone. */
const USERS_FILE = { owner: 'redis', group: 'redis', mode: '600' } as const;
/**
 * /etc/redis root's (Debian makes it 2770 redis:redis): Redis reads its config but cannot add to
 * the folder, so nothing running as redis can plant a link where root writes the next config. A
 * dpkg statoverride keeps it so through package upgrades.
 */
const CONF_DIR = '/etc/redis';
const CONF_DIR_OWNER = { owner: 'root', group: 'redis', mode: '750' } as const;
const confDirFact = queryFact('redis-dir', ['statoverride', CONF_DIR]);

function confDirPlan(stdout: string): StepPlan {
  const { owner, group, mode } = CONF_DIR_OWNER;
  const lines = stdout.split('\n');
  const override = lines.find((l) => l.startsWith('override '));
  if (lines.includes(`mode ${mode} ${owner}:${group}`) && override === `override ${owner} ${group} ${mode}`) return noChange();
  return {
    commands: [
      ...(override ? [cmd('drop the package\'s statoverride of /etc/redis', 'dpkg-statoverride', '--remove', CONF_DIR)] : []),
      cmd('/etc/redis root\'s, readable by redis', 'dpkg-statoverride', '--update', '--add', owner, group, mode, CONF_DIR),
    ],
    changes: [`make ${CONF_DIR} ${mode} ${owner}:${group} (a dpkg statoverride, kept through upgrades)`],
    diffs: [],
  };
}

/** redis.conf as rendered with the host's other files (render --out and the Pulumi digest see it too). */
function redisConf(desired: DesiredState): RenderedFile[] {
  return desired.files.full.filter((f) => f.path === HOST_PATHS.redisConf);
}

/**
 * Redis for the instance bus (the package comes with the others): redis.conf from the tier and the
 * users file composed on the host with the generated password, swapped in together and Redis
 * restarted; a failed restart puts both back and restarts Redis on them. The app's instances ride
 * through the restart: they read what they missed from the database (app/src/bus.ts).
 */
export const redisStep: Step = {
  id: 'redis',
  roles: ['db'],
  title: 'Redis (the bus between instances)',
  applies: (desired) => desired.model.sizing.redis.enabled,
  facts: (desired) => [secretsFact, confDirFact, usersFact, redisUnit, ...fileFacts(redisConf(desired))],
  plan(facts, desired) {
    const conf = redisConf(desired);
    const passwordHash = parseSecrets(factValue(facts, secretsFact).stdout).hashes.get(REDIS_PASSWORD_KEY) ?? '';
    const users = redisUsersTemplate(desired.model, passwordHash);
    const onHost = factValue(facts, usersFact).stdout.split('\n');
    // An interrupted activation's leftovers are finished by composing and swapping in again.
    const { owner, group, mode } = USERS_FILE;
    const usersCurrent = onHost[0] === 'left' && onHost.includes(`mode ${mode} ${owner}:${group}`) && onHost.includes(`inputs ${users.inputs}`);
    const confChanged = changedFiles(conf, facts);
    const plan: StepPlan = confChanged.length > 0 ? { commands: confChanged.map(stageFile), ...describeChanges(confChanged, facts) } : noChange();
    const live: RenderedFile[] = [...confChanged];
    if (!usersCurrent) {
      plan.commands.push(
        remote("compose Redis' users (the password stays on the host)", ['secret', 'render', HOST_PATHS.redisUsers, owner, group, mode, HOST_PATHS.secretsEnvFile, REDIS_PASSWORD_KEY], {
          stdin: users.content,
        }),
      );
      plan.changes.push(`write ${HOST_PATHS.redisUsers} (the app's Redis user and its password; 0600 redis)`);
      live.push({ path: HOST_PATHS.redisUsers, content: '', mode: parseInt(mode, 8), owner, group, notify: [{ unit: `${REDIS_UNIT}.service`, action: 'restart' }] });
    }
    if (live.length > 0) {
      plan.commands.push(activateFiles('restart Redis on its new config', live));
      plan.changes.push(`restart ${REDIS_UNIT} (the instances read what they miss meanwhile from the database)`);
    }
    return mergePlans(confDirPlan(factValue(facts, confDirFact).stdout), plan, ensureRunning(REDIS_UNIT, factValue(facts, redisUnit)));
  },
};
