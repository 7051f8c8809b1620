import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Option, type Command } from 'commander';
import type { StackConfig } from '../../src/config/schema.js';
import { jwtClaimsOf } from '../../src/config/jwt-secret.js';
import { appModelOf } from '../../src/core/host-model.js';
import { ConfigError } from '../../src/errors/index.js';
import type { Emit } from '../../src/executor/events.js';
import { readBackupState } from '../../src/executor/data.js';
import type { ConvergeReport } from '../../src/executor/converge.js';
import type { SshTarget } from '../../src/executor/ssh-host.js';
import { runUp } from '../../src/executor/up.js';
import { backupCheck, withCheck } from '../../src/verify/backup.js';
import { quickVerifyOptions, renderTable, runVerify, type VerifyReport } from '../../src/verify/index.js';
import { printPlan, printPlanMany } from '../plan-output.js';
import { runUpMany } from '../../src/executor/up-many.js';
import { runAction } from '../run-action.js';
import { stackOnSandbox } from '../sandbox-target.js';
import { createRenderer, finishRun } from '../step-output.js';
import { addBuildOption, addTargetOptions, checkTargetInput, executorInput, isMultiHost, serverTargetsOf, type BuildWhere, type TargetFlags } from '../target-options.js';
import { sandboxHints } from './open-hints.js';
import { CLOUD_PROVIDERS, DEFAULT_STACK_NAME, runCloudUp, type CloudProviderName } from './cloud.js';

interface UpFlags extends TargetFlags {
  json?: boolean;
  dryRun?: boolean;
  verify: boolean;
  provider?: CloudProviderName;
  region?: string;
  image?: string;
  sshPublicKey?: string;
  stackName?: string;
  build?: BuildWhere;
}

interface CloudFlags {
  provider: CloudProviderName;
  sshPublicKey: string;
}

/** `--provider` and its own rules, checked with the rest of the input before anything is created. */
function cloudFlags(flags: UpFlags): CloudFlags | undefined {
  if (!flags.provider) return undefined;
  if (flags.host || flags.sandbox) throw new ConfigError('--provider', 'cannot be combined with --host or --sandbox; drop one of them');
  // Pulumi would create (and bill) a server: no such thing in a dry run.
  if (flags.dryRun) throw new ConfigError('--dry-run', 'cannot be combined with --provider; run `plan --host ADDRESS` against the server once it exists');
  if (!flags.sshPublicKey) throw new ConfigError('--ssh-public-key', 'is required with --provider; give the public key the server should accept');
  return { provider: flags.provider, sshPublicKey: flags.sshPublicKey };
}

/** `--provider`: create (or update) the cloud server with Pulumi first, then set it up over SSH. */
async function provisionServer(cloud: CloudFlags, flags: UpFlags, stack: StackConfig, emit: Emit): Promise<{ stack: StackConfig; isNew: boolean }> {
  const info = (message: string) => emit({ type: 'info', message });
  const server = await runCloudUp({
    provider: cloud.provider,
    stackName: flags.stackName ?? DEFAULT_STACK_NAME,
    tier: stack.tier,
    domain: stack.domain,
    email: stack.email,
    sshPublicKeyPath: cloud.sshPublicKey,
    ...(flags.region ? { region: flags.region } : {}),
    ...(flags.image ? { image: flags.image } : {}),
    // --os names the sandbox's OS and, with --provider, the server's.
    ...(flags.os ? { os: flags.os } : {}),
    json: flags.json === true,
    onEvent: info,
  });
  info(`server ${server.serverIp} ready (${Object.entries(server.changes).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  const ssh = stack.target?.ssh ?? { user: 'root', port: 22 };
  return { stack: { ...stack, target: { host: server.serverIp, ssh } }, isNew: (server.changes.create ?? 0) > 0 };
}

/** The closing check: the quick WebSocket verification through the host's address with the domain as SNI. */
export async function verifyDeployment(stack: StackConfig, target: SshTarget, jwtSecret: string | undefined, backupTarget: SshTarget = target): Promise<VerifyReport> {
  const host = target.host;
  const address = isIP(host) ? host : (await lookup(host)).address;
  // A user's app: TLS, redirect, its health path and an upgrade on each WebSocket path (no chat protocol).
  const report = await runVerify({
    ...quickVerifyOptions({ domain: stack.domain, address, app: appModelOf(stack), ...(stack.verify.ca ? { caPath: stack.verify.ca } : {}), ...(jwtSecret ? { jwtSecret } : {}) }),
    jwtClaims: jwtClaimsOf(stack),
  });
  return stack.backup ? withCheck(report, backupCheck(await readBackupState(backupTarget).catch((e: Error) => e))) : report;
}

export function register(program: Command): void {
  addBuildOption(addTargetOptions(
    program
      .command('up')
      .description('provision the host: packages, Node.js, MariaDB, nginx, TLS, the chat server; then verify')
      .option('--dry-run', 'show what would change (same as `plan`) and change nothing')
      .option('--json', 'JSON lines on stdout (events, then a summary), for CI')
      .option('--no-verify', 'skip the closing WebSocket verification')
      .addOption(new Option('--provider <name>', 'create the server first with Pulumi').choices(CLOUD_PROVIDERS))
      .option('--region <region>', 'cloud region (with --provider)')
      .option('--image <id>', 'a custom image (with --provider; default: Debian from the provider, --os picks 13 or 12)')
      .option('--ssh-public-key <file>', 'public key the new server accepts (with --provider)')
      .option('--stack-name <name>', `Pulumi stack name (with --provider; default ${DEFAULT_STACK_NAME})`),
  )).action(
    runAction(async (flags: UpFlags) => {
      const started = Date.now();
      const out = (text: string) => process.stdout.write(text);
      const cloud = cloudFlags(flags);
      const checked = checkTargetInput(flags, { hostLater: cloud !== undefined, backupSecrets: true });
      const json = flags.json === true;
      // With --json, progress text goes to stderr: stdout carries only the JSON lines.
      const renderer = createRenderer({ json, tty: process.stdout.isTTY === true, write: out, log: (text) => process.stderr.write(text) });
      try {
        let stack = await stackOnSandbox(flags, checked.stack, renderer.emit);
        if (cloud) {
          const created = await provisionServer(cloud, flags, stack, renderer.emit);
          stack = created.stack;
          // A server created in this run cannot be in known_hosts yet; its key is saved on first contact.
          if (created.isNew) flags.acceptNewHostKey = true;
        }
        // One server (`target`), or several (`servers` + `hosts`): converged, then checked through the edge.
        let run: { report: ConvergeReport; jwtSecret?: string; edge: SshTarget; db: SshTarget };
        if (isMultiHost(stack)) {
          const input = { ...executorInput(checked, stack, flags, { multi: true }), servers: serverTargetsOf(stack, flags) };
          if (flags.dryRun) return await printPlanMany(input, json);
          const done = await runUpMany({ ...input, emit: renderer.emit, readJwtSecret: flags.verify });
          const db = input.servers.find((s) => s.placement.roles.has('db')) ?? done.edge;
          run = { ...done, edge: done.edge.target, db: db.target };
        } else {
          const input = executorInput(checked, stack, flags);
          if (flags.dryRun) return await printPlan(input, json);
          run = { ...(await runUp({ ...input, emit: renderer.emit, readJwtSecret: flags.verify })), edge: input.target, db: input.target };
        }
        const { report, jwtSecret } = run;
        renderer.close(); // the live line goes before the recap (close is idempotent; `finally` covers a throw)
        const verify = report.ok && flags.verify ? await verifyDeployment(stack, run.edge, jwtSecret, run.db) : undefined;
        const code = finishRun({ report, verify, started, json, domain: stack.domain, out });
        // The sandbox's chat has no DNS name and no users yet: say how to open it.
        if (!json && flags.sandbox && report.ok) {
          out(`\nopen the chat: mint a token and the URL with\n  node bin/messenger-infra.js token --sandbox --user alice\n${sandboxHints(stack.domain, stack.verify.ca)}`);
        }
        return code;
      } finally {
        renderer.close();
      }
    }),
  );
}
