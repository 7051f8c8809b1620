import { describe } from 'vitest';
import { operateSuite } from './operate-sandbox.js';
import { upSandboxSuite } from './up-sandbox.js';

describe('up on a fresh Debian 13 sandbox, then day-to-day commands', () => {
  const sb = upSandboxSuite('debian13');
  operateSuite(sb);
});
