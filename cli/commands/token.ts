import { InvalidArgumentError, type Command } from 'commander';
import { mintToken, MAX_SUB_LENGTH } from '../../app/src/token.js';
import { parseDuration } from '../../src/core/duration.js';
import { jwtClaimsOf } from '../../src/config/jwt-secret.js';
import { MiError } from '../../src/errors/index.js';
import { hostJwtSecret } from '../../src/executor/up.js';
import { onHost } from '../host-command.js';
import { runAction } from '../run-action.js';
import { jsonLine } from '../step-output.js';
import { addTargetOptions, type TargetFlags } from '../target-options.js';
import { sandboxHints } from './open-hints.js';

/**
 * `messenger-infra token --user NAME`: a token for the web client, signed with the deployment's JWT
 * secret (the stack's, or read over SSH from the host; never printed), with the URL that opens the
 * chat with it (the token rides in the fragment, which browsers never send to the server).
 */
interface TokenFlags extends TargetFlags {
  user: string;
  ttl: number;
  room?: string;
  json?: boolean;
}

/** The longest token lifetime the command mints: a token is a password until it expires. */
const MAX_TTL_S = 30 * 86_400;

function ttlOption(value: string): number {
  const seconds = parseDuration(value);
  if (seconds === null || seconds > MAX_TTL_S) throw new InvalidArgumentError('must be a duration like 15m, 1h or 7d, at most 30d');
  return seconds;
}

function userOption(value: string): string {
  if (value.trim() === '' || value.length > MAX_SUB_LENGTH || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new InvalidArgumentError(`must be 1 to ${MAX_SUB_LENGTH} printable characters`);
  }
  return value;
}

export function register(program: Command): void {
  addTargetOptions(program.command('token').description("mint a web client token with the deployment's JWT secret (never printed), and the URL to open the chat"))
    .requiredOption('--user <name>', 'the user the token is for (shown on their messages)', userOption)
    .option('--ttl <duration>', 'how long the token is valid: 15m, 1h, 7d (at most 30d)', ttlOption, 3_600)
    .option('--room <room>', 'the room the web client opens')
    .option('--json', 'one JSON object: {type, user, expiresAt, token, url}')
    .action(
      runAction(async (flags: TokenFlags) => {
        await onHost(flags, async ({ stack, target, checked }) => {
          const secret = checked.jwtSecret ?? (await hostJwtSecret(target));
          if (!secret) throw new MiError('MI_ERR_NO_JWT_SECRET', `the host has no MESSENGER_JWT_SECRET yet; run \`messenger-infra up\` first`);
          const token = await mintToken(secret, flags.user, flags.ttl, jwtClaimsOf(stack));
          const expiresAt = new Date(Date.now() + flags.ttl * 1000).toISOString();
          const fragment = new URLSearchParams({ token, ...(flags.room ? { room: flags.room } : {}) });
          const url = `https://${stack.domain}/#${fragment.toString()}`;
          if (flags.json) {
            process.stdout.write(jsonLine({ type: 'token', user: flags.user, expiresAt, token, url }));
          } else {
            process.stdout.write(`token for ${flags.user} (valid until ${expiresAt}):\n${token}\n\nopen the chat: ${url}\n`);
            if (flags.sandbox) process.stdout.write(sandboxHints(stack.domain, stack.verify.ca, url));
          }
        });
      }),
    );
}
