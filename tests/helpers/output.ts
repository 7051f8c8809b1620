import type { ChildProcess } from 'node:child_process';

/** A finished child's exit status (255 when killed by a signal) and everything it printed. */
export interface ChildOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Collects a spawned child's stdout and stderr (both piped) until it closes. */
export function outputOf(child: ChildProcess): Promise<ChildOutput> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 255, stdout, stderr }));
  });
}
