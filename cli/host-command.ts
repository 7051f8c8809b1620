import type { StackConfig } from '../src/config/schema.js';
import type { SshTarget } from '../src/executor/ssh-host.js';
import { stackOnSandbox } from './sandbox-target.js';
import { createRenderer } from './step-output.js';
import { SINGLE_HOST, type Placement, type Role } from '../src/core/topology.js';
import { checkTargetInput, executorInput, isMultiHost, serverTargetsOf, type CheckedInput, type TargetFlags } from './target-options.js';

/**
 * The shape of the commands that read a deployed host (`status`, `logs`, `token`): the input checked
 * before anything starts, the sandbox booted when asked (its progress on stderr, so stdout holds only
 * the result), then `work` with the final stack and the SSH target. In a stack of several servers the
 * target is the first server with `role`: the db server for the data commands, an app server for the rest.
 */
export async function onHost<T>(flags: TargetFlags, work: (host: { stack: StackConfig; target: SshTarget; checked: CheckedInput; placement: Placement }) => Promise<T>, role: Role = 'app'): Promise<T> {
  const checked = checkTargetInput(flags);
  const renderer = createRenderer({ json: false, tty: false, write: (t) => process.stderr.write(t) });
  try {
    const stack = await stackOnSandbox(flags, checked.stack, renderer.emit);
    const server = isMultiHost(stack)
      ? serverTargetsOf(stack, flags).find((s) => s.placement.roles.has(role))!
      : { target: executorInput(checked, stack, flags).target, placement: SINGLE_HOST };
    return await work({ stack, target: server.target, checked, placement: server.placement });
  } finally {
    renderer.close();
  }
}
