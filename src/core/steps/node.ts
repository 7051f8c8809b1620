import { remote } from '../command.js';
import { factValue, linkFact, queryFact } from '../facts.js';
import { HOST_PATHS } from '../host-model.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import { noChange, type Step } from '../step.js';

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

export const nodeStep: Step = {
  id: 'node',
  title: 'Node.js',
  facts: () => [nodeVersionFact, nodeOnPathFact],
  plan(facts, desired) {
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
  },
};
