import { sh, type Command } from '../command.js';
import { commandFact, factValue } from '../facts.js';
import { sha256 } from '../file-plan.js';
import { HOST_PATHS } from '../host-model.js';
import type { Step } from '../step.js';

/** Secrets kept on the host in the unit's EnvironmentFile: generated once, never printed. */
const SECRET_KEYS = ['MESSENGER_DB_PASSWORD', 'MESSENGER_JWT_SECRET'] as const;

/** Per key, the sha256 of its value (never the value), plus the file's mode and owner. */
export const secretsFact = commandFact(
  'secrets',
  `f=${HOST_PATHS.secretsEnvFile}; [ -f "$f" ] || exit 0; stat -c 'mode %a %U:%G' "$f"; for k in ${SECRET_KEYS.join(' ')}; do v=$(sed -n "s/^$k=//p" "$f" | head -n1); [ -n "$v" ] && printf '%s %s\\n' "$k" "$(printf %s "$v" | sha256sum | cut -c1-64)"; done; true`,
);

export function parseSecrets(stdout: string): { mode: string | null; hashes: Map<string, string> } {
  const hashes = new Map<string, string>();
  let mode: string | null = null;
  for (const line of stdout.split('\n')) {
    const [key = '', ...rest] = line.trim().split(' ');
    if (key === 'mode') mode = rest.join(' ');
    else if (key) hashes.set(key, rest[0] ?? '');
  }
  return { mode, hashes };
}

// Writes KEY=VALUE into the secrets file atomically, 0600 root; VALUE comes from stdin or is generated.
const SET_SECRET = [
  'set -e; umask 077; f="$1"; k="$2"; mkdir -p "$(dirname "$f")"; touch "$f"',
  'if [ "$3" = generate ]; then v=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc A-Za-z0-9 | head -c 48); else v=$(cat); fi',
  '{ grep -v "^$k=" "$f" || true; printf "%s=%s\\n" "$k" "$v"; } > "$f.mi-new"',
  'chown root:root "$f.mi-new"; chmod 600 "$f.mi-new"; mv -f "$f.mi-new" "$f"',
].join('\n');

export const secretsStep: Step = {
  id: 'secrets',
  title: 'secrets (DB password, JWT secret)',
  facts: () => [secretsFact],
  plan(facts, desired) {
    const { mode, hashes } = parseSecrets(factValue(facts, secretsFact).stdout);
    const plan = { commands: [] as Command[], changes: [] as string[], diffs: [] as string[] };
    const path = HOST_PATHS.secretsEnvFile;
    if (!hashes.has('MESSENGER_DB_PASSWORD')) {
      plan.commands.push(sh('generate the database password', SET_SECRET, [path, 'MESSENGER_DB_PASSWORD', 'generate']));
      plan.changes.push('generate MESSENGER_DB_PASSWORD (kept on the host, 0600)');
    }
    if (desired.jwtSecret !== undefined) {
      const wanted = sha256(desired.jwtSecret);
      if (hashes.get('MESSENGER_JWT_SECRET') !== wanted) {
        plan.commands.push(sh('install the supplied JWT secret', SET_SECRET, [path, 'MESSENGER_JWT_SECRET', 'stdin'], desired.jwtSecret));
        plan.changes.push('set MESSENGER_JWT_SECRET to the supplied secret');
      }
    } else if (!hashes.has('MESSENGER_JWT_SECRET')) {
      plan.commands.push(sh('generate the JWT secret', SET_SECRET, [path, 'MESSENGER_JWT_SECRET', 'generate']));
      plan.changes.push('generate MESSENGER_JWT_SECRET (kept on the host, 0600)');
    }
    if (plan.commands.length === 0 && mode !== null && mode !== '600 root:root') {
      plan.commands.push(sh('fix secrets file mode', 'chown root:root "$1" && chmod 600 "$1"', [path]));
      plan.changes.push(`set ${path} to 0600 root:root (was ${mode})`);
    }
    return plan;
  },
};
