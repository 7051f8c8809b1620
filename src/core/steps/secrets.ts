import { cmd, remote, type Command } from '../command.js';
import { factValue, queryFact } from '../facts.js';
import { sha256 } from '../file-plan.js';
import { HOST_PATHS } from '../host-model.js';
import type { Step } from '../step.js';

/** Secrets kept on the host in the unit's EnvironmentFile: generated once, never printed. */
export const SECRET_KEYS = ['MESSENGER_DB_PASSWORD', 'MESSENGER_JWT_SECRET'] as const;

/** Per key, the sha256 of its value (never the value), plus the file's mode and owner. */
export const secretsFact = queryFact('secrets', ['secrets', HOST_PATHS.secretsEnvFile, ...SECRET_KEYS]);

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

/** KEY=VALUE into the secrets file, 0600 root; the value is generated on the host or comes on stdin. */
function setSecret(label: string, key: string, value?: string): Command {
  const path = HOST_PATHS.secretsEnvFile;
  return value === undefined
    ? remote(label, ['secret', 'set', path, key, 'generate'])
    : remote(label, ['secret', 'set', path, key, 'stdin'], { stdin: value });
}

export const secretsStep: Step = {
  id: 'secrets',
  title: 'secrets (DB password, JWT secret)',
  facts: () => [secretsFact],
  plan(facts, desired) {
    const { mode, hashes } = parseSecrets(factValue(facts, secretsFact).stdout);
    const plan = { commands: [] as Command[], changes: [] as string[], diffs: [] as string[] };
    const path = HOST_PATHS.secretsEnvFile;
    if (!hashes.has('MESSENGER_DB_PASSWORD')) {
      plan.commands.push(setSecret('generate the database password', 'MESSENGER_DB_PASSWORD'));
      plan.changes.push('generate MESSENGER_DB_PASSWORD (kept on the host, 0600)');
    }
    if (desired.jwtSecret !== undefined) {
      if (hashes.get('MESSENGER_JWT_SECRET') !== sha256(desired.jwtSecret)) {
        plan.commands.push(setSecret('install the supplied JWT secret', 'MESSENGER_JWT_SECRET', desired.jwtSecret));
        plan.changes.push('set MESSENGER_JWT_SECRET to the supplied secret');
      }
    } else if (!hashes.has('MESSENGER_JWT_SECRET')) {
      plan.commands.push(setSecret('generate the JWT secret', 'MESSENGER_JWT_SECRET'));
      plan.changes.push('generate MESSENGER_JWT_SECRET (kept on the host, 0600)');
    }
    if (plan.commands.length === 0 && mode !== null && mode !== '600 root:root') {
      plan.commands.push(cmd('secrets file owner', 'chown', 'root:root', path), cmd('secrets file mode', 'chmod', '600', path));
      plan.changes.push(`set ${path} to 0600 root:root (was ${mode})`);
    }
    return plan;
  },
};
