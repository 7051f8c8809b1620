import { sh } from '../command.js';
import { commandFact, factValue } from '../facts.js';
import { HOST_PATHS } from '../host-model.js';
import { noChange, type Step } from '../step.js';

/** Node.js from the npm registry's repackaged release tarball, verified against its integrity hash. */
const nodeVersionFact = commandFact('node-version', `${HOST_PATHS.nodeBin} --version 2>/dev/null`);

export const nodeStep: Step = {
  id: 'node',
  title: 'Node.js',
  facts: () => [nodeVersionFact],
  plan(facts, desired) {
    const { version, integrity, url } = desired.node;
    const current = factValue(facts, nodeVersionFact).stdout;
    if (current === `v${version}`) return noChange();
    const dir = `${HOST_PATHS.nodeRoot}/${version}`;
    return {
      commands: [
        sh(
          `install Node.js ${version} from the npm registry`,
          [
            'set -e',
            'tmp=$(mktemp -d); trap \'rm -rf "$tmp"\' EXIT',
            'curl -fsSL --retry 3 -o "$tmp/node.tgz" "$1"',
            // The registry's integrity string is base64 sha512 of the tarball.
            'got="sha512-$(openssl dgst -sha512 -binary "$tmp/node.tgz" | base64 -w0)"',
            'if [ "$got" != "$2" ]; then echo "integrity mismatch for $1: expected $2, got $got" >&2; exit 1; fi',
            'rm -rf "$3.mi-new"; mkdir -p "$3.mi-new"; tar -xzf "$tmp/node.tgz" -C "$3.mi-new" --strip-components=1 --no-same-owner',
            '"$3.mi-new/bin/node" --version >/dev/null',
            'rm -rf "$3"; mv "$3.mi-new" "$3"',
            'ln -sfn "$3" "$4.mi-new"; mv -Tf "$4.mi-new" "$4"',
          ].join('\n'),
          [url, integrity, dir, `${HOST_PATHS.nodeRoot}/current`],
        ),
      ],
      changes: [`install Node.js ${version} (${current || 'none'} now)`],
      diffs: [],
    };
  },
};
