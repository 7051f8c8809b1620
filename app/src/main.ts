/**
 * Entry point of the deployed bundle (dist/app/messenger-chat.mjs): reads the environment, starts the
 * server, stops gracefully on SIGTERM/SIGINT.
 */
import type { ErrorCode } from '../../src/errors/catalogue.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { createChatServer } from './server.js';

const log = createLogger({ svc: 'messenger-chat', instance: process.env.MESSENGER_INSTANCE || '0' });

let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    log.error(`invalid configuration: ${err.message}`, { code: err.code, variable: err.variable });
    process.exit(1);
  }
  throw err;
}

const server = createChatServer(config, { log });
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  server.shutdown(signal).then(
    () => process.exit(0),
    (err: unknown) => {
      log.error('shutdown failed', { err });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('uncaughtException', (err) => {
  // A bug, not client input (handlers catch their own errors): log it and let systemd restart us.
  log.error('uncaught exception', { code: 'MI_ERR_APP_CRASH' satisfies ErrorCode, err, stack: err.stack });
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  log.error('unhandled rejection', { code: 'MI_ERR_APP_CRASH' satisfies ErrorCode, err });
  process.exit(1);
});

server.start().catch((err: unknown) => {
  log.error('start failed', { code: 'MI_ERR_APP_START' satisfies ErrorCode, err });
  process.exit(1);
});
