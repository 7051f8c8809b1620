import { MiError } from '../../errors/index.js';
import { cmd, remote, type Command } from '../command.js';
import { appConfigFiles, type DesiredState } from '../desired-state.js';
import { factValue, linkFact, queryFact, type FactValues } from '../facts.js';
import { changedFiles, describeChanges, fileFacts, sha256, stageFile, validatorsOf } from '../file-plan.js';
import { APP_UNIT_PREFIX, APP_USER, HOST_PATHS, nodeDir } from '../host-model.js';
import { liveUpstreamFact, parseReleases, releaseIdOf, releasePath, targetSlot, upstreamPorts, MANIFEST_FILE, type HostRelease } from '../release.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import { appUnit, NGINX_LIVE_PORT } from '../render.js';
import { mergePlans, noChange, type Step, type StepPlan } from '../step.js';
import { tarArchive } from '../tar.js';
import { appSecretsFact, parseSecrets, secretsFact } from './secrets.js';

/**
 * The app in three steps. `app-build` makes the release folder (upload; for a user's app also
 * `npm ci`, build, prune) while nothing live changes. `app` puts it live without dropping a chat:
 * the new release starts on the other slot's ports beside the old one, must pass the health gate,
 * then nginx's upstream switches (validated, reloaded, confirmed) and the old release drains. Any
 * failure before the switch leaves the old release serving, untouched (`mi-remote release`).
 */
const userFact = queryFact('app-user', ['user', APP_USER]);
const currentFact = linkFact(HOST_PATHS.appCurrent);
/** The inputs the live instances were last (successfully) started with. */
export const STAMP_FILE = `${HOST_PATHS.configDir}/.applied`;
const stampFact = queryFact('app-stamp', ['read', STAMP_FILE]);
export const instancesFact = queryFact('app-instances', ['units', APP_UNIT_PREFIX]);
export const releasesFact = queryFact('app-releases', ['releases', HOST_PATHS.appReleases]);

/** The release on the host with this run's content, if one was built already. */
export function builtRelease(desired: DesiredState, facts: FactValues): HostRelease | undefined {
  return parseReleases(factValue(facts, releasesFact).stdout).find((r) => r.manifest?.hash === desired.release.hash);
}

/** The release's files as one archive, its manifest included. */
function releaseArchive(desired: DesiredState): Buffer {
  return tarArchive([
    ...desired.bundle.files.map((f) => ({ name: f.name, content: f.content, mode: f.executable ? 0o755 : 0o644 })),
    { name: MANIFEST_FILE, content: `${JSON.stringify(desired.release.manifest)}\n`, mode: 0o644 },
  ]);
}

export const appBuildStep: Step = {
  id: 'app-build',
  roles: ['app'],
  title: 'app release (upload, install, build)',
  facts: () => [userFact, releasesFact],
  plan(facts, desired) {
    const commands: Command[] = [];
    const changes: string[] = [];
    if (factValue(facts, userFact).code !== 0) {
      commands.push(
        cmd(`create system user ${APP_USER}`, 'useradd', '--system', '--user-group', '--home-dir', HOST_PATHS.appRoot, '--no-create-home', '--shell', '/usr/sbin/nologin', APP_USER),
      );
      changes.push(`create system user ${APP_USER}`);
    }
    // A rollback or restart runs a release that is there already; nothing to build.
    if (desired.intent.action !== 'converge' || builtRelease(desired, facts)) return { commands, changes, diffs: [] };
    const { newId } = desired.release;
    const dir = releasePath(newId);
    if (desired.bundle.kind === 'bundled') {
      commands.push(remote(`upload release ${newId}`, ['unpack', dir], { stdin: releaseArchive(desired) }));
      changes.push(`upload release ${newId} (${desired.bundle.id})`);
    } else {
      const install = desired.bundle.install ?? 'ci';
      const build = install === 'ci' ? desired.stack.app.build : undefined;
      commands.push(
        remote(
          `upload and build release ${newId}`,
          ['build', dir, APP_USER, HOST_PATHS.appNpmCache, nodeDir(desired.node.version), install, ...(build === undefined ? [] : [build])],
          { stdin: releaseArchive(desired), errors: { [REMOTE_EXIT.BUILD]: 'MI_ERR_BUILD_FAILED' } },
        ),
      );
      changes.push(`upload release ${newId} (${desired.bundle.files.length} files), ${install === 'ci' ? `npm ci${build ? `, ${build}` : ''}, prune` : 'npm ci --omit=dev (built locally)'}`);
    }
    return { commands, changes, diffs: [] };
  },
};

/** What the instances must have been started with; a different stamp means a new switch. */
export function desiredStamp(desired: DesiredState, facts: FactValues, releaseId: string): string {
  return sha256(
    JSON.stringify({
      files: appConfigFiles(desired.files.full).map((f) => [f.path, sha256(f.content)]),
      // The values' hashes only: the file's mode is the secrets step's business, not a restart's.
      secrets: [...parseSecrets(factValue(facts, secretsFact).stdout).hashes].sort(),
      appSecrets: desired.bundle.kind === 'source' ? [...parseSecrets(factValue(facts, appSecretsFact).stdout).hashes].sort() : [],
      release: releaseId,
      node: desired.node.version,
      slots: desired.model.app.slots,
    }),
  );
}

export interface InstanceState {
  active: Set<string>;
  enabled: Set<string>;
  failed: Set<string>;
  known: Set<string>;
}

export function parseInstances(stdout: string): InstanceState {
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

export function portOf(unit: string): number {
  return Number(unit.slice(APP_UNIT_PREFIX.length).replace(/\.service$/, ''));
}

/** The release a rollback goes to: the named one, else the newest kept one older than the live one. */
function rollbackTarget(desired: DesiredState, releases: HostRelease[], live: string): string | undefined {
  if (desired.intent.action !== 'rollback') return undefined;
  const to = desired.intent.to;
  if (to !== undefined) return releases.some((r) => r.id === to) ? to : undefined;
  return releases.find((r) => r.id < live)?.id;
}

/** Migrations are forward-only: a rollback past a release that migrated keeps the newer schema. */
function schemaWarning(releases: HostRelease[], target: string, live: string): string[] {
  const newer = releases.filter((r) => r.id > target && r.id <= live && r.manifest?.migrates);
  return newer.length === 0
    ? []
    : [`note: ${newer.map((r) => r.id).join(', ')} ran migrations after ${target}; the database keeps the newer schema (migrations are forward-only)`];
}

export const appStep: Step = {
  id: 'app',
  roles: ['app'],
  title: 'app (health-gated switch without dropping connections)',
  facts: (desired) => [currentFact, stampFact, instancesFact, secretsFact, appSecretsFact, releasesFact, liveUpstreamFact, ...fileFacts(appConfigFiles(desired.files.full))],
  plan(facts, desired) {
    const app = desired.model.app;
    const releases = parseReleases(factValue(facts, releasesFact).stdout);
    const current = factValue(facts, currentFact);
    const liveId = releaseIdOf(current.target);
    let releaseId: string;
    const notes: string[] = [];
    if (desired.intent.action === 'rollback') {
      const to = rollbackTarget(desired, releases, liveId);
      if (to === undefined) {
        const kept = releases.map((r) => r.id).join(', ') || 'none';
        throw new MiError('MI_ERR_RELEASE_UNKNOWN', desired.intent.to === undefined ? `no release older than ${liveId || 'the live one'} is kept (kept: ${kept})` : `release ${desired.intent.to} is not on the host (kept: ${kept})`);
      }
      const kind = releases.find((r) => r.id === to)?.manifest?.kind;
      if (kind !== undefined && kind !== desired.bundle.kind) {
        const what = (k: string) => (k === 'bundled' ? 'the bundled chat server' : 'your app (app.source)');
        throw new MiError('MI_ERR_RELEASE_UNKNOWN', `release ${to} is ${what(kind)} but the stack deploys ${what(desired.bundle.kind)}; roll back with the stack that release was deployed with`);
      }
      releaseId = to;
      notes.push(...schemaWarning(releases, to, liveId));
    } else if (desired.intent.action === 'restart') {
      if (!liveId) throw new MiError('MI_ERR_RELEASE_UNKNOWN', 'no release is live yet; run `up` or `deploy` first');
      releaseId = liveId;
    } else {
      releaseId = builtRelease(desired, facts)?.id ?? desired.release.newId;
    }

    const files = appConfigFiles(desired.files.full);
    const changed = changedFiles(files, facts);
    const stamp = desiredStamp(desired, facts, releaseId);
    const instances = parseInstances(factValue(facts, instancesFact).stdout);
    const allPorts = app.slots.flat();
    const activePorts = new Set([...instances.active].map(portOf));
    const livePorts = upstreamPorts(factValue(facts, liveUpstreamFact).content);
    const inPlace = desired.stack.app.strategy === 'restart';
    const target = app.slots[targetSlot(app.slots, livePorts, activePorts, inPlace)];
    const liveUnits = livePorts.map(appUnit);
    // Instances of no slot (the tier or app.port changed): stopped with the switch; merely failed: forgotten.
    const outside = [...instances.known].filter((u) => !allPorts.map(appUnit).includes(u));
    const stale = outside.filter((u) => instances.active.has(u) || instances.enabled.has(u));
    const forgotten = outside.filter((u) => !stale.includes(u) && instances.failed.has(u));
    const prelude: StepPlan = forgotten.length === 0
      ? noChange()
      : { commands: [cmd(`forget failed ${forgotten.join(', ')}`, 'systemctl', 'reset-failed', ...forgotten)], changes: [`forget the failed instance(s) ${forgotten.join(', ')}`], diffs: [] };

    const liveRunning = liveUnits.length > 0 && liveUnits.every((u) => instances.active.has(u) && instances.enabled.has(u));
    const needsSwitch =
      desired.intent.action !== 'converge' ||
      changed.length > 0 ||
      factValue(facts, stampFact).stdout !== stamp ||
      !liveRunning ||
      liveId !== releaseId ||
      current.leftovers.length > 0 ||
      stale.length > 0;
    if (!needsSwitch) return prelude;

    // Old instances still serving: the live slot's, plus any other running one of ours. Only in place
    // are they the target's own ports (`mi-remote release` restarts in place exactly then); an older
    // release still draining on the target slot is simply stopped there before the new one starts.
    const old = allPorts.filter((p) => activePorts.has(p) && (inPlace || !target.includes(p)));
    const source = desired.bundle.kind === 'source';
    const migrate = source && desired.intent.action === 'converge' ? desired.stack.app.migrate : undefined;
    const release = remote(
      inPlace ? 'restart in place, wait for health' : 'start beside the live release, health gate, switch nginx, drain',
      [
        'release',
        '--release', releasePath(releaseId),
        '--current', HOST_PATHS.appCurrent,
        '--instances', HOST_PATHS.appInstances,
        ...target.flatMap((p) => ['--port', String(p)]),
        ...old.flatMap((p) => ['--old', String(p)]),
        ...stale.flatMap((u) => ['--stale', u]),
        '--upstream', HOST_PATHS.liveUpstream,
        '--health', app.health,
        '--timeout', String(desired.stack.app.healthTimeoutSeconds),
        // The bundled server closes its own sockets, spread; a user's app keeps them until SIGTERM.
        '--drain-after', String(source ? app.drainSeconds : 0),
        '--live-check', String(NGINX_LIVE_PORT),
        // The bundled server's instances share messages over Redis: the new ones must be on the bus
        // before the switch, so the clients of both releases keep hearing each other.
        ...(!source && desired.model.sizing.redis.enabled ? ['--bus'] : []),
        // Only a user's app migrates: with its unit's environment (the app env and its secrets file).
        ...(migrate === undefined ? [] : ['--migrate', migrate, '--user', APP_USER, '--env-file', HOST_PATHS.appEnvFile, '--env-file', HOST_PATHS.appSecretsFile]),
        '--stamp', STAMP_FILE, stamp,
        '--releases', HOST_PATHS.appReleases,
        '--keep', String(desired.stack.app.keepReleases),
        // This run's release runs the stack's Node.js; a rollback's or restart's runs its own.
        ...(desired.intent.action === 'converge' ? ['--node', nodeDir(desired.node.version)] : []),
        '--node-current', HOST_PATHS.nodeCurrent,
        '--node-root', HOST_PATHS.nodeRoot,
        ...validatorsOf(changed).flatMap((v) => ['--validate', v]),
        '--',
        ...changed.map((f) => f.path),
      ],
      {
        errors: {
          [REMOTE_EXIT.INVALID]: 'MI_ERR_SYSTEMD_INVALID',
          [REMOTE_EXIT.ACTIVATION]: 'MI_ERR_ACTIVATION_FAILED',
          [REMOTE_EXIT.NOT_READY]: 'MI_ERR_HEALTH_GATE',
          [REMOTE_EXIT.MIGRATION]: 'MI_ERR_MIGRATION_FAILED',
        },
      },
    );
    const described = describeChanges(changed, facts);
    const drained = old.filter((p) => !target.includes(p));
    const verb = { converge: 'release', restart: 'restart', rollback: 'roll back to' }[desired.intent.action];
    const changes = [
      ...described.changes,
      ...(current.leftovers.length > 0 ? [`finish the interrupted release (left: ${current.leftovers.map((l) => `${HOST_PATHS.appCurrent}.${l}`).join(', ')})`] : []),
      ...(migrate === undefined ? [] : [`migrate: ${migrate}`]),
      `${verb} ${releaseId} on ${target.map(appUnit).join(', ')}${inPlace ? ' (in place: open connections drop)' : ''}`,
      ...(drained.length > 0 ? [`drain ${drained.map(appUnit).join(', ')} (${source ? `SIGTERM after ${app.drainSeconds} s` : 'sockets closed with 1012, spread'})`] : []),
      ...(stale.length > 0 ? [`stop and disable ${stale.join(', ')}`] : []),
      ...notes,
    ];
    return mergePlans(prelude, { commands: [...changed.map(stageFile), release], changes, diffs: described.diffs });
  },
};

