import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * `up --sandbox` and `plan --sandbox` check all their input before the first side effect, the sandbox
 * boot: here the boot is a stub that records whether it was reached.
 */
const boot = vi.hoisted(() => vi.fn());
vi.mock('../../src/sandbox/index.js', async (importOriginal) => ({ ...(await importOriginal<object>()), sandboxUp: boot }));
const { register: registerUp } = await import('../../cli/commands/up.js');
const { register: registerPlan } = await import('../../cli/commands/plan.js');

let stderr: string[];
beforeEach(() => {
  stderr = [];
  boot.mockReset().mockRejectedValue(new Error('booted'));
  vi.spyOn(process.stderr, 'write').mockImplementation((t) => (stderr.push(String(t)), true));
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  process.exitCode = undefined;
});

async function run(args: string[]): Promise<void> {
  const program = new Command('messenger-infra').exitOverride();
  registerUp(program);
  registerPlan(program);
  await program.parseAsync(['node', 'messenger-infra', ...args]);
}

describe('input is checked before the sandbox boots', () => {
  it.each([
    [['up', '--sandbox', '--tier', 'huge'], 'error: stack.tier: "huge" must be one of mvp, growth, scale'],
    [['plan', '--sandbox', '--tier', 'huge'], 'error: stack.tier: "huge" must be one of mvp, growth, scale'],
    [['up', '--sandbox', '--verify-ca', '/nonexistent/root.pem'], 'error: stack.verify.ca: file /nonexistent/root.pem does not exist; give the path of an existing file'],
    [['up', '--sandbox', '--host', '203.0.113.7'], 'error: --host: cannot be combined with --sandbox; drop one of them'],
    [['up', '--sandbox', '--provider', 'hcloud'], 'error: --provider: cannot be combined with --host or --sandbox; drop one of them'],
  ])('%j', async (args, message) => {
    await run(args);
    expect(stderr).toEqual([`${message}\n`]);
    expect(process.exitCode).toBe(2);
    expect(boot).not.toHaveBeenCalled();
  });

  it('the JWT secret too', async () => {
    vi.stubEnv('MESSENGER_JWT_SECRET', 'short');
    await run(['up', '--sandbox']);
    expect(stderr).toEqual(['error: MESSENGER_JWT_SECRET: the JWT secret must be at least 32 characters of A-Z a-z 0-9 . _ ~ + / = -; use e.g. `openssl rand -base64 48`\n']);
    expect(boot).not.toHaveBeenCalled();
  });

  it('and good input gets as far as the boot', async () => {
    vi.stubEnv('MESSENGER_JWT_SECRET', undefined);
    await run(['up', '--sandbox', '--os', 'debian12']);
    expect(boot).toHaveBeenCalledWith(expect.objectContaining({ os: 'debian12' }));
    expect(stderr).toEqual(['error: booted (unexpected: please report)\n']);
    expect(process.exitCode).toBe(1);
  });
});
