/**
 * quecthing-sota through the whole engine over real PTYs: 8 virtual QuecThing MCUs, each on
 * the far end of its own socat pair, the station on the near end with the real serialport
 * library, all 8 upgraded in parallel with multi-piece downloads; plus an engine run with
 * faulty MCUs whose codes reach the journal.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Engine } from '../../main/engine/engine.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualQuecthingMcu, type QuecthingMcuFault } from '../../main/engine/device/quecthing-mcu.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { parseTargets } from '../../main/engine/targets.js';
import { createPtyPair, describeWithTools, openDevicePort } from '../helpers/pty.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const STATION = { urcGapMs: 10, downloadGapMs: 20, readIdleTimeoutMs: 3000, updateWindowMs: 8000, identifyTimeoutMs: 8000, pieceSizeBytes: 16 * 1024 };

async function bench(faults: QuecthingMcuFault[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-qt-pty-'));
  const benches = [];
  for (const [i, fault] of faults.entries()) {
    const pty = await createPtyPair(fs.mkdtempSync(path.join(dir, 'pty-')));
    cleanups.push(() => pty.close());
    const port = await openDevicePort(pty.devicePath);
    cleanups.push(() => port.close());
    const memory = new DeviceMemory({ version: '1.0.0', serialNumber: `QT-${i + 1}` });
    const mcu = new VirtualQuecthingMcu(memory, { fault, bootMs: 20, flashMs: 50 });
    cleanups.push(() => mcu.dispose());
    benches.push({ pty, port, memory, mcu, fault });
  }
  const engine = Engine.open({ dataDir: dir, stationId: 'st-qt', operator: 'qa', protocolOptions: { 'quecthing-sota': STATION }, rebootTimeoutMs: 10_000 });
  cleanups.push(() => engine.close());
  const img = path.join(dir, 'mcu-2.0.0.bin');
  const image = buildSimImage(50_000, '2.0.0');
  fs.writeFileSync(img, image);
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const units = parseTargets(benches.map((b) => `serial:${b.pty.hostPath}@115200:quecthing-sota`));
  return { engine, info, units, benches, image };
}

describeWithTools(['socat'], 'quecthing-sota over real PTYs with serialport', () => {
  it('8 MCUs on 8 PTYs in parallel: all pass, each MCU holds the exact image and runs 2.0.0', async () => {
    const { engine, info, units, benches, image } = await bench(Array.from({ length: 8 }, () => 'none' as const));
    const batch = engine.createBatch({ packageId: info.id, units, plan: { retry: { maxAttempts: 1, backoffMs: 100, backoffMaxMs: 100 } } });
    engine.startBatch(batch.batchId);
    // Power the MCUs once the station has its ports open; they poll `AT` until the module answers.
    await new Promise((r) => setTimeout(r, 150));
    for (const b of benches) b.mcu.attach(b.port);
    const running = new Set<number>();
    let maxRunning = 0;
    engine.subscribe(batch.batchId, (e) => {
      for (const j of e.jobs) {
        const idx = units.findIndex((u) => u.unitId === j.unit.unitId);
        if (j.state === 'transferring') running.add(idx);
        else running.delete(idx);
      }
      maxRunning = Math.max(maxRunning, running.size);
    });
    const done = await engine.waitForBatch(batch.batchId);
    await new Promise((r) => setTimeout(r, 300)); // the last URC is still crossing socat when the job ends
    const jobs = engine.getJobs(batch.batchId);
    expect(jobs.map((j) => `${j.unit.address} ${j.state} ${j.errorCode ?? ''}`)).toEqual(units.map((u) => `${u.address} passed `));
    expect(done.counts).toMatchObject({ total: 8, passed: 8 });
    expect(maxRunning).toBeGreaterThan(1); // really in parallel
    for (const j of jobs) {
      expect(j).toMatchObject({ versionBefore: '1.0.0', versionAfter: '2.0.0', progressBytes: image.length, result: 'ok', attempts: 1 });
      expect(j.unit.transport).toBe('serial');
    }
    for (const b of benches) {
      expect(b.memory.state.version).toBe('2.0.0');
      expect(Buffer.compare(Buffer.from(b.memory.readStaging(image.length)), Buffer.from(image))).toBe(0);
      // 50 000 B in 16 KiB pieces: 4 pieces → 4 × 10703.
      expect(b.mcu.heard.filter((l) => l.startsWith('+QIOTEVT: 7,10703')).length).toBe(4);
      expect(b.mcu.heard).toContain('+QIOTEVT: 7,10705');
    }
    const trace = engine.getTrace(jobs[0]!.jobId);
    expect(trace[0]!.lines.some((l) => l.text?.includes('event 10705'))).toBe(true);
  });

  it('faulty MCUs over PTYs: each fault ends in its result code, journaled with the raw event code', async () => {
    const faults: QuecthingMcuFault[] = ['refuse_plan', 'corrupt_copy', 'stop_reading', 'garbage'];
    const { engine, info, units, benches } = await bench(faults);
    const batch = engine.createBatch({ packageId: info.id, units, plan: { retry: { maxAttempts: 1, backoffMs: 100, backoffMaxMs: 100 } } });
    engine.startBatch(batch.batchId);
    await new Promise((r) => setTimeout(r, 150));
    for (const b of benches) b.mcu.attach(b.port);
    await engine.waitForBatch(batch.batchId);
    const jobs = engine.journal.getJobs(batch.batchId);
    const by = (f: QuecthingMcuFault) => jobs[faults.indexOf(f)]!;
    expect(by('refuse_plan')).toMatchObject({ state: 'failed', result: 'version_rejected', errorCode: 'DEVICE_REJECTED_VERSION', deviceCode: 'AT+QIOTUPDATE=0' });
    // Issue 9 §6: the old version reported after the reads is the MCU's MD5 failure (retryable; one attempt here).
    expect(by('corrupt_copy')).toMatchObject({ state: 'failed', result: 'md5_mismatch', errorCode: 'SOTA_MD5_FAILED', deviceCode: '10706' });
    expect(by('stop_reading')).toMatchObject({ state: 'failed', result: 'timeout', errorCode: 'SOTA_READ_TIMEOUT', deviceCode: '10706' });
    expect(by('garbage')).toMatchObject({ state: 'passed', result: 'ok', versionAfter: '2.0.0' });
  });
});
