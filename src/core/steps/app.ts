import { cmd, sh, type Command } from '../command.js';
import { APP_CONFIG_PREFIXES, filesUnder, type DesiredState } from '../desired-state.js';
import { commandFact, factValue, fileFact, pathExistsFact, type FactValues } from '../facts.js';
import { activateFiles, changedFiles, fileDiff, fileFacts, sha256, stageFile, swapLink } from '../file-plan.js';
import { APP_UNIT_PREFIX, APP_USER, HOST_PATHS } from '../host-model.js';
import type { Step } from '../step.js';
import { secretsFact } from './secrets.js';

/**
 * The chat server: system user, release directory, config files and the running instances.
 * Config, release link and restart go live as one transaction: if any instance is not ready after
 * the restart, the previous files and release come back and are restarted, so the host keeps serving
 * what it served before.
 */
const userFact = commandFact('app-user', `id -u ${APP_USER} 2>/dev/null`);
const currentFact = commandFact('app-current', `readlink ${HOST_PATHS.appCurrent} 2>/dev/null`);
/** The inputs the running instances were last (successfully) started with. */
const stampFact = commandFact('app-stamp', `cat ${HOST_PATHS.configDir}/.applied 2>/dev/null`);
const instancesFact = commandFact(
  'app-instances',
  `systemctl list-units --all --plain --no-legend '${APP_UNIT_PREFIX}*' 2>/dev/null | awk '{print $1, $3}'; ls /etc/systemd/system/multi-user.target.wants/ 2>/dev/null | grep '^${APP_UNIT_PREFIX}' | sed 's/^/enabled /'`,
);

export function releaseDir(desired: DesiredState): string {
  return `${HOST_PATHS.appReleases}/${desired.bundle.id}`;
}

function appFiles(desired: DesiredState) {
  return filesUnder(desired.files.full, ...APP_CONFIG_PREFIXES);
}

export function unitName(port: number): string {
  return `${APP_UNIT_PREFIX}${port}.service`;
}

/** What the instances must have been started with; a different stamp means restart. */
export function desiredStamp(desired: DesiredState, facts: FactValues): string {
  return sha256(
    JSON.stringify({
      files: appFiles(desired).map((f) => [f.path, sha256(f.content)]),
      secrets: factValue(facts, secretsFact).stdout,
      release: desired.bundle.id,
      node: desired.node.version,
      ports: desired.model.appPorts,
    }),
  );
}

interface InstanceState {
  active: Set<string>;
  enabled: Set<string>;
  known: Set<string>;
}

function parseInstances(stdout: string): InstanceState {
  const state: InstanceState = { active: new Set(), enabled: new Set(), known: new Set() };
  for (const line of stdout.split('\n')) {
    const [a = '', b = ''] = line.trim().split(' ');
    if (a === 'enabled') {
      state.enabled.add(b);
      state.known.add(b);
    } else if (a) {
      state.known.add(a);
      if (b === 'active') state.active.add(a);
    }
  }
  return state;
}

/** Poll every instance's /readyz (bounded), so a release that cannot reach MariaDB is caught. */
function readyScript(ports: number[]): string {
  // The journal first, the verdict last: failures are reported by their last lines.
  return `for p in ${ports.join(' ')}; do i=0; until curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$p/readyz"; do i=$((i+1)); if [ $i -ge 60 ]; then journalctl -u ${APP_UNIT_PREFIX}$p -n 5 --no-pager -o cat >&2 || true; echo "instance on port $p not ready after 30 s" >&2; exit 1; fi; sleep 0.5; done; done`;
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
    ...fileFacts(appFiles(desired)),
  ],
  plan(facts, desired) {
    const commands: Command[] = [];
    const changes: string[] = [];
    const release = releaseDir(desired);
    const units = desired.model.appPorts.map(unitName);

    if (factValue(facts, userFact).code !== 0) {
      commands.push(
        cmd(`create system user ${APP_USER}`, 'useradd', '--system', '--user-group', '--home-dir', HOST_PATHS.appRoot, '--no-create-home', '--shell', '/usr/sbin/nologin', APP_USER),
      );
      changes.push(`create system user ${APP_USER}`);
    }
    if (!factValue(facts, pathExistsFact(`${release}/.complete`))) {
      // Uploaded into its own directory; nothing live changes until the link moves.
      for (const file of desired.bundle.files) {
        commands.push(stageFile({ path: `${release}/${file.name}`, content: file.content, mode: 0o644, owner: 'root', group: 'root' }));
      }
      commands.push(
        sh(
          `unpack release ${desired.bundle.id}`,
          'set -e; cd "$1"; for f in "$@"; do [ "$f" = "$1" ] && continue; mv -f "$f.mi-new" "$f"; done; chmod 755 "$1"; touch .complete',
          [release, ...desired.bundle.files.map((f) => `${release}/${f.name}`)],
        ),
      );
      changes.push(`upload release ${desired.bundle.id}`);
    }

    const changed = changedFiles(appFiles(desired), facts);
    const stamp = desiredStamp(desired, facts);
    const instances = parseInstances(factValue(facts, instancesFact).stdout);
    const stale = [...instances.known].filter((u) => !units.includes(u));
    const current = factValue(facts, currentFact).stdout;
    const notRunning = units.filter((u) => !instances.active.has(u) || !instances.enabled.has(u));
    const needsRestart =
      changed.length > 0 || factValue(facts, stampFact).stdout !== stamp || notRunning.length > 0 || stale.length > 0 || current !== release;
    if (!needsRestart) return { commands, changes, diffs: [] };

    const link = (target: string) => swapLink(target, HOST_PATHS.appCurrent);
    // Chained with && (not set -e): the shell ignores -e inside an `if` condition.
    const activate = [
      link(release),
      'systemctl daemon-reload',
      `systemctl enable --quiet ${units.join(' ')}`,
      // A unit that hit its start limit refuses to start until reset.
      `{ systemctl reset-failed ${units.join(' ')} 2>/dev/null; true; }`,
      `systemctl restart ${units.join(' ')}`,
      `{ ${readyScript(desired.model.appPorts)}; }`,
      ...(stale.length > 0 ? [`{ systemctl disable --now --quiet ${stale.join(' ')} || true; }`] : []),
      `echo ${stamp} > ${HOST_PATHS.configDir}/.applied`,
      // Keep the three newest releases besides the current one, for quick rollbacks.
      `{ ls -1dt ${HOST_PATHS.appReleases}/* | grep -Fvx ${release} | tail -n +4 | xargs -r rm -rf; }`,
    ].join(' && ');
    const recover = [
      current ? link(current) : 'true',
      'systemctl daemon-reload',
      `systemctl reset-failed ${units.join(' ')} 2>/dev/null`,
      current ? `systemctl restart ${units.join(' ')}` : `systemctl stop ${units.join(' ')}`,
    ].join('; ');
    commands.push(
      ...changed.map(stageFile),
      activateFiles('activate config and release, restart, wait for /readyz', changed.map((f) => f.path), 'true', activate, recover),
    );
    changes.push(...changed.map((f) => `write ${f.path}`));
    if (current !== release) changes.push(`switch ${HOST_PATHS.appCurrent} to ${desired.bundle.id}`);
    changes.push(`restart ${units.join(', ')}`);
    if (stale.length > 0) changes.push(`stop and disable ${stale.join(', ')}`);
    return { commands, changes, diffs: changed.map((f) => fileDiff(f, factValue(facts, fileFact(f.path)))) };
  },
};
