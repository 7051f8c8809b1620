import { defineConfig } from 'vitest/config';

/**
 * `npm run test:unit`: the pure tests only — fixtures as data (facts → exact argv), rendering, config,
 * the CLI's wiring, the remote programs run by the local sh. No root, no Debian packages, no sandbox,
 * no host; under a minute. `npm test` runs these and everything else.
 */
export default defineConfig({
  test: {
    include: [
      'tests/app/protocol.test.ts',
      'tests/app/reconnect-unit.test.ts',
      'tests/app/relay.test.ts',
      'tests/cli/**/*.test.ts',
      'tests/config/**/*.test.ts',
      'tests/errors/**/*.test.ts',
      'tests/core/config.test.ts',
      'tests/core/backup.test.ts',
      'tests/core/backup-step.test.ts',
      'tests/core/dump.test.ts',
      'tests/core/logs.test.ts',
      'tests/core/status.test.ts',
      'tests/core/release.test.ts',
      'tests/core/limits.test.ts',
      'tests/core/harden.test.ts',
      'tests/app/drain-spread.test.ts',
      'tests/app/readiness.test.ts',
      'tests/core/render.test.ts',
      'tests/core/render-app.test.ts',
      'tests/core/sizing.test.ts',
      'tests/core/steps-plan.test.ts',
      'tests/core/tar.test.ts',
      'tests/executor/bundle.test.ts',
      'tests/executor/converge.test.ts',
      'tests/executor/gather.test.ts',
      'tests/executor/known-hosts.test.ts',
      'tests/infra/beget-provider.test.ts',
      'tests/infra/program.test.ts',
      'tests/remote/programs.test.ts',
      'tests/remote/app-programs.test.ts',
      'tests/sandbox/preflight.test.ts',
      'tests/verify/app-options.test.ts',
      'tests/verify/runner.test.ts',
      'tests/verify/target.test.ts',
    ],
    testTimeout: 30_000,
    reporters: ['default'],
  },
});
