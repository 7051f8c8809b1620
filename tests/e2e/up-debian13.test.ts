import { describe } from 'vitest';
import { upSandboxSuite } from './up-sandbox.js';

describe('up on a fresh Debian 13 sandbox', () => upSandboxSuite('debian13'));
