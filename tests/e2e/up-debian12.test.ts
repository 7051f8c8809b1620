import { describe } from 'vitest';
import { upSandboxSuite } from './up-sandbox.js';

describe('up on a fresh Debian 12 sandbox', () => {
  upSandboxSuite('debian12');
});
