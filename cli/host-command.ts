import type { StackConfig } from '../src/config/schema.js';
import type { SshTarget } from '../src/executor/ssh-host.js';
import { stackOnSandbox } from './sandbox-target.js';
import { createRenderer } from './step-output.js';
import { checkTargetInput, executorInput, type CheckedInput, type TargetFlags } from './target-options.js';

/**
 * The shape of the commands that read a deployed host (`status`, `logs`, `token`): the input checked
 * before anything starts, the sandbox booted when asked (its progress on stderr, so stdout holds only
 * the result), then `work` with the final stack and the SSH target.
 */
export async function onHost<T>(flags: TargetFlags, work: (host: { stack: StackConfig; target: SshTarget; checked: CheckedInput }) => Promise<T>): Promise<T> {
  const checked = checkTargetInput(flags);
  const renderer = createRenderer({ json: false, tty: false, write: (t) => process.stderr.write(t) });
  try {
    const stack = await stackOnSandbox(flags, checked.stack, renderer.emit);
    return await work({ stack, target: executorInput(checked, stack, flags).target, checked });
  } finally {
    renderer.close();
  }
}
