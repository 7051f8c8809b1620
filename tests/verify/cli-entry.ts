// A program holding only the verify command, so its tests run the real CLI wiring (flags, output,
// exit codes) in a child process without depending on the rest of cli/index.ts.
import { Command } from 'commander';
import { register } from '../../cli/commands/verify.js';
import { exitOnUsageErrors } from '../../cli/run-action.js';

const program = exitOnUsageErrors(new Command('messenger-infra'));
register(program);
await program.parseAsync(process.argv);
