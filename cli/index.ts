import { Command } from 'commander';
import { register as registerBackup } from './commands/backup.js';
import { register as registerCloud } from './commands/cloud.js';
import { register as registerDb } from './commands/db.js';
import { register as registerLogs } from './commands/logs.js';
import { register as registerPlan } from './commands/plan.js';
import { register as registerRelease } from './commands/release.js';
import { register as registerRender } from './commands/render.js';
import { register as registerSandbox } from './commands/sandbox.js';
import { register as registerStatus } from './commands/status.js';
import { register as registerTiers } from './commands/tiers.js';
import { register as registerToken } from './commands/token.js';
import { register as registerUp } from './commands/up.js';
import { register as registerVerify } from './commands/verify.js';
import { exitOnUsageErrors } from './run-action.js';

/** Assembles the commands; each lives in its own file under commands/. */
const program = new Command('messenger-infra')
  .description('Provision a VPS for a Node.js WebSocket chat backend: MariaDB, nginx, TLS, the chat server, verified end to end.')
  .version('0.1.0');
exitOnUsageErrors(program);

registerTiers(program);
registerRender(program);
registerUp(program);
registerRelease(program);
registerPlan(program);
registerSandbox(program);
registerVerify(program);
registerStatus(program);
registerLogs(program);
registerDb(program);
registerBackup(program);
registerToken(program);
registerCloud(program);

await program.parseAsync(process.argv);
