import { describe } from 'vitest';
import { dbImportSuite } from './db-import-sandbox.js';
import { upSandboxSuite } from './up-sandbox.js';

describe('up on a fresh Debian 12 sandbox (scored by lynis before and after, grown to the scale tier and back), then a shared host\'s MySQL 8 and phpMyAdmin dumps imported', () => {
  dbImportSuite(upSandboxSuite('debian12', { lynis: true, scale: true }), 'debian12');
});
