import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StationError } from '../../main/engine/errors.js';
import { loadPackage } from '../../main/engine/package/loader.js';
import type * as tasks from '../../main/engine/package/package-tasks.js';
import { defineTask, runInWorker, siblingModule, WorkerPool } from '../../main/engine/workers/worker-pool.js';

const TASKS = siblingModule(new URL('../../main/engine/package/loader.ts', import.meta.url).href, 'package-tasks');
const digest = defineTask<typeof tasks.digest>(TASKS, 'digest');
const unpackZip = defineTask<typeof tasks.unpackZip>(TASKS, 'unpackZip');

describe('worker pool', () => {
  const pool = new WorkerPool({ size: 1 });
  afterAll(() => pool.close());

  it('runs a TypeScript task module in a worker thread; shared memory is seen, not copied', async () => {
    const bytes = new Uint8Array(new SharedArrayBuffer(1000)).fill(7);
    const out = await pool.run(digest, { bytes, algorithms: ['sha256'] });
    expect(out.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('queues tasks beyond its size and runs them all', async () => {
    const inputs = [1, 2, 3, 4].map((v) => new Uint8Array(16).fill(v));
    const outs = await Promise.all(inputs.map((bytes) => pool.run(digest, { bytes, algorithms: ['md5'] })));
    expect(outs.map((o) => o.md5)).toEqual(inputs.map((b) => createHash('md5').update(b).digest('hex')));
  });

  it('rebuilds a StationError thrown in the worker with its code', async () => {
    const err = await pool.run(unpackZip, { zip: new Uint8Array(40), maxBytes: 1000, label: 'x.zip' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StationError);
    expect(err).toMatchObject({ code: 'IMAGE_ZIP_INVALID', message: expect.stringContaining('x.zip') });
  });

  it('rejects a task whose export does not exist, and keeps working', async () => {
    await expect(pool.run(defineTask<(i: number) => number>(TASKS, 'nope'), 1)).rejects.toThrow(/no task export "nope"/);
    await expect(pool.run(digest, { bytes: new Uint8Array(1), algorithms: ['crc32'] })).resolves.toEqual({ crc32: 'd202ef8d' });
  });

  it('refuses work after close', async () => {
    const p = new WorkerPool({ size: 1 });
    await p.close();
    await expect(p.run(digest, { bytes: new Uint8Array(1), algorithms: ['md5'] })).rejects.toThrow(/closed/);
  });

  it('the shared pool serves runInWorker', async () => {
    await expect(runInWorker(digest, { bytes: new Uint8Array(0), algorithms: ['crc32'] })).resolves.toEqual({ crc32: '00000000' });
  });
});

describe('loading 100 MB keeps the main thread responsive', () => {
  it('the main thread stays mostly idle while the package is read and hashed (hashing runs in workers)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flashline-big-'));
    try {
      const size = 100 * 1024 * 1024;
      const img = new Uint8Array(size);
      for (let i = 0; i < size; i += 4096) img[i] = i & 0xff;
      const p = join(dir, 'big.bin');
      await writeFile(p, img);
      // Warm the pool so worker start-up (tsx compiling the task module) is not in the measurement window.
      await runInWorker(digest, { bytes: new Uint8Array(1), algorithms: ['md5'] });
      // Event-loop utilisation measures the share of time the main thread was busy: hashing
      // 100 MB on it would keep it near 1. A wall-clock stall bound would flake on a loaded CI
      // machine; the gap figures live in test/bench/hash.bench.ts.
      const elu0 = performance.eventLoopUtilization();
      const { images } = await loadPackage(p, { version: '1.0.0', maxBytes: size });
      const elu = performance.eventLoopUtilization(elu0);
      expect(images[0]!.info.md5).toBe(createHash('md5').update(img).digest('hex'));
      expect(elu.utilization).toBeLessThan(0.5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
