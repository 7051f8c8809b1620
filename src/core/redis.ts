import { sha256 } from './file-plan.js';
import { HOST_PATHS, REDIS_USER, type HostModel } from './host-model.js';
import { MANAGED_MARKER } from './render.js';
import { renderTemplate } from './templates.js';

/**
 * Redis, the bus between the app's instances (stack.redis; see redisEnabledFor):
 * Debian's redis-server on loopback, pub/sub only, a password generated on the host, sized from the
 * tier. Pure: the users file and its rules (redis.conf is rendered with the host's other files,
 * render.ts); the step (steps/redis.ts) plans both.
 */
export const REDIS_PACKAGE = 'redis-server';
/** Its password, generated once into the host's secrets file. */
export const REDIS_PASSWORD_KEY = 'MESSENGER_REDIS_PASSWORD';
/** The variable a user's app reads Redis from: redis://USER:PASSWORD@127.0.0.1:6379. */
export const REDIS_URL_ENV = 'REDIS_URL';
/** The bundled server's channel prefix (app/src/bus.ts): its user may use nothing else. */
export const BUS_CHANNELS = 'messenger-chat:*';

/**
 * What the app's user may do. The bundled server only publishes and subscribes on its channels; a
 * user's app (a Socket.IO adapter, a small cache that may vanish) gets the ordinary commands, never
 * the admin ones. Redis before 6.2 (Ubuntu 22.04) cannot restrict channels: every user may use all.
 */
export function redisRules(model: Pick<HostModel, 'app' | 'os'>): string {
  const channels = (pattern: string) => (model.os.redisChannelAcl ? `resetchannels &${pattern} ` : '');
  return model.app.kind === 'bundled'
    ? `${channels(BUS_CHANNELS)}-@all +@pubsub +ping +info +client|setname`
    : `${channels('*')}~* +@all -@admin -@dangerous +info`;
}

/**
 * The users file as sent to the host, with `@MESSENGER_REDIS_PASSWORD@` where the host puts the
 * password. Its MI_INPUTS line is the sha256 of this text and of the password's hash, so the
 * `inputs` fact says whether the file on the host is this one without the password leaving it.
 */
export function redisUsersTemplate(model: Pick<HostModel, 'app' | 'os'>, passwordHash: string): { content: string; inputs: string } {
  const view = (inputs: string) => ({
    managed: MANAGED_MARKER,
    inputs,
    secretsFile: HOST_PATHS.secretsEnvFile,
    user: REDIS_USER,
    passwordKey: REDIS_PASSWORD_KEY,
    rules: redisRules(model),
  });
  const inputs = sha256(`${renderTemplate('redis/users.conf.hbs', view(''))}\n${passwordHash}`);
  return { content: renderTemplate('redis/users.conf.hbs', view(inputs)), inputs };
}
