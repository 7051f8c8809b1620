import { describe } from 'vitest';
import { useSandbox } from '../helpers/sandbox.js';
import { backupSuite } from './backup-sandbox.js';

describe('backups off the host on a Debian 13 sandbox: backup, the host lost, restore on a fresh one', () => {
  backupSuite(useSandbox('debian13'));
});
