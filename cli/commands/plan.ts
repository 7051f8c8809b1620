import type { Command } from 'commander';
import { printPlan, printPlanMany } from '../plan-output.js';
import { runAction } from '../run-action.js';
import { stackOnSandbox } from '../sandbox-target.js';
import { withProgressOnStderr } from '../step-output.js';
import { addBuildOption, addTargetOptions, checkTargetInput, executorInput, isMultiHost, serverTargetsOf, type BuildWhere, type TargetFlags } from '../target-options.js';

export function register(program: Command): void {
  addBuildOption(addTargetOptions(program.command('plan').description('show what `up` would change (packages, file diffs, restarts); changes nothing')))
    .option('--json', 'the plan as one JSON object')
    .action(
      runAction(async (flags: TargetFlags & { json?: boolean; build?: BuildWhere }) => {
        const checked = checkTargetInput(flags, { backupSecrets: true });
        // Sandbox progress on stderr: stdout holds only the plan (one JSON object with --json).
        const stack = await withProgressOnStderr((emit) => stackOnSandbox(flags, checked.stack, emit));
        if (isMultiHost(stack)) return printPlanMany({ ...executorInput(checked, stack, flags, { multi: true }), servers: serverTargetsOf(stack, flags) }, flags.json === true);
        return printPlan(executorInput(checked, stack, flags), flags.json === true);
      }),
    );
}
