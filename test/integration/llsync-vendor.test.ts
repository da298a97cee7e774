/**
 * LLSync units as the vendor's SDK 1.4.1 behaves (vendor-behaviour.md, issue 9 §2 §5 §7 §10),
 * as selectable device profiles of the virtual peripheral, through real noble over simulated
 * bindings and the real engine: a unit that answers with its old version for ~5 s after the OTA
 * result passes inside the 20 s window it announced; MTU after login or never; a lost write
 * inside a loop makes the station stop the loop at once; a lost last write is recovered by the
 * device's retry timer; `reboot_timeout` is REBOOT_TIMEOUT; an image without a version
 * descriptor boots the version the station announced.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobView } from '../../main/contract/dto.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { LLSYNC_DEVICE_PROFILES, type LlsyncDeviceConfig } from '../../main/engine/device/llsync-peripheral.js';
import { simDeviceFactories } from '../../main/engine/device/sim-units.js';
import { Engine } from '../../main/engine/engine.js';
import { parseTargets } from '../../main/engine/targets.js';
import { LlsyncSimDelegate } from '../../main/engine/device/llsync-sim-delegate.js';
import { SimTransport } from '../../main/engine/device/sim-transport.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function flash(target: string, o: { device?: Partial<LlsyncDeviceConfig>; image?: Uint8Array; version?: string; llsync?: Record<string, unknown>; maxAttempts?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-llvendor-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, o.image ?? buildSimImage(12 * 1024, '2.0.0'));
  const delegate = new LlsyncSimDelegate({ dataDir: dir, device: o.device });
  const sim = new SimTransport({ stateDir: path.join(dir, 'sim-units'), factories: simDeviceFactories, delegates: { 'llsync-ota': delegate } });
  const engine = Engine.open({ dataDir: dir, transports: { sim }, protocolOptions: { 'llsync-ota': { replyTimeoutMs: 3000, ...o.llsync } } });
  cleanups.push(() => engine.close());
  const info = await engine.loadPackage(img, { version: o.version ?? '2.0.0' });
  const batch = engine.createBatch({ packageId: info.id, units: parseTargets([target]), plan: { retry: { maxAttempts: o.maxAttempts ?? 1, backoffMs: 50, backoffMaxMs: 200 } } });
  const t0 = performance.now();
  engine.startBatch(batch.batchId);
  await engine.waitForBatch(batch.batchId);
  const ms = performance.now() - t0;
  const job = engine.getJobs(batch.batchId)[0]!;
  const trace = engine.getTrace(job.jobId).flatMap((t) => t.lines);
  return { job, ms, trace, delegate, engine };
}

function notes(trace: { dir: string; text?: string }[]): string {
  return trace.filter((l) => l.dir === 'note').map((l) => l.text).join('\n');
}

describe('LLSync vendor behaviours as device profiles', () => {
  it('sdk-1.4.1-esp32: old version for ~5 s after the result, inside the announced window → passed, not version_mismatch', async () => {
    const { job, ms, trace } = await flash('sim:llsync-ota:1', { device: LLSYNC_DEVICE_PROFILES['sdk-1.4.1-esp32'] });
    expect(job).toMatchObject<Partial<JobView>>({ state: 'passed', result: 'ok', versionBefore: '1.0.0', versionAfter: '2.0.0', attempts: 1 });
    expect(job.confirmed.confirmedBy).toEqual(['device-crc32', 'version-after-reboot']);
    expect(notes(trace)).toMatch(/still runs 1\.0\.0 .* reboot window: not rebooted yet/);
    expect(ms).toBeGreaterThan(4500); // it really waited for the device's reboot
    expect(ms).toBeLessThan(25_000); // … inside the 20 s + margin window
  }, 90_000);

  it('without the vendor delay the same unit passes at once (control)', async () => {
    const { job, ms } = await flash('sim:llsync-ota:1', { device: { mtuExchange: 'after-login' } });
    expect(job).toMatchObject({ state: 'passed', versionAfter: '2.0.0' });
    expect(ms).toBeLessThan(4500);
  }, 90_000);

  it('an old version to the end of the window is version_mismatch (never earlier)', async () => {
    // The device announces 2 s; its application reboots only after 30 s.
    const { job, ms } = await flash('sim:llsync-ota:1', { device: { rebootDelayMs: 30_000, rebootTimeSec: 2 }, llsync: { rebootMarginMs: 500 } });
    expect(job).toMatchObject({ state: 'failed', result: 'version_mismatch', errorCode: 'VERIFY_VERSION_MISMATCH', versionAfter: '1.0.0' });
    expect(ms).toBeGreaterThan(2500);
  }, 90_000);

  it('no MTU report at all: passes at ATT MTU 23', async () => {
    const { job, trace } = await flash('sim:llsync-ota:1', { device: LLSYNC_DEVICE_PROFILES['no-mtu-report'], image: buildSimImage(4 * 1024, '2.0.0') });
    expect(job).toMatchObject({ state: 'passed', versionAfter: '2.0.0' });
    expect(notes(trace)).toMatch(/ATT MTU 23/);
  }, 90_000);

  it('a lost write inside a loop: the device asks at once and the station stops that loop at once', async () => {
    const { job, trace } = await flash('sim:llsync-ota:1', { device: LLSYNC_DEVICE_PROFILES['lost-write-in-loop'] });
    expect(job).toMatchObject({ state: 'passed', attempts: 1 });
    expect(notes(trace)).toMatch(/the device wants a resend, stopping the loop/);
    // Data writes (FFE4 `01`): the image's packets + the resent ones; with an immediate stop only
    // the packets in flight when the request came are wasted, never the rest of the 16-packet loop.
    const dataWrites = trace.filter((l) => l.dir === 'tx' && l.hex?.startsWith('01')).length;
    const payload = 244 - 3;
    const packets = Math.ceil((12 * 1024) / payload);
    expect(dataWrites - packets).toBeLessThan(8);
  }, 90_000);

  it('a lost last write of a loop: noticed by the device’s ~2 s retry timer, resent, passes', async () => {
    const { job, ms, trace } = await flash('sim:llsync-ota:1', { device: LLSYNC_DEVICE_PROFILES['lost-last-write'] });
    expect(job).toMatchObject({ state: 'passed', attempts: 1 });
    expect(notes(trace)).toMatch(/retransmit from seq 15/);
    expect(ms).toBeGreaterThan(1900);
  }, 90_000);

  it('fault knob reboot_timeout → REBOOT_TIMEOUT within the announced window', async () => {
    const { job, ms } = await flash('sim:llsync-ota:1:reboot_timeout', { device: { rebootTimeSec: 2 }, llsync: { rebootMarginMs: 500 } });
    expect(job).toMatchObject({ state: 'failed', result: 'timeout', errorCode: 'REBOOT_TIMEOUT' });
    expect(ms).toBeLessThan(15_000);
  }, 90_000);

  it('an image without a version descriptor boots the version the station announced (§10)', async () => {
    const raw = Uint8Array.from({ length: 9000 }, (_, i) => (i * 31 + 7) & 0xff);
    const { job } = await flash('sim:llsync-ota:1', { image: raw, version: '3.0.0' });
    expect(job).toMatchObject({ state: 'passed', versionAfter: '3.0.0' });
  }, 90_000);
});
