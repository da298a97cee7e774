/**
 * Issue 9 §5/§6/§10 through the whole engine (scheduler, runner, journal) on virtual units with
 * the vendors' device profiles: ST AN4657 loaders (`sim:ymodem:N:st_iap`, `st_iap_fixed`) with
 * the st-iap-ymodem options, and QuecThing MCUs behaving like Quectel's QthTools simulator
 * (`sim:quecthing-sota:N:qthtools`, `announce_after_register`) with the quectel-mcu options. The
 * image is the product's own firmware (no version descriptor): a rehearsal must pass.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ProtocolId, UnitRef } from '../../main/contract/dto.js';
import { Engine } from '../../main/engine/engine.js';
import { parseTargets } from '../../main/engine/targets.js';
import { ST_IAP_YMODEM_OPTIONS } from '../../main/engine/protocol/ymodem/index.js';

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

/** Firmware without a version descriptor: what a line really flashes. */
const rawFirmware = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff);

async function setup(targets: string[], protocolOptions: Partial<Record<ProtocolId, Record<string, unknown>>>, version: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-vendor-'));
  const img = path.join(dir, 'product-fw.bin');
  fs.writeFileSync(img, rawFirmware(12 * 1024));
  const engine = Engine.open({ dataDir: dir, stationId: 'st-9', operator: 'alice', rebootTimeoutMs: 8000, protocolOptions });
  engines.push(engine);
  const info = await engine.loadPackage(img, { version });
  const units: UnitRef[] = parseTargets(targets).map((u) => ({ ...u, sim: { ...u.sim!, link: { bytesPerSecond: 400_000 } } }));
  return { engine, info, units };
}

const retry = { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200 };

describe('engine on vendor device profiles (issue 9)', () => {
  it('ST IAP loaders, shipped and fixed: every unit passes on the loader verdict + printed size, nothing else claimed', async () => {
    const st = { ...ST_IAP_YMODEM_OPTIONS, menuPromptTimeoutMs: 800, menuRetryMs: 800, controlGapMs: 400, verdictTimeoutMs: 3000 };
    const { engine, info, units } = await setup(['sim:ymodem:3:st_iap', 'sim:ymodem:1:st_iap_fixed'], { ymodem: st }, '3.1.0');
    const batch = engine.createBatch({ packageId: info.id, units, plan: { retry } });
    engine.startBatch(batch.batchId);
    const done = await engine.waitForBatch(batch.batchId);
    expect(done.counts).toMatchObject({ total: 4, passed: 4, failed: 0 });
    for (const j of engine.getJobs(batch.batchId)) {
      expect(j.confirmed?.confirmedBy).toEqual(['loader-verdict', 'size']);
      expect(j.confirmed?.crc32).toBeUndefined(); // the loader reports no CRC: none is claimed
      expect(j.versionAfter).toBeUndefined(); // and no version: nothing to read back
    }
  }, 60_000);

  it('QthTools-like MCUs (late announcement, 200 ms turns, MD5 before =3) and a one-time MD5 failure: all pass, the failure is retried', async () => {
    const qt = { echo: false, announceWindowMs: 4000, urcGapMs: 10, downloadGapMs: 20, updateWindowMs: 15_000 };
    const { engine, info, units } = await setup(
      ['sim:quecthing-sota:2:qthtools', 'sim:quecthing-sota:1:announce_after_register', 'sim:quecthing-sota:1:crc_failure_once'],
      { 'quecthing-sota': qt },
      'V2_0',
    );
    const batch = engine.createBatch({ packageId: info.id, units, plan: { retry } });
    engine.startBatch(batch.batchId);
    const done = await engine.waitForBatch(batch.batchId);
    const jobs = engine.getJobs(batch.batchId);
    expect(done.counts, JSON.stringify(jobs.map((j) => [j.unit.unitId, j.state, j.errorCode, j.message]))).toMatchObject({ total: 4, passed: 4 });
    for (const j of jobs) {
      expect(j.versionBefore).toBe('1.0.0'); // the gate saw the announcement, late or not
      expect(j.versionAfter).toBe('V2_0'); // no descriptor: the MCU boots the version the plan announced
    }
    const once = jobs.find((j) => j.unit.sim?.behaviour === 'crc_failure_once')!;
    expect(once.attempts).toBe(2);
  }, 90_000);
});
