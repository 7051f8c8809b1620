import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { fileFact } from '../../src/core/facts.js';
import { activateFiles, fileDiffers, stageFile } from '../../src/core/file-plan.js';
import type { RenderedFile } from '../../src/core/render.js';
import { gatherFacts } from '../../src/executor/gather.js';
import { REMOTE_SOURCE_DIR } from '../../src/executor/remote-programs.js';
import { LocalShellHost } from './fixtures.js';

/**
 * The stage-then-swap transaction of `mi-remote activate`, run by the real sh with the real nginx
 * validating a config of its own (`nginx -t -c`) in a temp dir: failures restore, a signal restores,
 * and what a SIGKILL leaves behind is drift that the next activation finishes without losing the
 * last known-good file.
 */
const NGINX_OK = 'server { listen 127.0.0.1:1; return 204; }\n';
const NGINX_BAD = 'server { listen 127.0.0.1:1; this_is_not_a_directive on; }\n';

describe('file transaction (mi-remote activate)', () => {
  let dir: string;
  let runDir: string;
  let host: LocalShellHost;
  let main: string;
  let site: string;
  const file = (path: string, content: string): RenderedFile => ({ path, content, mode: 0o640, owner: 'root', group: 'root', validate: `nginx:${main}`, notify: [] });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mi-tx-'));
    runDir = join(dir, 'run');
    host = new LocalShellHost({ MI_RUN_DIR: runDir });
    main = join(dir, 'nginx.conf');
    site = join(dir, 'site.conf');
    writeFileSync(main, `error_log stderr;\npid ${dir}/nginx.pid;\nevents {}\nhttp { access_log off; include ${site}; }\n`);
    writeFileSync(site, NGINX_OK);
  });

  const leftovers = () => readdirSync(dir).filter((n) => /\.mi-(new|prev|none)/.test(n));

  /** Starts an activation that stops at CHECKPOINT (it takes the hold file); resolves once it is there. */
  async function heldAt(checkpoint: string, files: RenderedFile[]) {
    for (const f of files) expect((await host.run(stageFile(f))).code).toBe(0);
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, `hold-${checkpoint}`), '');
    const argv = activateFiles('activate', files).argv.slice(1);
    const child = spawn(join(REMOTE_SOURCE_DIR, 'mi-remote'), argv, { env: { ...process.env, MI_RUN_DIR: runDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    for (let i = 0; i < 100 && !existsSync(join(runDir, `at-${checkpoint}`)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(runDir, `at-${checkpoint}`))).toBe(true);
    return { child, exited, stderr: () => stderr };
  }

  it('stages without touching the live file, then swaps in with owner and mode', async () => {
    const next = file(site, 'server { listen 127.0.0.1:2; return 204; }\n');
    expect((await host.run(stageFile(next))).code).toBe(0);
    expect(readFileSync(site, 'utf8')).toBe(NGINX_OK);
    const result = await host.run(activateFiles('swap', [next]));
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(site, 'utf8')).toBe(next.content);
    expect(statSync(site).mode & 0o777).toBe(0o640);
    expect(leftovers()).toEqual([]);
  });

  it('restores every previous file and removes new ones when nginx -t fails', async () => {
    const bad = file(site, NGINX_BAD);
    const extra = file(join(dir, 'extra.conf'), 'brand new\n');
    for (const f of [bad, extra]) expect((await host.run(stageFile(f))).code).toBe(0);
    const command = activateFiles('swap', [bad, extra]);
    expect(command.argv).toEqual(['mi-remote', 'activate', '--validate', `nginx:${main}`, '--', site, extra.path]);
    const result = await host.run(command);
    expect(result.code).toBe(10);
    expect(command.errors?.[10]).toBe('MI_ERR_NGINX_INVALID');
    expect(result.stderr).toContain('unknown directive "this_is_not_a_directive"');
    expect(result.stderr).toContain('validation failed; previous files restored');
    expect(readFileSync(site, 'utf8')).toBe(NGINX_OK);
    expect(existsSync(extra.path)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('restores the previous files when it is sent SIGTERM mid-way (a remote timeout)', async () => {
    const held = await heldAt('validated', [file(site, 'server { listen 127.0.0.1:3; return 204; }\n')]);
    expect(readFileSync(site, 'utf8')).toContain('127.0.0.1:3');
    held.child.kill('SIGTERM');
    expect(await held.exited).toBe(15);
    expect(held.stderr()).toContain('interrupted by a signal; previous files restored');
    expect(readFileSync(site, 'utf8')).toBe(NGINX_OK);
    expect(leftovers()).toEqual([]);
  });

  it('still restores when its output has nowhere to go (the SSH link dropped before it failed)', async () => {
    const bad = file(site, NGINX_BAD);
    expect((await host.run(stageFile(bad))).code).toBe(0);
    // stderr is a pipe closed at once: the failure message raises SIGPIPE, which must not skip the rollback.
    const result = await host.run({ ...activateFiles('swap', [bad]), argv: ['sh', '-c', '"$@" 2>&1 | head -c 0', 'sh', ...activateFiles('swap', [bad]).argv] });
    expect(result.code).toBe(0);
    for (let i = 0; i < 20 && leftovers().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(site, 'utf8')).toBe(NGINX_OK);
    expect(leftovers()).toEqual([]);
  });

  it('after SIGKILL the leftover is drift, and the next activation keeps the last known-good file', async () => {
    const unvalidated = file(site, NGINX_BAD);
    const held = await heldAt('swapped', [unvalidated]);
    held.child.kill('SIGKILL');
    await held.exited;
    // The unvalidated file is live, with the known-good one beside it.
    expect(readFileSync(site, 'utf8')).toBe(NGINX_BAD);
    expect(leftovers()).toEqual(['site.conf.mi-prev']);
    const facts = await gatherFacts(host, [fileFact(site)]);
    const state = facts.get(fileFact(site).id) as ReturnType<ReturnType<typeof fileFact>['parse']>;
    expect(state.leftovers).toEqual(['mi-prev']);
    // Even with the same bytes live, the file is not converged: it was never validated.
    expect(fileDiffers(unvalidated, state)).toBe(true);
    // The next run stages and activates again: its validation fails, and the known-good file comes back.
    expect((await host.run(stageFile(unvalidated))).code).toBe(0);
    expect((await host.run(activateFiles('again', [unvalidated]))).code).toBe(10);
    expect(readFileSync(site, 'utf8')).toBe(NGINX_OK);
    expect(leftovers()).toEqual([]);
  });

  it('after SIGKILL of a good change, the next activation validates it and leaves nothing behind', async () => {
    const good = file(site, 'server { listen 127.0.0.1:4; return 204; }\n');
    const created = file(join(dir, 'created.conf'), '# new\n');
    const held = await heldAt('swapped', [good, created]);
    held.child.kill('SIGKILL');
    await held.exited;
    expect(leftovers().sort()).toEqual(['created.conf.mi-none', 'site.conf.mi-prev']);
    for (const f of [good, created]) expect((await host.run(stageFile(f))).code).toBe(0);
    const again = await host.run(activateFiles('again', [good, created]));
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(site, 'utf8')).toBe(good.content);
    expect(readFileSync(created.path, 'utf8')).toBe('# new\n');
    expect(leftovers()).toEqual([]);
  });
});
