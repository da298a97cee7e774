#!/usr/bin/env node
// Runs every benchmark in this folder in turn; each prints one JSON object on its last line.
// Collects them into one JSON document on stdout (and the per-bench output on stderr).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = fs.readdirSync(here).filter((f) => f.endsWith('.bench.ts')).filter((f) => !only.length || only.some((o) => f.includes(o))).sort();
const results = {};
for (const b of benches) {
  process.stderr.write(`== ${b}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, b)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  process.stderr.write(r.stdout);
  try {
    results[b.replace('.bench.ts', '')] = JSON.parse(last);
  } catch {
    results[b.replace('.bench.ts', '')] = { error: `exit ${r.status}`, output: last };
  }
}
console.log(JSON.stringify(results, null, 2));
