import { Argument, InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../../src/core/duration.js';
import { formatLogLine, LOG_SOURCES, type LogSource } from '../../src/core/logs.js';
import { runLogs } from '../../src/executor/logs.js';
import { onHost } from '../host-command.js';
import { runAction } from '../run-action.js';
import { addTargetOptions, type TargetFlags } from '../target-options.js';

/**
 * `messenger-infra logs [app|nginx|mariadb|redis|all] [-f] [-n N] [--since T]`: the journal and nginx's
 * logs over SSH, interleaved by time with the source's name. Ctrl-C ends `-f` cleanly (exit 0).
 */
interface LogsFlags extends TargetFlags {
  follow?: boolean;
  lines: number;
  since?: Date;
}

function linesOption(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100_000) throw new InvalidArgumentError('must be a whole number from 1 to 100000');
  return Number(value);
}

/** `--since`: a duration back from now (30m, 2h, 1d) or a date and time (2026-12-01T10:00Z). */
function sinceOption(value: string): Date {
  const back = parseDuration(value);
  if (back !== null) return new Date(Date.now() - back * 1000);
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) throw new InvalidArgumentError('must be a duration like 30m or 2h, or a time like 2026-12-01T10:00Z');
  return date;
}

export function register(program: Command): void {
  addTargetOptions(program.command('logs').description('journald and nginx logs of the host, interleaved by time'))
    .addArgument(new Argument('[source]', 'whose logs').choices(LOG_SOURCES).default('all'))
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <n>', 'the last N lines (per source with -f)', linesOption, 100)
    .option('--since <time>', 'only lines since: 30m, 2h, 1d, or 2026-12-01T10:00Z', sinceOption)
    .action(
      runAction(async (source: LogSource, flags: LogsFlags) => {
        let interrupt: () => void = () => {};
        const stop = new Promise<void>((resolve) => (interrupt = resolve));
        const onSigint = () => interrupt();
        // Only -f ends on Ctrl-C by design; otherwise Ctrl-C stops the command as usual.
        if (flags.follow) process.once('SIGINT', onSigint);
        const query = { source, follow: flags.follow === true, lines: flags.lines, ...(flags.since ? { since: flags.since } : {}) };
        try {
          await onHost(flags, ({ stack, target }) => runLogs(stack, target, query, (line) => process.stdout.write(`${formatLogLine(line)}\n`), stop));
          return 0;
        } finally {
          process.off('SIGINT', onSigint);
        }
      }),
    );
}
