import { cmd, remote, type Command } from '../command.js';
import { appConfigFiles, type DesiredState } from '../desired-state.js';
import { factValue, linkFact, pathExistsFact, queryFact, type FactValues } from '../facts.js';
import { changedFiles, describeChanges, fileFacts, sha256, stageFile, validatorsOf } from '../file-plan.js';
import { APP_UNIT_PREFIX, APP_USER, HOST_PATHS } from '../host-model.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import { appUnit } from '../render.js';
import type { Step } from '../step.js';
import { tarArchive } from '../tar.js';
import { parseSecrets, secretsFact } from './secrets.js';

/**
 * The chat server: system user, release directory, config files and the running instances.
 * Config, release link and restart go live as one transaction (`mi-remote release`): if any
 * instance is not ready after the restart, the previous files and release come back and are
 * restarted, so the host keeps serving what it served before.
 */
const userFact = queryFact('app-user', ['user', APP_USER]);
const currentFact = linkFact(HOST_PATHS.appCurrent);
/** The inputs the running instances were last (successfully) started with. */
const STAMP_FILE = `${HOST_PATHS.configDir}/.applied`;
const stampFact = queryFact('app-stamp', ['read', STAMP_FILE]);
const instancesFact = queryFact('app-instances', ['units', APP_UNIT_PREFIX]);
/** Releases kept besides the live one, for quick rollbacks. */
const KEEP_RELEASES = 3;

export function releaseDir(desired: DesiredState): string {
  return `${HOST_PATHS.appReleases}/${desired.bundle.id}`;
}

/** What the instances must have been started with; a different stamp means restart. */
export function desiredStamp(desired: DesiredState, facts: FactValues): string {
  return sha256(
    JSON.stringify({
      files: appConfigFiles(desired.files.full).map((f) => [f.path, sha256(f.content)]),
      // The values' hashes only: the file's mode is the secrets step's business, not a restart's.
      secrets: [...parseSecrets(factValue(facts, secretsFact).stdout).hashes].sort(),
      release: desired.bundle.id,
      node: desired.node.version,
      ports: desired.model.appPorts,
    }),
  );
}

interface InstanceState {
  active: Set<string>;
  enabled: Set<string>;
  failed: Set<string>;
  known: Set<string>;
}

function parseInstances(stdout: string): InstanceState {
  const state: InstanceState = { active: new Set(), enabled: new Set(), failed: new Set(), known: new Set() };
  for (const line of stdout.split('\n')) {
    const [a = '', b = ''] = line.trim().split(' ');
    if (a === 'enabled') {
      state.enabled.add(b);
      state.known.add(b);
    } else if (a) {
      state.known.add(a);
      if (b === 'active') state.active.add(a);
      if (b === 'failed') state.failed.add(a);
    }
  }
  return state;
}

/** The bundle as one archive, unpacked into its own release directory (nothing live changes). */
function uploadRelease(desired: DesiredState): Command {
  const archive = tarArchive(desired.bundle.files.map((f) => ({ name: f.name, content: f.content, mode: 0o644 })));
  return remote(`upload release ${desired.bundle.id}`, ['unpack', releaseDir(desired)], { stdin: archive });
}

export const appStep: Step = {
  id: 'app',
  title: 'chat server (release, config, instances)',
  facts: (desired) => [
    userFact,
    currentFact,
    stampFact,
    instancesFact,
    secretsFact,
    pathExistsFact(`${releaseDir(desired)}/.complete`),
    ...fileFacts(appConfigFiles(desired.files.full)),
  ],
  plan(facts, desired) {
    const commands: Command[] = [];
    const changes: string[] = [];
    const release = releaseDir(desired);
    const ports = desired.model.appPorts;
    const units = ports.map(appUnit);

    if (factValue(facts, userFact).code !== 0) {
      commands.push(
        cmd(`create system user ${APP_USER}`, 'useradd', '--system', '--user-group', '--home-dir', HOST_PATHS.appRoot, '--no-create-home', '--shell', '/usr/sbin/nologin', APP_USER),
      );
      changes.push(`create system user ${APP_USER}`);
    }
    if (!factValue(facts, pathExistsFact(`${release}/.complete`))) {
      commands.push(uploadRelease(desired));
      changes.push(`upload release ${desired.bundle.id}`);
    }

    const files = appConfigFiles(desired.files.full);
    const changed = changedFiles(files, facts);
    const stamp = desiredStamp(desired, facts);
    const instances = parseInstances(factValue(facts, instancesFact).stdout);
    const outside = [...instances.known].filter((u) => !units.includes(u));
    // An instance the tier no longer runs: still running or enabled, it is stopped with the release;
    // merely listed as failed, it only needs forgetting, which restarts nothing.
    const stale = outside.filter((u) => instances.active.has(u) || instances.enabled.has(u));
    const forgotten = outside.filter((u) => !stale.includes(u) && instances.failed.has(u));
    if (forgotten.length > 0) {
      commands.push(cmd(`forget failed ${forgotten.join(', ')}`, 'systemctl', 'reset-failed', ...forgotten));
      changes.push(`forget the failed instance(s) ${forgotten.join(', ')}`);
    }
    const current = factValue(facts, currentFact);
    const notRunning = units.filter((u) => !instances.active.has(u) || !instances.enabled.has(u));
    const needsRestart =
      changed.length > 0 ||
      factValue(facts, stampFact).stdout !== stamp ||
      notRunning.length > 0 ||
      stale.length > 0 ||
      current.target !== release ||
      current.leftovers.length > 0;
    if (!needsRestart) return { commands, changes, diffs: [] };

    commands.push(
      ...changed.map(stageFile),
      remote(
        'activate config and release, restart, wait for /readyz',
        [
          'release',
          '--link', HOST_PATHS.appCurrent,
          '--target', release,
          ...units.flatMap((u) => ['--unit', u]),
          ...ports.flatMap((p) => ['--ready', String(p)]),
          ...stale.flatMap((u) => ['--stale', u]),
          '--stamp', STAMP_FILE, stamp,
          '--releases', HOST_PATHS.appReleases,
          '--keep', String(KEEP_RELEASES),
          ...validatorsOf(changed).flatMap((v) => ['--validate', v]),
          '--',
          ...changed.map((f) => f.path),
        ],
        {
          errors: {
            [REMOTE_EXIT.INVALID]: 'MI_ERR_SYSTEMD_INVALID',
            [REMOTE_EXIT.ACTIVATION]: 'MI_ERR_ACTIVATION_FAILED',
            [REMOTE_EXIT.NOT_READY]: 'MI_ERR_HEALTH_GATE',
          },
        },
      ),
    );
    const described = describeChanges(changed, facts);
    changes.push(...described.changes);
    if (current.target !== release) changes.push(`switch ${HOST_PATHS.appCurrent} to ${desired.bundle.id}`);
    else if (current.leftovers.length > 0) {
      changes.push(`finish the interrupted release (left: ${current.leftovers.map((l) => `${HOST_PATHS.appCurrent}.${l}`).join(', ')})`);
    }
    changes.push(`restart ${units.join(', ')}`);
    if (stale.length > 0) changes.push(`stop and disable ${stale.join(', ')}`);
    return { commands, changes, diffs: described.diffs };
  },
};
