import type { Command } from 'commander';
import type { StackConfig } from '../../src/config/schema.js';
import type { AppBundle } from '../../src/core/desired-state.js';
import { readBundle } from '../../src/executor/bundle.js';
import type { SshTarget } from '../../src/executor/ssh-host.js';
import { runPlan } from '../../src/executor/up.js';
import { runAction } from '../run-action.js';
import { jsonLine } from '../step-output.js';
import { addTargetOptions, loadTargetStack, sshTargetOf, type TargetFlags } from '../target-options.js';
import { resolveSandbox } from './up.js';

/** Prints what `up` would change: packages, unified diffs, restarts. Changes nothing. */
export async function printPlan(stack: StackConfig, target: SshTarget, bundle: AppBundle, json: boolean): Promise<number> {
  const { desired, plans } = await runPlan({ stack, target, bundle });
  const out = (text: string) => process.stdout.write(text);
  const changing = plans.filter((p) => !p.plan.skipped && p.plan.commands.length > 0);
  if (json) {
    out(
      jsonLine({
        type: 'plan',
        host: `${target.user}@${target.host}:${target.port}`,
        os: desired.host.os.id,
        changes: changing.length,
        steps: plans.map(({ step, plan }) => ({
          step: step.id,
          title: step.title,
          status: plan.skipped ? 'skipped' : plan.commands.length > 0 ? 'change' : 'ok',
          ...(plan.skipped ? { reason: plan.skipped } : {}),
          changes: plan.changes,
          diffs: plan.diffs,
          commands: plan.commands.map((c) => c.label),
        })),
      }),
    );
    return 0;
  }
  out(`plan for ${target.user}@${target.host}:${target.port} (${desired.host.os.name}, tier ${stack.tier}):\n`);
  for (const { step, plan } of plans) {
    const status = plan.skipped ? 'skip  ' : plan.commands.length > 0 ? 'change' : 'ok    ';
    out(`  ${status}  ${step.title}${plan.skipped ? ` (${plan.skipped})` : ''}\n`);
    for (const change of plan.changes) out(`            - ${change}\n`);
    for (const diff of plan.diffs) out(`${diff.replace(/^/gm, '            ')}\n`);
  }
  out(changing.length === 0 ? 'no changes\n' : `${changing.length} step(s) would change; run \`messenger-infra up\` to apply\n`);
  return 0;
}

export function register(program: Command): void {
  addTargetOptions(program.command('plan').description('show what `up` would change (packages, file diffs, restarts); changes nothing'))
    .option('--json', 'the plan as one JSON object')
    .action(
      runAction(async (flags: TargetFlags & { json?: boolean }) => {
        const sandbox = await resolveSandbox(flags, (line) => process.stderr.write(`${line}\n`));
        const stack = loadTargetStack(flags, sandbox);
        return printPlan(stack, sshTargetOf(stack, flags), readBundle(), flags.json === true);
      }),
    );
}
