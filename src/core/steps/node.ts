import { sh } from '../command.js';
import { commandFact, factValue } from '../facts.js';
import { HOST_PATHS } from '../host-model.js';
import { swapLink } from '../file-plan.js';
import { noChange, type Step } from '../step.js';

/** The registry's `sha512-<base64>` integrity string as the hex digest apt-helper checks. */
export function sha512Hex(integrity: string): string {
  if (!integrity.startsWith('sha512-')) throw new Error(`unsupported integrity ${integrity}; expected sha512-…`);
  return Buffer.from(integrity.slice('sha512-'.length), 'base64').toString('hex');
}

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
            'tmp=$(mktemp -d); trap \'rm -rf "$tmp"\' EXIT; chown _apt "$tmp" 2>/dev/null || true',
            // apt-helper ships with apt on every Debian/Ubuntu, speaks https with the system CAs and
            // checks the hash itself: no curl needed, so this runs while apt installs packages.
            // An image without CA certificates gets them from the apt install running alongside: wait (bounded).
            'i=0; until [ -s /etc/ssl/certs/ca-certificates.crt ]; do i=$((i+1)); [ $i -le 300 ] || { echo "no CA certificates after 300 s" >&2; exit 1; }; sleep 1; done',
            '/usr/lib/apt/apt-helper -q download-file "$1" "$tmp/node.tgz" "SHA512:$2" >/dev/null',
            'rm -rf "$3.mi-new"; mkdir -p "$3.mi-new"; tar -xzf "$tmp/node.tgz" -C "$3.mi-new" --strip-components=1 --no-same-owner',
            '"$3.mi-new/bin/node" --version >/dev/null',
            'rm -rf "$3"; mv "$3.mi-new" "$3"',
            swapLink(dir, `${HOST_PATHS.nodeRoot}/current`),
          ].join('\n'),
          [url, sha512Hex(integrity), dir],
        ),
      ],
      changes: [`install Node.js ${version} (${current || 'none'} now)`],
      diffs: [],
    };
  },
};
