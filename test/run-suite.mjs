#!/usr/bin/env node
// The whole test suite: type-check, then every unit and integration test (vitest).
// Ends with the plain "N passed, N failed" line CI reads.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (n) => path.join(root, 'node_modules', '.bin', n);
const tc = spawnSync(bin('tsc'), ['-p', 'tsconfig.node.json'], { cwd: root, stdio: 'inherit' });
if (tc.status !== 0) {
  console.log('type-check failed');
}
const vt = spawnSync(bin('vitest'), ['run', '--config', 'test/vitest.config.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(tc.status !== 0 || vt.status !== 0 ? 1 : 0);
