/**
 * LLSync OTA end to end: the engine's job runner, the llsync-ota session, the real
 * @abandonware/noble library over simulated bindings and virtual LLSync peripherals with their
 * own memory, airtime and faults (issue 3 test list).
 */
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { UnitRef } from '../../main/contract/dto.js';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { simDeviceFactories } from '../../main/engine/device/sim-units.js';
import { parseTargets } from '../../main/engine/targets.js';
import { SimTransport } from '../../main/engine/device/sim-transport.js';
import { LlsyncSimDelegate, type LlsyncSimOptions } from '../../main/engine/device/llsync-sim-delegate.js';

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

const fastRetry = { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200 };

async function setup(targets: string[], opts: { imageBytes?: number; sim?: Omit<LlsyncSimOptions, 'dataDir'>; unit?: (u: UnitRef, i: number) => UnitRef; rebootTimeoutMs?: number; llsync?: Record<string, unknown> } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-llsync-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(opts.imageBytes ?? 16 * 1024, '2.0.0'));
  const delegate = new LlsyncSimDelegate({ dataDir: dir, ...opts.sim });
  const sim = new SimTransport({ stateDir: path.join(dir, 'sim-units'), factories: simDeviceFactories, delegates: { 'llsync-ota': delegate } });
  const engine = Engine.open({ dataDir: dir, transports: { sim }, rebootTimeoutMs: opts.rebootTimeoutMs ?? 8000, protocolOptions: { 'llsync-ota': { replyTimeoutMs: 3000, ...opts.llsync } } });
  engines.push(engine);
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const units = parseTargets(targets).map((u, i) => (opts.unit ? opts.unit(u, i) : u));
  return { engine, info, units, delegate, dir };
}

async function run(engine: Engine, packageId: string, units: UnitRef[], perBleAdapter = 6) {
  const batch = engine.createBatch({ packageId, units, plan: { retry: fastRetry, concurrency: { global: 64, perBleAdapter } } });
  engine.startBatch(batch.batchId);
  const done = await engine.waitForBatch(batch.batchId);
  return { done, jobs: engine.getJobs(batch.batchId) };
}

describe('llsync-ota through noble with simulated bindings', () => {
  it('one unit: full OTA, device CRC confirmed, reboots and reports the new version', async () => {
    const { engine, info, units, delegate } = await setup(['sim:llsync-ota:1']);
    const { done, jobs } = await run(engine, info.id, units);
    expect(done.counts).toMatchObject({ total: 1, passed: 1 });
    const j = jobs[0]!;
    expect(j).toMatchObject({ state: 'passed', result: 'ok', versionBefore: '1.0.0', versionAfter: '2.0.0', attempts: 1 });
    expect(j.confirmed.crc32).toBe(info.components[0]!.crc32);
    const dev = delegate.device(units[0]!);
    expect(dev.version).toBe('2.0.0');
    expect(dev.memory.state.resume).toBeNull();
    expect(Buffer.from(dev.memory.readStaging(16 * 1024)).equals(Buffer.from(buildSimImage(16 * 1024, '2.0.0')))).toBe(true);
    const states = engine.getTransitions(j.jobId).map((t) => t.to);
    expect(states).toEqual(['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'passed']);
  });

  it('24 units through one adapter with a limit of 6: all pass, never more than 6 connected', async () => {
    const { engine, info, units, delegate } = await setup(['sim:llsync-ota:24'], { imageBytes: 12 * 1024 });
    const { done, jobs } = await run(engine, info.id, units, 6);
    expect(done.counts).toMatchObject({ total: 24, passed: 24, failed: 0 });
    for (const j of jobs) expect(j.versionAfter).toBe('2.0.0');
    expect(delegate.bindings.maxConnectionsSeen).toBeLessThanOrEqual(6);
    expect(delegate.bindings.maxConnectionsSeen).toBeGreaterThanOrEqual(2); // they really ran side by side
    expect(delegate.bindings.connectsRefused).toBe(0); // connects were queued one at a time
    expect(delegate.bindings.connectionCount).toBe(0);
  }, 90_000);

  it('disconnect at 30 % and at 99 %: resumes from the device-offered offset and passes', async () => {
    const size = 40 * 1024;
    const { engine, info, units } = await setup(['sim:llsync-ota:2'], {
      imageBytes: size,
      unit: (u, i) => ({ ...u, sim: { ...u.sim!, link: { disconnectAtOffset: Math.floor(size * (i === 0 ? 0.3 : 0.99)) } } }),
    });
    const { done, jobs } = await run(engine, info.id, units);
    expect(done.counts).toMatchObject({ passed: 2 });
    for (const [i, j] of jobs.entries()) {
      expect(j.attempts).toBe(2);
      const transfers = engine.getTransitions(j.jobId).filter((t) => t.to === 'transferring');
      expect(transfers).toHaveLength(2);
      const resumedAt = transfers[1]!.progressBytes;
      const cut = Math.floor(size * (i === 0 ? 0.3 : 0.99));
      // The device's record, rounded down to its 4 KB page, never what the station had sent.
      expect(resumedAt % 4096).toBe(0);
      expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThanOrEqual(cut);
      expect(cut - resumedAt).toBeLessThan(4096 + size / 100 + 4096);
    }
  }, 60_000);

  it('a flipped bit: crc_mismatch, retried, then passes', async () => {
    const { engine, info, units } = await setup(['sim:llsync-ota:1:crc_failure_once']);
    const { jobs } = await run(engine, info.id, units);
    const j = jobs[0]!;
    expect(j).toMatchObject({ state: 'passed', attempts: 2, versionAfter: '2.0.0' });
    const failedAttempt = engine.getTransitions(j.jobId).find((t) => t.to === 'backoff');
    expect(failedAttempt?.errorCode ?? j.errorCode).toBeDefined();
    const trace = engine.getTrace(j.jobId).flatMap((t) => t.lines.map((l) => l.text ?? ''));
    expect(trace.some((l) => l.includes('PROTOCOL_CRC_MISMATCH'))).toBe(true);
  });

  it('version refused: version_rejected without retry, device code kept', async () => {
    const { engine, info, units } = await setup(['sim:llsync-ota:1:refuse_version']);
    const { jobs } = await run(engine, info.id, units);
    expect(jobs[0]).toMatchObject({ state: 'failed', result: 'version_rejected', errorCode: 'DEVICE_REJECTED_VERSION', deviceCode: 'llsync:refused:3', attempts: 1 });
  });

  it('never comes back after reboot: timeout in confirming, bounded by the reboot time the device reported (§7.7)', async () => {
    // The engine would wait 60 s; the device said 2 s in its OTA reply, plus a 500 ms margin.
    const { engine, info, units } = await setup(['sim:llsync-ota:1:reboot_timeout'], { rebootTimeoutMs: 60_000, sim: { device: { rebootTimeSec: 2 } }, llsync: { rebootMarginMs: 500 } });
    const { jobs } = await run(engine, info.id, units);
    const j = jobs[0]!;
    expect(j).toMatchObject({ state: 'failed', result: 'timeout', errorCode: 'REBOOT_TIMEOUT' });
    const tr = engine.getTransitions(j.jobId);
    expect(tr.at(-1)).toMatchObject({ from: 'confirming', to: 'failed' });
    const waitedMs = Date.parse(tr.at(-1)!.at) - Date.parse(tr.find((t) => t.to === 'confirming')!.at);
    expect(waitedMs).toBeGreaterThanOrEqual(2000);
    expect(waitedMs).toBeLessThan(30_000); // far below the engine's 60 s: the device's value ruled
  }, 60_000);

  it('hostile devices (garbled, oversized, flooding, replies for another sequence): clean per-unit errors, others pass', async () => {
    const kinds = ['garbled', 'oversized', 'flood', 'wrong-seq'] as const;
    const { engine, info, units } = await setup(['sim:llsync-ota:5'], {
      sim: { deviceFor: (u) => (u.unitId.endsWith(':5') ? undefined : { hostile: kinds[Number(u.unitId.split(':').pop()) - 1] }) },
    });
    const { done, jobs } = await run(engine, info.id, units);
    expect(done.state).toBe('finished');
    for (const j of jobs.slice(0, 3)) {
      expect(`${j.unit.unitId} ${j.state} ${j.errorCode}`).toBe(`${j.unit.unitId} failed PROTOCOL_BAD_FRAME`);
      expect(j.attempts).toBe(3);
    }
    // Replies for another sequence end the attempt; the retry resumes at the device's own record
    // (all bytes stored), so the unit passes only on the device's CRC check.
    const wrongSeq = jobs[3]!;
    expect(engine.getTransitions(wrongSeq.jobId).find((t) => t.to === 'backoff')?.errorCode).toBe('PROTOCOL_BAD_FRAME');
    expect(wrongSeq.attempts).toBeGreaterThanOrEqual(2);
    expect(jobs[4]).toMatchObject({ state: 'passed' });
  }, 60_000);
});
