import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import type { StackConfig } from '../../src/config/schema.js';
import { readBundle } from '../../src/executor/bundle.js';
import type { RunEvent } from '../../src/executor/events.js';
import { runUp } from '../../src/executor/up.js';
import { sandboxUp, type SandboxOs } from '../../src/sandbox/index.js';
import { quickVerifyOptions, renderTable, runVerify, type VerifyReport } from '../../src/verify/index.js';
import { ConfigError } from '../../src/config/errors.js';
import { runAction } from '../run-action.js';
import { humanStepLine, humanSummary, jsonLine } from '../step-output.js';
import { addTargetOptions, loadTargetStack, sshTargetOf, type TargetFlags } from '../target-options.js';
import { DEFAULT_STACK_NAME, runCloudUp } from './cloud.js';
import { printPlan } from './plan.js';

interface UpFlags extends TargetFlags {
  json?: boolean;
  dryRun?: boolean;
  verify: boolean;
  provider?: string;
  region?: string;
  image?: string;
  sshPublicKey?: string;
  stackName?: string;
}

/** `--provider`: create (or update) the cloud server with Pulumi first, then set it up over SSH. */
async function provisionServer(flags: UpFlags, stack: StackConfig, log: (line: string) => void): Promise<{ stack: StackConfig; isNew: boolean }> {
  if (flags.provider !== 'beget' && flags.provider !== 'hcloud') throw new ConfigError('--provider', `"${flags.provider}" must be beget or hcloud`);
  if (flags.host || flags.sandbox) throw new ConfigError('--provider', 'cannot be combined with --host or --sandbox; drop one of them');
  if (!flags.sshPublicKey) throw new ConfigError('--ssh-public-key', 'is required with --provider; give the public key the server should accept');
  const server = await runCloudUp({
    provider: flags.provider,
    stackName: flags.stackName ?? DEFAULT_STACK_NAME,
    tier: stack.tier,
    domain: stack.domain,
    email: stack.email,
    sshPublicKeyPath: flags.sshPublicKey,
    ...(flags.region ? { region: flags.region } : {}),
    ...(flags.image ? { image: flags.image } : {}),
    json: flags.json === true,
    onEvent: log,
  });
  log(`server ${server.serverIp} ready (${Object.entries(server.changes).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  const ssh = stack.target?.ssh ?? { user: 'root', port: 22 };
  return { stack: { ...stack, target: { host: server.serverIp, ssh } }, isNew: (server.changes.create ?? 0) > 0 };
}

/** The closing check: the quick WebSocket verification through the host's address with the domain as SNI. */
async function verifyDeployment(stack: StackConfig, jwtSecret: string | undefined): Promise<VerifyReport> {
  const host = stack.target!.host;
  const address = isIP(host) ? host : (await lookup(host)).address;
  return runVerify(quickVerifyOptions({ domain: stack.domain, address, ...(stack.verify.ca ? { caPath: stack.verify.ca } : {}), ...(jwtSecret ? { jwtSecret } : {}) }));
}

export async function resolveSandbox(flags: TargetFlags, log: (line: string) => void) {
  if (!flags.sandbox) return undefined;
  if (flags.host) throw new ConfigError('--host', 'cannot be combined with --sandbox; drop one of them');
  if (flags.os !== 'debian13' && flags.os !== 'debian12') throw new ConfigError('--os', `"${flags.os}" must be debian13 or debian12`);
  return sandboxUp({ os: flags.os as SandboxOs, onProgress: (line) => log(`sandbox: ${line}`) });
}

export function register(program: Command): void {
  addTargetOptions(
    program
      .command('up')
      .description('provision the host: packages, Node.js, MariaDB, nginx, TLS, the chat server; then verify')
      .option('--dry-run', 'show what would change (same as `plan`) and change nothing')
      .option('--json', 'JSON lines on stdout (events, then a summary), for CI')
      .option('--no-verify', 'skip the closing WebSocket verification')
      .option('--provider <name>', 'create the server first with Pulumi: beget | hcloud')
      .option('--region <region>', 'cloud region (with --provider)')
      .option('--image <id>', 'cloud image (with --provider; required for beget)')
      .option('--ssh-public-key <file>', 'public key the new server accepts (with --provider)')
      .option('--stack-name <name>', `Pulumi stack name (with --provider; default ${DEFAULT_STACK_NAME})`),
  ).action(
    runAction(async (flags: UpFlags) => {
      const started = Date.now();
      const out = (text: string) => process.stdout.write(text);
      const log = flags.json ? (line: string) => process.stderr.write(`${line}\n`) : (line: string) => out(`${line}\n`);
      const sandbox = await resolveSandbox(flags, log);
      let stack = loadTargetStack(flags, sandbox);
      if (flags.provider) {
        // Pulumi would create (and bill) a server: no such thing in a dry run.
        if (flags.dryRun) throw new ConfigError('--dry-run', 'cannot be combined with --provider; run `plan --host ADDRESS` against the server once it exists');
        const created = await provisionServer(flags, stack, log);
        stack = created.stack;
        // A server created in this run cannot be in known_hosts yet; its key is saved on first contact.
        if (created.isNew) flags.acceptNewHostKey = true;
      }
      const target = sshTargetOf(stack, flags);
      const bundle = readBundle();
      if (flags.dryRun) return printPlan(stack, target, bundle, flags.json === true);

      const emit = (event: RunEvent) => {
        const text = flags.json ? jsonLine(event) : humanStepLine(event);
        if (text && (flags.json ? event.type === 'step' && event.status !== 'check' : true)) out(text);
      };
      const { report, jwtSecret } = await runUp({ stack, target, bundle, emit, readJwtSecret: flags.verify });
      let verify: VerifyReport | undefined;
      if (report.ok && flags.verify) verify = await verifyDeployment(stack, jwtSecret);
      const seconds = (Date.now() - started) / 1000;
      if (flags.json) {
        out(jsonLine({ type: 'summary', ok: report.ok && (verify?.exitCode ?? 0) === 0, changed: report.changed, failed: report.failed, seconds, steps: report.steps.map(({ diffs: _d, ...s }) => s), verify }));
      } else {
        out(humanSummary(report, seconds));
        if (verify) out(`\nverify ${stack.domain} (quick):\n${renderTable(verify)}\n`);
      }
      if (!report.ok) return 1;
      return verify && verify.exitCode !== 0 ? verify.exitCode : 0;
    }),
  );
}
