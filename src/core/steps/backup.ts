import { BACKUP_PATHS, BACKUP_TIMERS, backupEnvLines, backupFiles } from '../backup.js';
import { redactRepository } from '../repository.js';
import { cmd, remote, type Command } from '../command.js';
import type { DesiredState } from '../desired-state.js';
import { factValue, queryFact, unitFact } from '../facts.js';
import { fileFacts, planFileGroup, sha256 } from '../file-plan.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import { mergePlans, noChange, skipped, type Step, type StepPlan } from '../step.js';
import { MiError } from '../../errors/index.js';
import { parseSecrets } from './secrets.js';

/** MI_INPUTS: what the env file was composed from (hashes only), and the password's own hash. */
const INPUTS = 'MI_INPUTS';
export const backupEnvFact = queryFact('backup-env', ['secrets', BACKUP_PATHS.env, INPUTS, 'RESTIC_PASSWORD']);
const timerFacts = BACKUP_TIMERS.map((t) => unitFact(t));
const NEXT_ENV = `${BACKUP_PATHS.env}.next`;

function unitsOf(desired: DesiredState) {
  return desired.host.programsDir ? backupFiles(desired.stack, desired.host.programsDir) : [];
}

/** `secret write FILE` with the bytes on stdin: 0600 root, atomically, never in argv or output. */
const writeSecretFile = (label: string, path: string, content: string): Command => remote(label, ['secret', 'write', path], { stdin: content });

/**
 * Backups: the repository's settings on the host (0600), the repository initialised, and the nightly
 * backup and weekly drill timers. Without a backup section the timers are switched off (the settings
 * stay: old snapshots still need the password), and the step says that backups are off.
 */
export const backupStep: Step = {
  id: 'backup',
  roles: ['db'],
  title: 'backups (restic, off-host)',
  facts: (desired) => [backupEnvFact, ...timerFacts, ...fileFacts(unitsOf(desired))],
  plan(facts, desired): StepPlan {
    const backup = desired.stack.backup;
    const timers = timerFacts.map((f) => factValue(facts, f));
    if (!backup) {
      const on = BACKUP_TIMERS.filter((_, i) => timers[i]?.enabled === 'enabled' || timers[i]?.active === 'active');
      if (on.length === 0) return skipped('backups are off: add a backup section to the stack (README: "Backups and restore")');
      return { commands: [cmd('switch the backup timers off', 'systemctl', 'disable', '--now', ...on)], changes: on.map((t) => `disable ${t} (no backup section in the stack)`), diffs: [] };
    }
    const secrets = desired.backupSecrets;
    // Treating it as "off" would switch the timers off: a caller that forgot the secrets is a bug.
    if (!secrets) throw new MiError('MI_ERR_INTERNAL', 'the backup step was planned without the backup secrets (a bug)');
    const lines = backupEnvLines(backup, secrets);
    const inputs = sha256(JSON.stringify({ lines: lines.map(sha256), sshKey: secrets.sshKey && sha256(secrets.sshKey), knownHosts: secrets.knownHosts && sha256(secrets.knownHosts) }));
    const { hashes, mode } = parseSecrets(factValue(facts, backupEnvFact).stdout);
    const hostPassword = hashes.get('RESTIC_PASSWORD');
    if (hostPassword !== undefined && hostPassword !== sha256(secrets.password) && desired.backupPasswordGenerated) {
      // The repository was made with the host's password; replacing it with a new one would lock every snapshot away.
      throw new MiError(
        'MI_ERR_BACKUP_PASSWORD',
        `the host's restic password differs from the one just generated in ${desired.backupPasswordGenerated}; put the original password in that file (or name it in backup.password) and run again`,
      );
    }
    const settings: StepPlan = noChange();
    if (hashes.get(INPUTS) !== sha256(inputs) || mode !== '600 root:root') {
      settings.commands.push(
        ...(secrets.sshKey ? [writeSecretFile('write the backup SSH key', BACKUP_PATHS.sshKey, secrets.sshKey.endsWith('\n') ? secrets.sshKey : `${secrets.sshKey}\n`)] : []),
        ...(secrets.knownHosts ? [writeSecretFile("write the backup server's host key", BACKUP_PATHS.knownHosts, secrets.knownHosts.endsWith('\n') ? secrets.knownHosts : `${secrets.knownHosts}\n`)] : []),
        // Beside the live settings first: they are replaced only once the repository opens with the new
        // ones, so a wrong password in the stack never takes the place of the one that works.
        writeSecretFile('write the new backup settings', NEXT_ENV, [...lines, `${INPUTS}=${inputs}`, ''].join('\n')),
        remote(`open or initialise ${redactRepository(backup.repository)}`, ['backup', 'init', '--env', NEXT_ENV], { errors: { [REMOTE_EXIT.REPOSITORY]: 'MI_ERR_BACKUP_REPOSITORY' } }),
        cmd('put the backup settings live', 'mv', '-f', NEXT_ENV, BACKUP_PATHS.env),
      );
      settings.changes.push(
        ...(secrets.sshKey ? [`write ${BACKUP_PATHS.sshKey} and ${BACKUP_PATHS.knownHosts} (0600)`] : []),
        `write ${BACKUP_PATHS.env} (repository ${redactRepository(backup.repository)}, password${Object.keys(secrets.env).length ? `, ${Object.keys(secrets.env).sort().join(', ')}` : ''}; 0600) once the repository opens with it`,
        'open or initialise the repository',
      );
    }
    const units = planFileGroup(unitsOf(desired), facts, 'activate the backup timers');
    const start = BACKUP_TIMERS.filter((_, i) => units.commands.length > 0 || timers[i]?.enabled !== 'enabled' || timers[i]?.active !== 'active');
    const timersPlan: StepPlan =
      start.length === 0 ? noChange() : { commands: [cmd('start the backup timers', 'systemctl', 'enable', '--now', ...start)], changes: start.map((t) => `enable and start ${t}`), diffs: [] };
    return mergePlans(settings, units, timersPlan);
  },
};
