/**
 * The release commands: `deploy` (only the app: upload, build, migrate, health gate, switch),
 * `restart` (the same switch with the live release), `rollback [ID]`, and `releases` (the kept ones).
 * They take the stack and target flags of `up`, so CI calls them the same way, and `--json`.
 */
import type { Command } from 'commander';
import type { ReleaseIntent } from '../../src/core/desired-state.js';
import type { ReleaseRow } from '../../src/core/release.js';
import { DEPLOY_STEPS, SWITCH_STEPS } from '../../src/core/steps/index.js';
import { ConfigError } from '../../src/errors/index.js';
import { runReleases } from '../../src/executor/releases.js';
import { runUp } from '../../src/executor/up.js';
import { onHost } from '../host-command.js';
import { runAction } from '../run-action.js';
import { stackOnSandbox } from '../sandbox-target.js';
import { createRenderer, finishRun, jsonLine } from '../step-output.js';
import { addBuildOption, addTargetOptions, checkTargetInput, executorInput, type BuildWhere, type TargetFlags } from '../target-options.js';
import { verifyDeployment } from './up.js';

interface ReleaseFlags extends TargetFlags {
  json?: boolean;
  verify: boolean;
  build?: BuildWhere;
}

/** Release ids as the host names them (TIME-HASH). */
const RELEASE_ID = /^\d{8}T\d{6}Z-[0-9a-f]{12}$/;

async function switchRelease(flags: ReleaseFlags, intent: ReleaseIntent): Promise<number> {
  const started = Date.now();
  const out = (text: string) => process.stdout.write(text);
  const checked = checkTargetInput(flags);
  const json = flags.json === true;
  const renderer = createRenderer({ json, tty: process.stdout.isTTY === true, write: out, log: (text) => process.stderr.write(text) });
  try {
    const stack = await stackOnSandbox(flags, checked.stack, renderer.emit);
    const input = executorInput(checked, stack, flags);
    const steps = intent.action === 'converge' ? DEPLOY_STEPS : SWITCH_STEPS;
    const { report, jwtSecret } = await runUp({ ...input, intent, steps, emit: renderer.emit, readJwtSecret: flags.verify });
    renderer.close();
    const verify = report.ok && flags.verify ? await verifyDeployment(stack, input.target, jwtSecret) : undefined;
    return finishRun({ report, verify, started, json, domain: stack.domain, out });
  } finally {
    renderer.close();
  }
}

function withReleaseOptions(command: Command): Command {
  return addTargetOptions(command)
    .option('--json', 'JSON lines on stdout (events, then a summary), for CI')
    .option('--no-verify', 'skip the closing check');
}

export function formatReleases(host: string, rows: ReleaseRow[]): string {
  if (rows.length === 0) return `${host}: no releases yet; run \`up\` or \`deploy\`\n`;
  const lines = [
    `${host}: ${rows.length} release(s) kept, newest first`,
    '',
    `  ${'release'.padEnd(31)}  ${'version'.padEnd(12)}  ${'node'.padEnd(8)}  ${'by'.padEnd(24)}  state`,
    ...rows.map((r) => {
      const state = [r.live ? 'LIVE' : '', r.runningOn.length > 0 ? `running on ${r.runningOn.join(', ')}` : '', r.migrates ? 'migrates' : ''].filter(Boolean).join(', ');
      return `  ${r.id.padEnd(31)}  ${(r.version ?? '-').padEnd(12)}  ${(r.node ?? '-').padEnd(8)}  ${(r.by ?? '-').padEnd(24)}  ${state || '-'}`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  addBuildOption(
    withReleaseOptions(program.command('deploy').description('only the app: upload, build, migrate, health-gate and switch without dropping connections (no apt, no certbot)')),
  ).action(runAction((flags: ReleaseFlags) => switchRelease(flags, { action: 'converge' })));

  withReleaseOptions(program.command('restart').description('restart the live release through the same zero-downtime switch')).action(
    runAction((flags: ReleaseFlags) => switchRelease(flags, { action: 'restart' })),
  );

  withReleaseOptions(program.command('rollback').argument('[id]', 'a kept release (see `releases`); default: the one before the live one').description('put a kept release live again through the zero-downtime switch')).action(
    runAction((id: string | undefined, flags: ReleaseFlags) => {
      if (id !== undefined && !RELEASE_ID.test(id)) throw new ConfigError('id', `"${id}" is not a release id like 20261201T120301Z-0123456789ab; see \`messenger-infra releases\``);
      return switchRelease(flags, id === undefined ? { action: 'rollback' } : { action: 'rollback', to: id });
    }),
  );

  addTargetOptions(program.command('releases').description('the releases kept on the host: which is live, which still runs, who made them'))
    .option('--json', 'the releases as one JSON object')
    .action(
      runAction(async (flags: TargetFlags & { json?: boolean }) => {
        const { host, releases } = await onHost(flags, ({ stack, target }) => runReleases(stack, target));
        process.stdout.write(flags.json ? jsonLine({ host, releases }) : formatReleases(host, releases));
        return 0;
      }),
    );
}
