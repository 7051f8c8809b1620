import type { StackConfig } from '../config/schema.js';
import { remote } from '../core/command.js';
import { logsArgv, mergeByTime, parseTaggedLine, type LogLine, type LogQuery } from '../core/logs.js';
import { detectHost } from './detect.js';
import { commandError, type RunResult } from './host.js';
import type { SshTarget } from './ssh-host.js';
import { withHost } from './up.js';

/**
 * Reads the host's logs over SSH. Without `follow`, every source's last lines are merged by time and
 * handed over at once; with `follow`, lines are handed over as they arrive until `stop` resolves
 * (Ctrl-C): then the remote readers are stopped by closing their stdin, and the connection closes.
 */
/** How long `-f` collects the first lines to sort them. */
const BACKLOG_MS = 500;

export async function runLogs(stack: StackConfig, target: SshTarget, query: LogQuery, onLine: (line: LogLine) => void, stop: Promise<void>): Promise<void> {
  return withHost(target, async (host) => {
    await detectHost(host, target.port);
    const command = remote('read the logs', logsArgv(query, stack));
    if (!query.follow) {
      const result = await host.run(command, { timeoutMs: 60_000 });
      if (result.code !== 0) throw commandError(host, 'reading the logs', result);
      const lines = result.stdout.split('\n').flatMap((l) => parseTaggedLine(l) ?? []);
      for (const line of mergeByTime(lines, query.lines, query.since)) onLine(line);
      return;
    }
    // The sources' last lines arrive together at the start: they are merged by time before the
    // live lines, which are shown as they come.
    let backlog: LogLine[] | null = [];
    const flushBacklog = () => {
      if (backlog) for (const line of mergeByTime(backlog, Number.MAX_SAFE_INTEGER)) onLine(line);
      backlog = null;
    };
    const timer = setTimeout(flushBacklog, BACKLOG_MS);
    let pending = '';
    const started = host.start(command, (chunk) => {
      pending += chunk;
      const complete = pending.split('\n');
      pending = complete.pop() ?? '';
      for (const l of complete) {
        const line = parseTaggedLine(l);
        if (!line) continue;
        if (backlog) backlog.push(line);
        else onLine(line);
      }
    });
    let ended: RunResult | undefined;
    try {
      ended = await Promise.race([stop.then(() => undefined), started.done]);
    } finally {
      clearTimeout(timer);
      flushBacklog();
      await started.end();
    }
    // The readers ended before Ctrl-C: the connection dropped, or the remote program failed.
    if (ended && (ended.dropped || ended.code !== 0)) throw commandError(host, 'following the logs', ended);
  });
}
