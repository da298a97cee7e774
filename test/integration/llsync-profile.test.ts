/**
 * The llsync-ota product profile end to end: bound units and the per-unit PSK CSV (§6.1/§6.2)
 * through the real CLI and engine, option validation, the three MTU-result modes (§5) and a
 * device whose flash writes stall (slow_flash) — all through real noble over simulated bindings.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlashSummary, UnitRef } from '../../main/contract/dto.js';
import { systemClock } from '../../main/engine/clock.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { simDeviceFactories } from '../../main/engine/device/sim-units.js';
import { Engine } from '../../main/engine/engine.js';
import { LLSYNC_CHAR_DEVICE_INFO } from '../../main/engine/protocol/llsync-ota/frames.js';
import { LlsyncSession } from '../../main/engine/protocol/llsync-ota/session.js';
import type { FirmwareImage } from '../../main/engine/protocol/types.js';
import { parseTargets } from '../../main/engine/targets.js';
import type { GattLink } from '../../main/engine/transport/types.js';
import { LlsyncSimDelegate, simUnitDir, writeBindRecord, type LlsyncSimOptions } from '../../main/engine/device/llsync-sim-delegate.js';
import { SimTransport } from '../../main/engine/device/sim-transport.js';
import { lastJson, runCli } from '../helpers/cli.js';

const BOUND_PSK = 'a1b2c3d4';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-llprofile-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function writeImage(dir: string, bytes: number): string {
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(bytes, '2.0.0'));
  return img;
}

async function engineRun(targets: string[], opts: { imageBytes?: number; sim?: Omit<LlsyncSimOptions, 'dataDir'>; llsync?: Record<string, unknown>; prepare?: (dir: string, units: UnitRef[]) => void }) {
  const dir = tmpDir();
  const img = writeImage(dir, opts.imageBytes ?? 12 * 1024);
  const units = parseTargets(targets);
  opts.prepare?.(dir, units);
  const delegate = new LlsyncSimDelegate({ dataDir: dir, ...opts.sim });
  const sim = new SimTransport({ stateDir: path.join(dir, 'sim-units'), factories: simDeviceFactories, delegates: { 'llsync-ota': delegate } });
  const engine = Engine.open({ dataDir: dir, transports: { sim }, rebootTimeoutMs: 8000, protocolOptions: { 'llsync-ota': { replyTimeoutMs: 1500, ...opts.llsync } } });
  cleanups.push(() => engine.close());
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const batch = engine.createBatch({ packageId: info.id, units, plan: { retry: { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200 }, concurrency: { global: 8, perBleAdapter: 6 } } });
  engine.startBatch(batch.batchId);
  await engine.waitForBatch(batch.batchId);
  return { engine, delegate, units, jobs: engine.getJobs(batch.batchId) };
}

describe('per-unit PSKs for bound units (§6.1, §6.2)', () => {
  it('CLI: a bound unit fails with LLSYNC_PSK_UNKNOWN after one attempt without the CSV, and passes with --opt llsync-ota.pskCsvPath', async () => {
    const dir = tmpDir();
    const img = writeImage(dir, 8 * 1024);
    const [unit] = parseTargets(['sim:llsync-ota:1']);
    // The unit's bind record in its flash: a host bound it with this local PSK (§6.2).
    writeBindRecord(simUnitDir(dir, unit!.unitId), { localPsk: BOUND_PSK, bindId: '1122334455667788' });
    const base = ['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:llsync-ota:1', '--retries', '2', '--json', '--data-dir', dir, '--opt', 'llsync-ota.replyTimeoutMs=1500'];

    const without = await runCli(base);
    expect(without.code).toBe(1);
    const s1 = lastJson<FlashSummary>(without.stdout);
    expect(s1.units[0]).toMatchObject({ unit: 'sim:llsync-ota:1', result: 'station_error', code: 'LLSYNC_PSK_UNKNOWN', attempts: 1 });
    expect(without.stderr).toMatch(/PSK list|pskCsvPath/); // the operator is told what to do

    const csv = path.join(dir, 'line-3-psk.csv');
    fs.writeFileSync(csv, `unit,psk\n# exported from the bind tool\nSIMLLSY0002,0badf00d\n${unit!.serialNumber},${BOUND_PSK}\n`);
    const withCsv = await runCli([...base, '--opt', `llsync-ota.pskCsvPath=${csv}`, '--opt', 'llsync-ota.productId=FLSIMLLSYN']);
    expect(withCsv.code).toBe(0);
    const s2 = lastJson<FlashSummary>(withCsv.stdout);
    expect(s2.units[0]).toMatchObject({ result: 'ok', attempts: 1 });
  }, 60_000);

  it('engine: a CSV keyed by device name matches a bound unit by its advertised identity; a wrong product id is LLSYNC_AUTH_SIGNATURE, not retried', async () => {
    const bindAll = (dir: string, units: UnitRef[]) => units.forEach((u) => writeBindRecord(simUnitDir(dir, u.unitId), { localPsk: BOUND_PSK, bindId: '0000000000000001' }));
    const byName = (dir: string) => {
      const csv = path.join(dir, 'names.csv');
      fs.writeFileSync(csv, `dev0001,${BOUND_PSK}\ndev0002,${BOUND_PSK}\n`);
      return csv;
    };
    let csv = '';
    const ok = await engineRun(['sim:llsync-ota:2'], {
      prepare: (dir, units) => {
        bindAll(dir, units);
        csv = byName(dir);
      },
      llsync: { productId: 'FLSIMLLSYN', get pskCsvPath() {
        return csv;
      } },
    });
    for (const j of ok.jobs) expect(j).toMatchObject({ state: 'passed', versionAfter: '2.0.0', attempts: 1 });

    const wrongProduct = await engineRun(['sim:llsync-ota:1'], {
      prepare: (dir, units) => {
        bindAll(dir, units);
        csv = byName(dir);
      },
      llsync: { productId: 'OTHERPRODX', get pskCsvPath() {
        return csv;
      }, pskByUnit: { 'sim:llsync-ota:1': BOUND_PSK } },
    });
    expect(wrongProduct.jobs[0]).toMatchObject({ state: 'failed', result: 'device_error', errorCode: 'LLSYNC_AUTH_SIGNATURE', attempts: 1 });
    expect(wrongProduct.delegate.device(wrongProduct.units[0]!).version).toBe('1.0.0');
  }, 60_000);

  it('an unbound unit with a key the station does not know stays a retryable LLSYNC_AUTH_NO_REPLY', async () => {
    const r = await engineRun(['sim:llsync-ota:1'], { sim: { device: { pskHex: '0badf00d' } }, llsync: { replyTimeoutMs: 600 } });
    expect(r.jobs[0]).toMatchObject({ state: 'failed', result: 'timeout', errorCode: 'LLSYNC_AUTH_NO_REPLY' });
    expect(r.jobs[0]!.attempts).toBeGreaterThan(1);
  }, 60_000);
});

describe('product profile through the CLI', () => {
  it('a bad option value is refused before the batch: CONFIG_INVALID naming it, exit 2 (issue 9 §9)', async () => {
    const dir = tmpDir();
    const img = writeImage(dir, 4096);
    const r = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:llsync-ota:1', '--json', '--data-dir', dir, '--opt', 'llsync-ota.mtuResult=sometimes']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/CONFIG_INVALID: --opt llsync-ota\.mtuResult: must be one of after-sync, always, never/);
  }, 30_000);
});

/** Run one session by hand over a real noble link, recording every FFE1 write (the job runner's order). */
async function sessionRun(mtuResult: string, opts: { syncAfterAuth?: boolean; behaviour?: 'slow_flash'; imageBytes?: number } = {}) {
  const delegate = new LlsyncSimDelegate();
  cleanups.push(() => delegate.dispose());
  const [unit] = parseTargets([`sim:llsync-ota:1:${opts.behaviour ?? 'accept'}`]);
  const device = delegate.device(unit!);
  const link = (await delegate.open(unit!, AbortSignal.timeout(10_000))) as GattLink;
  const infoWrites: string[] = [];
  const recording: GattLink = Object.assign(Object.create(link) as GattLink, {
    writeCharacteristic: (uuid: string, data: Uint8Array, o: { withoutResponse: boolean }, s?: AbortSignal) => {
      if (uuid === LLSYNC_CHAR_DEVICE_INFO) infoWrites.push(Buffer.from(data).toString('hex'));
      return link.writeCharacteristic(uuid, data, o, s);
    },
  });
  const bytes = buildSimImage(opts.imageBytes ?? 4096, '2.0.0');
  const image: FirmwareImage = { bytes, info: { component: 'app', version: '2.0.0', kind: 'full', fileName: 'app.bin', sizeBytes: bytes.length, crc32: crc32Hex(bytes), md5: '', sha256: '' } };
  const logs: string[] = [];
  const session = new LlsyncSession({ link: recording, image, unit: unit!, clock: systemClock, log: (t) => logs.push(t), options: { mtuResult, replyTimeoutMs: 3000, retransmitRoundsCount: opts.behaviour === 'slow_flash' ? 'no-progress' : 'any' } });
  const signal = AbortSignal.timeout(30_000);
  await session.identify(signal);
  const afterAuth = infoWrites.length;
  if (opts.syncAfterAuth) {
    // The device's stack reports a (second) MTU exchange after auth: it sends 0c (§5).
    device.onAttMtu(185);
    await new Promise((r) => setTimeout(r, 100));
  }
  const neg = await session.negotiate(signal);
  const beforeTransfer = infoWrites.slice(afterAuth);
  await session.transfer(neg.resumeAtBytes, () => undefined, signal);
  await session.verify(signal);
  await link.close();
  return { beforeTransfer, logs, device, image, session };
}

describe('MTU result modes (§5) on a real noble link', () => {
  it("'always' answers 09 0000 before the request even without a 0c; 'after-sync' does not", async () => {
    expect((await sessionRun('always')).beforeTransfer).toEqual(['090000']);
    expect((await sessionRun('after-sync')).beforeTransfer).toEqual([]);
  }, 30_000);

  it("after a 0c MTU sync: 'after-sync' answers 09 0000, 'never' stays silent", async () => {
    const synced = await sessionRun('after-sync', { syncAfterAuth: true });
    expect(synced.beforeTransfer).toEqual(['090000']);
    expect(synced.logs.some((l) => l.includes('MTU sync'))).toBe(true);
    expect((await sessionRun('never', { syncAfterAuth: true })).beforeTransfer).toEqual([]);
  }, 30_000);

  it('the confirm deadline follows the reboot time in the OTA reply plus the margin (§7.7)', async () => {
    const r = await sessionRun('after-sync');
    expect(r.session.confirmTimeoutMs).toBe(r.device.config.rebootTimeSec * 1000 + 5000);
  }, 30_000);
});

describe('slow_flash: packets lost while the device writes its flash', () => {
  it('the session goes back to the device’s expected sequence and the stored image is exact', async () => {
    const r = await sessionRun('after-sync', { behaviour: 'slow_flash', imageBytes: 40 * 1024 });
    expect(r.logs.some((l) => l.startsWith('retransmit from seq'))).toBe(true);
    expect(Buffer.from(r.device.memory.readStaging(r.image.bytes.length)).equals(Buffer.from(r.image.bytes))).toBe(true);
  }, 60_000);

  it('with §7.4 counting (the default) a slow flash exhausts the rounds and the job resumes from the device offset', async () => {
    const { engine, jobs } = await engineRun(['sim:llsync-ota:1:slow_flash'], { imageBytes: 40 * 1024 });
    const [job] = jobs;
    expect(job!.state).toBe('passed');
    expect(job!.attempts).toBeGreaterThan(1);
    const attempts = engine.journal.getAttempts(job!.jobId);
    expect(attempts[0]).toMatchObject({ errorCode: 'PROTOCOL_TOO_MANY_RETRIES' });
    // the second attempt's transfer starts where the device said it resumes: a whole flash page
    const resumedAt = engine.getTransitions(job!.jobId).find((t) => t.to === 'transferring' && t.attempt === 2)!.progressBytes;
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt % 4096).toBe(0);
  }, 60_000);

  it('engine: slow_flash units pass on the first attempt and report the new version', async () => {
    const { jobs } = await engineRun(['sim:llsync-ota:2:slow_flash'], { imageBytes: 40 * 1024, llsync: { retransmitRoundsCount: 'no-progress' } });
    for (const j of jobs) expect(j).toMatchObject({ state: 'passed', attempts: 1, versionAfter: '2.0.0' });
  }, 60_000);
});
