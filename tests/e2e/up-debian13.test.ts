import { describe } from 'vitest';
import { operateSuite } from './operate-sandbox.js';
import { dbImportSuite } from './db-import-sandbox.js';
import { nestSuite } from './nest-sandbox.js';
import { bundledReleaseSuite } from './release-sandbox.js';
import { upSandboxSuite } from './up-sandbox.js';

describe('up on a fresh Debian 13 sandbox, day-to-day commands, then the user\'s own NestJS backend', () => {
  const sb = upSandboxSuite('debian13');
  operateSuite(sb);
  dbImportSuite(sb, 'debian13');
  bundledReleaseSuite(sb);
  nestSuite(sb);
});
