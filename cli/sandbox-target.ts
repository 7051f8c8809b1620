import type { StackConfig } from '../src/config/schema.js';
import type { Emit } from '../src/executor/events.js';
import { sandboxUp } from '../src/sandbox/index.js';
import { loadTargetStack, stackServerNames, type TargetFlags } from './target-options.js';

/**
 * `--sandbox` for `up` and `plan`: boots the local sandbox VPS (or finds it running), its progress as
 * info events, and loads the stack against it. Call it once the input is checked (checkTargetInput):
 * the boot is the first side effect.
 */
export async function stackOnSandbox(flags: TargetFlags, checked: StackConfig, emit: Emit): Promise<StackConfig> {
  if (!flags.sandbox) return checked;
  // A stack of several servers gets a guest each, on the sandbox's private network.
  const servers = stackServerNames(flags).length;
  const sandbox = await sandboxUp({ os: flags.os, ...(servers > 1 ? { hosts: servers } : {}), onProgress: (line) => emit({ type: 'info', message: `sandbox: ${line}` }) });
  return loadTargetStack(flags, sandbox);
}
