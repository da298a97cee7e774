/**
 * 64 virtual YMODEM units in parallel vs one, through the whole engine (scheduler, journal,
 * events): wall-time ratio, station CPU time, peak RSS and event-loop delay p99 during the run.
 * Link: 921600-baud-equivalent sim serial per unit; image 256 KiB.
 *   node --import tsx test/bench/parallel.bench.ts [units]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { parseTargets } from '../../main/engine/targets.js';

const N = Number(process.argv[2] ?? 64);
const IMAGE_BYTES = 256 * 1024;
const RATE = 92_160;

async function runBatch(units: number): Promise<{ wallMs: number; cpuMs: number; p99Ms: number; maxMs: number; passed: number; peakRssMb: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-bench-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(IMAGE_BYTES, '2.0.0'));
  const engine = Engine.open({ dataDir: dir });
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const targets = parseTargets([`sim:ymodem:${units}`]).map((u) => ({ ...u, sim: { ...u.sim!, link: { bytesPerSecond: RATE } } }));
  const batch = engine.createBatch({ packageId: info.id, units: targets, plan: { concurrency: { global: 1000, perBleAdapter: 6 } } });
  let peakRss = 0;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const h = monitorEventLoopDelay({ resolution: 5 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  h.enable();
  engine.startBatch(batch.batchId);
  const done = await engine.waitForBatch(batch.batchId);
  const wallMs = performance.now() - t0;
  h.disable();
  const cpu = process.cpuUsage(cpu0);
  clearInterval(rssTimer);
  await engine.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { wallMs: Math.round(wallMs), cpuMs: Math.round((cpu.user + cpu.system) / 1000), p99Ms: +(h.percentile(99) / 1e6).toFixed(2), maxMs: +(h.max / 1e6).toFixed(2), passed: done.counts.passed, peakRssMb: Math.round(peakRss / 1048576) };
}

const one = await runBatch(1);
const many = await runBatch(N);
console.log(JSON.stringify({
  bench: 'parallel-units',
  protocol: 'ymodem',
  imageBytes: IMAGE_BYTES,
  linkBytesPerSecond: RATE,
  one,
  many: { units: N, ...many },
  wallRatio: +(many.wallMs / one.wallMs).toFixed(3),
  target: { wallRatioMax: 1.2, eventLoopP99MaxMs: 20 },
}));
