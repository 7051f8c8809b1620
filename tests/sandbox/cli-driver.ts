// Runs the `sandbox` command the way the CLI assembles it, for tests that check exit codes and
// output in a real child process (cli/index.ts is assembled by the lead).
import { Command } from 'commander';
import { register } from '../../cli/commands/sandbox.js';
import { exitOnUsageErrors } from '../../cli/run-action.js';

const program = exitOnUsageErrors(new Command('messenger-infra'));
register(program);
await program.parseAsync(process.argv);
