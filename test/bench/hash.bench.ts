/**
 * Package hashing benchmark: loadPackage on a 100 MiB .bin (read into shared memory, CRC-32 +
 * MD5 + SHA-256 in worker threads) and the main thread's event-loop delay meanwhile.
 * Run: node --import tsx test/bench/hash.bench.ts — prints one JSON object.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadPackage } from '../../main/engine/package/loader.js';

const SIZE_BYTES = 100 * 1024 * 1024;
const RUNS = 5;
const TARGET_MB_PER_S = 300;

const dir = await mkdtemp(join(tmpdir(), 'flashline-bench-'));
try {
  const img = new Uint8Array(SIZE_BYTES);
  for (let i = 0; i < SIZE_BYTES; i += 4) img[i] = (i * 2654435761) >>> 24; // not all zeros: no shortcut for any hash
  const file = join(dir, 'big.bin');
  await writeFile(file, img);

  const delay = monitorEventLoopDelay({ resolution: 5 });
  const timesMs: number[] = [];
  let coldMs = 0;
  for (let run = 0; run <= RUNS; run++) {
    // Run 0 includes worker start-up (tsx compiling the task module); the station pays it once.
    if (run === 1) delay.enable();
    const t0 = performance.now();
    await loadPackage(file, { version: '1.0.0' });
    const ms = performance.now() - t0;
    if (run === 0) coldMs = ms;
    else timesMs.push(ms);
  }
  delay.disable();
  timesMs.sort((a, b) => a - b);
  const medianMs = timesMs[Math.floor(timesMs.length / 2)]!;
  const mb = SIZE_BYTES / (1024 * 1024);
  const throughput = mb / (medianMs / 1000);
  console.log(
    JSON.stringify({
      bench: 'package-hash',
      sizeMiB: mb,
      hashes: ['crc32', 'md5', 'sha256'],
      cpus: availableParallelism(),
      runs: RUNS,
      coldLoadMs: Math.round(coldMs),
      medianLoadMs: Math.round(medianMs),
      bestLoadMs: Math.round(timesMs[0]!),
      throughputMBps: Math.round(throughput),
      targetMBps: TARGET_MB_PER_S,
      meetsTarget: throughput >= TARGET_MB_PER_S,
      eventLoopDelayP99Ms: Number((delay.percentile(99) / 1e6).toFixed(2)),
      eventLoopDelayMaxMs: Number((delay.max / 1e6).toFixed(2)),
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
