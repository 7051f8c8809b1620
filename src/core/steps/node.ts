import { remote, type Command } from '../command.js';
import { factValue, linkFact, queryFact } from '../facts.js';
import { HOST_PATHS, nodeDir } from '../host-model.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import { mergePlans, noChange, type Step, type StepPlan } from '../step.js';
import { NPM_RELEASE, npmTarballUrl } from '../versions.js';

/** The registry's `sha512-<base64>` integrity string as the hex digest apt-helper checks. */
export function sha512Hex(integrity: string): string {
  if (!integrity.startsWith('sha512-')) throw new Error(`unsupported integrity ${integrity}; expected sha512-…`);
  return Buffer.from(integrity.slice('sha512-'.length), 'base64').toString('hex');
}

/**
 * Node.js from the npm registry's repackaged release tarball, verified against its integrity hash,
 * unpacked beside the versions already there. Nothing live switches here: a release links the
 * version it runs, and the release step puts it live through the health gate (with `current`).
 */
const nodeVersionFact = (version: string) => queryFact('node-version', ['version', `${nodeDir(version)}/bin/node`]);
const nodeCurrentFact = linkFact(HOST_PATHS.nodeCurrent);
/** `node` on operators' PATH, pointing at the live release's Node.js. */
const nodeOnPathFact = linkFact(HOST_PATHS.nodeOnPath);
const NODE_ON_PATH_TARGET = `${HOST_PATHS.nodeCurrent}/bin/node`;
/** npm's own version file: what the installed npm is, read without running it. */
const npmVersionFact = queryFact('npm-version', ['read', `${HOST_PATHS.npmRoot}/package.json`]);
const npmLinkFact = linkFact(HOST_PATHS.npmOnPath);

function npmPlan(facts: Parameters<Step['plan']>[0]): StepPlan {
  const pkg = factValue(facts, npmVersionFact);
  let installed = '';
  try {
    installed = pkg.code === 0 ? String((JSON.parse(pkg.stdout) as { version?: unknown }).version ?? '') : '';
  } catch {
    // A damaged package.json is an npm to replace.
  }
  if (installed === NPM_RELEASE.version && factValue(facts, npmLinkFact).target === `${HOST_PATHS.npmRoot}/bin/npm-cli.js`) return noChange();
  return {
    commands: [
      remote(
        `install npm ${NPM_RELEASE.version} from the npm registry`,
        ['npm-install', npmTarballUrl(NPM_RELEASE.version), sha512Hex(NPM_RELEASE.integrity), HOST_PATHS.npmRoot, HOST_PATHS.npmOnPath, HOST_PATHS.npxOnPath],
        { errors: { [REMOTE_EXIT.DOWNLOAD]: 'MI_ERR_DOWNLOAD' } },
      ),
    ],
    changes: [`install npm ${NPM_RELEASE.version} (${installed || 'none'} now) for builds and operators`],
    diffs: [],
  };
}

/** Node.js, and npm beside it (builds of a user's app; operators' `npm`). */
export const nodeStep: Step = {
  id: 'node',
  roles: ['app'],
  title: 'Node.js and npm',
  facts: (desired) => [nodeVersionFact(desired.node.version), nodeCurrentFact, nodeOnPathFact, npmVersionFact, npmLinkFact],
  plan(facts, desired) {
    return mergePlans(nodePlan(facts, desired), npmPlan(facts));
  },
};

function nodePlan(facts: Parameters<Step['plan']>[0], desired: Parameters<Step['plan']>[1]): StepPlan {
  const { version, integrity, url } = desired.node;
  const dir = nodeDir(version);
  const live = factValue(facts, nodeCurrentFact).target;
  const liveVersion = live.startsWith(`${HOST_PATHS.nodeRoot}/`) ? live.slice(HOST_PATHS.nodeRoot.length + 1) : '';
  const commands: Command[] = [];
  const changes: string[] = [];
  if (factValue(facts, nodeVersionFact(version)).stdout !== `v${version}`) {
    commands.push(
      remote(`install Node.js ${version} from the npm registry`, ['node-install', url, sha512Hex(integrity), dir, HOST_PATHS.nodeCurrent], {
        errors: { [REMOTE_EXIT.DOWNLOAD]: 'MI_ERR_DOWNLOAD' },
      }),
    );
    changes.push(
      liveVersion && liveVersion !== version
        ? `install Node.js ${version} beside ${liveVersion}; the release switch puts it live through the health gate`
        : `install Node.js ${version}`,
    );
  }
  if (factValue(facts, nodeOnPathFact).target !== NODE_ON_PATH_TARGET) {
    commands.push(remote(`link ${HOST_PATHS.nodeOnPath}`, ['swap-link', NODE_ON_PATH_TARGET, HOST_PATHS.nodeOnPath]));
    changes.push(`link ${HOST_PATHS.nodeOnPath} to ${NODE_ON_PATH_TARGET}`);
  }
  return commands.length === 0 ? noChange() : { commands, changes, diffs: [] };
}
