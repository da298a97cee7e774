/**
 * The whole engine on virtual YMODEM units: scheduler, job runner, journal, events, reports.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BatchEvent, UnitRef } from '../../main/contract/dto.js';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { parseTargets } from '../../main/engine/targets.js';
import { verifyReport } from '../../main/engine/report/index.js';

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup(targets: string[], imageBytes = 24 * 1024) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-engine-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(imageBytes, '2.0.0'));
  const engine = Engine.open({ dataDir: dir, stationId: 'st-7', operator: 'alice', rebootTimeoutMs: 3000 });
  engines.push(engine);
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const units: UnitRef[] = parseTargets(targets).map((u) => ({ ...u, sim: { ...u.sim!, link: { bytesPerSecond: 400_000 } } }));
  return { engine, info, units, dir };
}

/** Start a batch and resolve with the reason it pauses itself for (undefined if it never does within 20 s). */
async function startUntilPaused(engine: Engine, batchId: string): Promise<string | undefined> {
  let paused: string | undefined;
  engine.subscribe(batchId, (e) => {
    if (e.batch?.state === 'paused') paused = e.batch.pausedReason;
  });
  engine.startBatch(batchId);
  const t0 = Date.now();
  while (!paused && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
  return paused;
}

const fastRetry = { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200 };

describe('engine on virtual units', () => {
  it('24 units with 3 faulty ones: 21 pass, faults carry their codes, events are a snapshot then coalesced deltas', async () => {
    const { engine, info, units } = await setup(['sim:ymodem:21', 'sim:ymodem:1:crc_failure', 'sim:ymodem:1:refuse_version', 'sim:ymodem:1:reboot_timeout']);
    const batch = engine.createBatch({ packageId: info.id, units, plan: { retry: fastRetry, concurrency: { global: 8, perBleAdapter: 6 } } });
    const events: (BatchEvent & { at: number })[] = [];
    engine.subscribe(batch.batchId, (e) => events.push({ ...e, at: performance.now() }));
    engine.startBatch(batch.batchId);
    const done = await engine.waitForBatch(batch.batchId);
    expect(done.state).toBe('finished');
    expect(done.counts).toMatchObject({ total: 24, passed: 21, failed: 3 });
    const jobs = engine.getJobs(batch.batchId);
    const byBehaviour = (b: string) => jobs.find((j) => j.unit.sim?.behaviour === b)!;
    expect(byBehaviour('crc_failure')).toMatchObject({ result: 'crc_mismatch', errorCode: 'PROTOCOL_CRC_MISMATCH', attempts: 3 });
    expect(byBehaviour('refuse_version')).toMatchObject({ result: 'version_rejected', attempts: 1 });
    expect(byBehaviour('reboot_timeout')).toMatchObject({ result: 'timeout', errorCode: 'REBOOT_TIMEOUT' });
    for (const j of jobs.filter((x) => x.state === 'passed')) {
      expect(j.versionAfter).toBe('2.0.0');
      expect(j.confirmed.crc32).toBe(info.components[0]!.crc32);
    }
    // events: snapshot first, strictly increasing revisions, at most ~10 per second
    expect(events[0]!.type).toBe('snapshot');
    const deltas = events.slice(1);
    for (let i = 1; i < deltas.length; i++) expect(deltas[i]!.rev).toBeGreaterThan(deltas[i - 1]!.rev);
    for (let i = 1; i < deltas.length; i++) expect(deltas[i]!.at - deltas[i - 1]!.at).toBeGreaterThanOrEqual(0);
    const spanS = (deltas[deltas.length - 1]!.at - deltas[0]!.at) / 1000;
    expect(deltas.length).toBeLessThanOrEqual(Math.ceil(spanS * 10) + 3);
    // the final state of every job was published
    const lastSeen = new Map<string, string>();
    for (const e of events) for (const j of e.jobs) lastSeen.set(j.jobId, j.state);
    for (const j of jobs) expect(lastSeen.get(j.jobId)).toBe(j.state);
    // journal agrees, with transitions and a trace for the failed unit
    const failed = byBehaviour('crc_failure');
    const tr = engine.getTransitions(failed.jobId).map((t) => t.to);
    expect(tr.filter((s) => s === 'backoff')).toHaveLength(2);
    expect(tr[tr.length - 1]).toBe('failed');
    expect(engine.getTrace(failed.jobId).length).toBeGreaterThan(0);
  });

  it('reports export from the journal and verify; CSV rows match the journal', async () => {
    const { engine, info, units } = await setup(['sim:ymodem:3', 'sim:ymodem:1:crc_failure']);
    const batch = engine.createBatch({ packageId: info.id, units, plan: { retry: { ...fastRetry, maxAttempts: 1 } } });
    engine.startBatch(batch.batchId);
    await engine.waitForBatch(batch.batchId);
    for (const f of ['csv', 'json', 'html'] as const) {
      const text = engine.report(batch.batchId, f);
      expect(verifyReport(text)).toMatchObject({ ok: true, rows: 4 });
    }
    const csv = engine.report(batch.batchId, 'csv');
    for (const j of engine.getJobs(batch.batchId)) {
      const row = csv.split('\n').find((l) => l.includes(j.unit.unitId));
      expect(row).toBeDefined();
      expect(row).toContain(j.result === 'ok' ? 'ok' : 'crc_mismatch');
    }
  });

  it('deny wins over allow; units outside the allow list are skipped with a reason', async () => {
    const { engine, info, units } = await setup(['sim:ymodem:4']);
    const batch = engine.createBatch({ packageId: info.id, units, plan: { allow: ['sim:ymodem:1', 'sim:ymodem:2', units[2]!.serialNumber!], deny: ['sim:ymodem:2'] } });
    engine.startBatch(batch.batchId);
    const done = await engine.waitForBatch(batch.batchId);
    const jobs = engine.getJobs(batch.batchId);
    expect(jobs.map((j) => j.state)).toEqual(['passed', 'skipped', 'passed', 'skipped']);
    expect(jobs[1]!.message).toMatch(/deny/);
    expect(jobs[3]!.message).toMatch(/allow/);
    expect(done.counts).toMatchObject({ passed: 2, skipped: 2 });
  });

  it('a second batch skips units already at the target (version gate)', async () => {
    const { engine, info, units } = await setup(['sim:ymodem:2']);
    const b1 = engine.createBatch({ packageId: info.id, units });
    engine.startBatch(b1.batchId);
    await engine.waitForBatch(b1.batchId);
    const b2 = engine.createBatch({ packageId: info.id, units });
    engine.startBatch(b2.batchId);
    const done = await engine.waitForBatch(b2.batchId);
    expect(done.counts).toMatchObject({ skipped: 2, passed: 0 });
    expect(engine.getJobs(b2.batchId)[0]!.message).toMatch(/already at 2.0.0/);
  });

  it('stop-the-line pauses the batch after K failures in a row; resume continues', async () => {
    const { engine, info, units } = await setup(['sim:ymodem:2:refuse_version', 'sim:ymodem:3']);
    const batch = engine.createBatch({ packageId: info.id, units, plan: { concurrency: { global: 1, perBleAdapter: 6 }, stopTheLine: { consecutiveFailures: 2 } } });
    const paused = await startUntilPaused(engine, batch.batchId);
    expect(paused).toMatch(/stop-the-line: 2 failures in a row/);
    await new Promise((r) => setTimeout(r, 300));
    expect(engine.getBatch(batch.batchId)!.counts).toMatchObject({ failed: 2, passed: 0 });
    await engine.resumeBatch(batch.batchId);
    const done = await engine.waitForBatch(batch.batchId);
    expect(done.counts).toMatchObject({ failed: 2, passed: 3 });
  });

  it('stop-the-line pauses on a failure rate once enough units finished', async () => {
    const { engine, info, units } = await setup(['sim:ymodem:1', 'sim:ymodem:2:refuse_version', 'sim:ymodem:3']);
    const batch = engine.createBatch({ packageId: info.id, units, plan: { concurrency: { global: 1, perBleAdapter: 6 }, stopTheLine: { failureRate: 0.5, minFinished: 3 } } });
    const paused = await startUntilPaused(engine, batch.batchId);
    // 1 passed + 2 failed: 67 % > 50 % after 3 finished units
    expect(paused).toMatch(/stop-the-line: failure rate 67 % over 50 %/);
    await new Promise((r) => setTimeout(r, 300));
    expect(engine.getBatch(batch.batchId)!.counts).toMatchObject({ passed: 1, failed: 2, queued: 3 });
  });

  it('cancel one unit, then the batch; retry a cancelled unit', async () => {
    const { engine, info, units } = await setup(['sim:ymodem:4'], 200 * 1024);
    const slow = units.map((u) => ({ ...u, sim: { ...u.sim!, link: { bytesPerSecond: 100_000 } } }));
    const batch = engine.createBatch({ packageId: info.id, units: slow, plan: { concurrency: { global: 2, perBleAdapter: 6 } } });
    engine.startBatch(batch.batchId);
    await new Promise((r) => setTimeout(r, 600));
    const [first] = engine.getJobs(batch.batchId);
    expect(engine.cancelJob(batch.batchId, first!.jobId)).toBe(true);
    engine.cancelBatch(batch.batchId);
    const done = await engine.waitForBatch(batch.batchId);
    expect(done.state).toBe('cancelled');
    expect(done.counts.cancelled).toBe(4);
    expect(engine.retryJob(batch.batchId, first!.jobId)).toBe(true);
    const again = await engine.waitForBatch(batch.batchId);
    expect(engine.getJobs(batch.batchId)[0]!.state).toBe('passed');
    expect(again.counts.passed).toBe(1);
  });
});
