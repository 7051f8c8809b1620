import { remote } from '../command.js';
import { factValue, linkFact, queryFact } from '../facts.js';
import { HOST_PATHS } from '../host-model.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import { mergePlans, noChange, type Step, type StepPlan } from '../step.js';
import { NPM_RELEASE, npmTarballUrl } from '../versions.js';

/** The registry's `sha512-<base64>` integrity string as the hex digest apt-helper checks. */
export function sha512Hex(integrity: string): string {
  if (!integrity.startsWith('sha512-')) throw new Error(`unsupported integrity ${integrity}; expected sha512-…`);
  return Buffer.from(integrity.slice('sha512-'.length), 'base64').toString('hex');
}

/** Node.js from the npm registry's repackaged release tarball, verified against its integrity hash. */
const nodeVersionFact = queryFact('node-version', ['version', HOST_PATHS.nodeBin]);
/** `node` on operators' PATH, pointing at the release the units run. */
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
  title: 'Node.js and npm',
  facts: () => [nodeVersionFact, nodeOnPathFact, npmVersionFact, npmLinkFact],
  plan(facts, desired) {
    return mergePlans(nodePlan(facts, desired), npmPlan(facts));
  },
};

function nodePlan(facts: Parameters<Step['plan']>[0], desired: Parameters<Step['plan']>[1]): StepPlan {
    const { version, integrity, url } = desired.node;
    const current = factValue(facts, nodeVersionFact).stdout;
    if (current === `v${version}`) {
      if (factValue(facts, nodeOnPathFact).target === NODE_ON_PATH_TARGET) return noChange();
      return {
        commands: [remote(`link ${HOST_PATHS.nodeOnPath}`, ['swap-link', NODE_ON_PATH_TARGET, HOST_PATHS.nodeOnPath])],
        changes: [`link ${HOST_PATHS.nodeOnPath} to ${NODE_ON_PATH_TARGET}`],
        diffs: [],
      };
    }
    return {
      commands: [
        remote(
          `install Node.js ${version} from the npm registry`,
          ['node-install', url, sha512Hex(integrity), `${HOST_PATHS.nodeRoot}/${version}`, HOST_PATHS.nodeCurrent, HOST_PATHS.nodeOnPath],
          { errors: { [REMOTE_EXIT.DOWNLOAD]: 'MI_ERR_DOWNLOAD' } },
        ),
      ],
      changes: [`install Node.js ${version} (${current || 'none'} now)`],
      diffs: [],
    };
}
