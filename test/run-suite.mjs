#!/usr/bin/env node
// The whole test suite: type-check (node code with tsc, the renderer's .vue files with vue-tsc),
// then every unit and integration test (vitest) — among them test/integration/engine-host.test.ts,
// which builds the desktop bundles and runs the built engine host in plain Node.
// Ends with the plain "N passed, N failed" line CI reads.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (n) => path.join(root, 'node_modules', '.bin', n);
const tc = spawnSync(bin('tsc'), ['-p', 'tsconfig.node.json'], { cwd: root, stdio: 'inherit' });
if (tc.status !== 0) console.log('type-check failed (tsconfig.node.json)');
const vt = spawnSync(bin('vue-tsc'), ['-p', 'tsconfig.web.json', '--noEmit'], { cwd: root, stdio: 'inherit' });
if (vt.status !== 0) console.log('type-check failed (vue-tsc, tsconfig.web.json)');
const tests = spawnSync(bin('vitest'), ['run', '--config', 'test/vitest.config.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(tc.status !== 0 || vt.status !== 0 || tests.status !== 0 ? 1 : 0);
