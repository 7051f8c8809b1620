#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so a clone works without a separate build step.
import { register } from 'tsx/esm/api';
register();
await import('../cli/index.ts');
