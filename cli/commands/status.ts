import type { Command } from 'commander';
import { describeHardenState, type HardenState } from '../../src/core/harden.js';
import type { StatusReport } from '../../src/core/status.js';
import { runStatus } from '../../src/executor/status.js';
import { onHost } from '../host-command.js';
import { runAction } from '../run-action.js';
import { jsonLine } from '../step-output.js';
import { addTargetOptions, type TargetFlags } from '../target-options.js';

/** `messenger-infra status [--json]`: what runs on the host, in one SSH round trip; exit 1 when something is down. */
function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const [value, unit] = s < 120 ? [s, 's'] : s < 7200 ? [Math.round(s / 60), 'min'] : s < 172_800 ? [Math.round(s / 3600), 'h'] : [Math.round(s / 86_400), 'd'];
  return `${value} ${unit} ago`;
}

const orDash = (value: number | string | null) => (value === null ? '-' : String(value));

export function formatStatus(r: StatusReport & { harden?: HardenState }): string {
  const harden = r.harden ? describeHardenState(r.harden) : { lines: [], warnings: [] };
  const lines = [
    `${r.host}: ${r.os}, tier ${r.tier}, up ${Math.round(r.uptimeSeconds / 3600)} h — ${r.ok ? 'all running' : `${r.problems.length} problem(s)`}`,
    '',
    '  service           state      since',
    ...r.services.map((s) => `  ${s.name.padEnd(16)}  ${`${s.state}${s.sub && s.sub !== 'running' ? `/${s.sub}` : ''}`.padEnd(9)}  ${ago(s.since)}`),
    '',
    `  release           ${orDash(r.release.id)} (version ${orDash(r.release.version)})`,
    `  connections       ${orDash(r.app.connections)} WebSocket (${r.app.scraped}/${r.app.instances} instances answered), nginx ${orDash(r.nginx.activeConnections)} active`,
    `  messages          ${orDash(r.app.messagesLastMinute)} in the last minute, ${orDash(r.app.messagesIn)} since start`,
    `  certificate       ${r.certificate.domain}: ${r.certificate.daysLeft === null ? 'none' : `${r.certificate.daysLeft} days left`}, next renewal check ${orDash(r.certificate.nextRenewal)}`,
    `  disk /            ${r.disk.usedMb} of ${r.disk.totalMb} MB (${r.disk.usedPct}%); the tier plans ${r.disk.tierDiskMb} MB`,
    `  memory            ${r.memory.usedMb} of ${r.memory.totalMb} MB used, swap ${r.memory.swapUsedMb} MB; the tier budgets ${r.memory.budgetUsedMb} of ${r.memory.tierRamMb} MB`,
    ...harden.lines.map((l) => `  harden            ${l}`),
    ...(r.problems.length ? ['', ...r.problems.map((p) => `  PROBLEM  ${p}`)] : []),
    ...(harden.warnings.length ? ['', ...harden.warnings.map((w) => `  WARNING  ${w}`)] : []),
  ];
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  addTargetOptions(program.command('status').description('what runs on the host: services, release, connections, certificate, disk and memory; exit 1 when something is down'))
    .option('--json', 'the report as one JSON object')
    .action(
      runAction(async (flags: TargetFlags & { json?: boolean }) => {
        const report = await onHost(flags, ({ stack, target, placement }) => runStatus(stack, target, placement));
        process.stdout.write(flags.json ? jsonLine(report) : formatStatus(report));
        return report.ok ? 0 : 1;
      }),
    );
}
