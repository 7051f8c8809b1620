import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeError, runAction, type ActionOptions } from '../../cli/run-action.js';
import { ConfigError, MiError } from '../../src/errors/index.js';

/** Every command's failure reads the same: one line, the catalogue's exit code, never a stack trace. */
describe('describeError', () => {
  it('prints a known error as one line with its exit code', () => {
    const r = describeError(new ConfigError('--domain', '"x" must be a hostname like chat.example.com'), {});
    expect(r).toMatchObject({ code: 'MI_ERR_CONFIG', exitCode: 2, line: 'error: --domain: "x" must be a hostname like chat.example.com\n' });
    expect(describeError(new MiError('MI_ERR_SSH_CONNECT', 'cannot connect to root@h:22: ECONNREFUSED'), {}).exitCode).toBe(1);
  });

  it('marks an unexpected error, on one line and without a stack, unless MI_DEBUG=1', () => {
    const err = new TypeError('undefined is not a function\n    at somewhere');
    const r = describeError(err, {});
    expect(r).toMatchObject({ code: 'MI_ERR_INTERNAL', exitCode: 1, line: 'error: undefined is not a function (unexpected: please report)\n' });
    expect(describeError(err, { MI_DEBUG: '1' }).line).toContain(err.stack!);
    expect(describeError('a string', {}).line).toBe('error: a string (unexpected: please report)\n');
  });
});

describe('runAction', () => {
  let stdout: string[];
  let stderr: string[];
  beforeEach(() => {
    stdout = [];
    stderr = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((t) => (stdout.push(String(t)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((t) => (stderr.push(String(t)), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  async function run(args: string[], action: () => number | void, options?: ActionOptions): Promise<void> {
    const program = new Command('mi').exitOverride();
    program.command('x').option('--json').action(runAction(action, options));
    await program.parseAsync(['node', 'mi', 'x', ...args]);
  }

  it('sets the exit code the action returns', async () => {
    await run([], () => 4);
    expect(process.exitCode).toBe(4);
    expect(stderr).toEqual([]);
  });

  it('bad input: one line on stderr, exit 2, nothing on stdout', async () => {
    await run([], () => {
      throw new ConfigError('stack.tier', '"huge" must be one of mvp, growth, scale');
    });
    expect(stderr).toEqual(['error: stack.tier: "huge" must be one of mvp, growth, scale\n']);
    expect(stdout).toEqual([]);
    expect(process.exitCode).toBe(2);
  });

  it('with --json, the error also goes to stdout as one object (default shape, or the command own)', async () => {
    const fail = () => {
      throw new MiError('MI_ERR_PULUMI_MISSING', 'the pulumi CLI is not on PATH');
    };
    await run(['--json'], fail);
    expect(stdout.map((l) => JSON.parse(l))).toEqual([{ type: 'error', code: 'MI_ERR_PULUMI_MISSING', message: 'the pulumi CLI is not on PATH' }]);
    expect(stderr).toEqual(['error: the pulumi CLI is not on PATH\n']);
    stdout.length = 0;
    await run(['--json'], fail, { jsonError: ({ code, message }) => ({ error: { code, message } }) });
    expect(stdout.map((l) => JSON.parse(l))).toEqual([{ error: { code: 'MI_ERR_PULUMI_MISSING', message: 'the pulumi CLI is not on PATH' } }]);
  });
});

describe('the binary', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/messenger-infra.js', ...args], { encoding: 'utf8', cwd: new URL('../../', import.meta.url).pathname, timeout: 60_000 });

  it('destroy without --yes off a terminal: one line, exit 2, no stack trace', () => {
    const r = cli('destroy');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: destroy: stdin is not a terminal, refusing to delete stack "main" without --yes; fix: .*\n$/);
  });

  it('commander usage errors and enumerations outside their choices: one line, exit 2', () => {
    for (const args of [['up', '--provider', 'aws'], ['up', '--sandbox', '--os', 'debian11'], ['sandbox', 'up', '--os', 'debian11'], ['render', '--phase', 'x'], ['up', '--no-such-flag']]) {
      const r = cli(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: /);
    }
    expect(cli('up', '--provider', 'aws').stderr).toBe("error: option '--provider <name>' argument 'aws' is invalid. Allowed choices are beget, hcloud.\n");
  });
});
