/**
 * Networked units as the vendors' own device code behaves (vendor-behaviour.md), through the real
 * engine: sim units are real MQTT/HTTP clients of the sim cloud (free ports, URLs without a port,
 * units built for the firmware port like real ones for 80). Each device profile / fault gets the
 * verdict a line engineer expects, and progress/verdicts rest only on what the device said.
 */
import { afterEach, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobView } from '../../main/contract/dto.js';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { parseTargets } from '../../main/engine/targets.js';

const SIZE = 40_960; // a whole number of 4 KiB pages
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Fast timers for the sim; every one comes from the product options, none is hidden. */
const FAST = { reportTimeoutMs: 8000, startTimeoutMs: 5000, stallTimeoutMs: 4000, installTimeoutMs: 5000, rebootTimeoutMs: 2500 };

async function station(opts: { tencent?: Record<string, unknown>; aliyun?: Record<string, unknown>; image?: Uint8Array } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-netprof-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, opts.image ?? buildSimImage(SIZE, '2.0.0'));
  const engine = Engine.open({
    dataDir: dir,
    protocolOptions: { 'mqtt-ota-tencent': { ...FAST, ...opts.tencent }, 'mqtt-ota-aliyun': { ...FAST, ...opts.aliyun } },
  });
  cleanups.push(() => engine.close());
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const run = async (targets: string[], retry = { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200 }) => {
    const batch = engine.createBatch({ packageId: info.id, units: parseTargets(targets), plan: { retry } });
    engine.startBatch(batch.batchId);
    await engine.waitForBatch(batch.batchId);
    return engine.getJobs(batch.batchId);
  };
  const traceText = (j: JobView) => engine.getTrace(j.jobId).flatMap((t) => t.lines.map((l) => l.text ?? '')).join('\n');
  const failedCauses = (j: JobView) => engine.getTransitions(j.jobId).filter((t) => t.to === 'backoff' || t.to === 'failed').map((t) => t.errorCode);
  return { engine, info, run, traceText, failedCauses };
}

describe('vendor device profiles (sim:mqtt-ota-*:BEHAVIOUR)', () => {
  it('tencent_sample (done, then exit without reboot): fails with REBOOT_TIMEOUT under the version policy, passes under "done" resting on device-md5 + device-done', async () => {
    const strict = await station();
    const [j1] = await strict.run(['sim:mqtt-ota-tencent:1:tencent_sample']);
    expect(j1).toMatchObject({ state: 'failed', errorCode: 'REBOOT_TIMEOUT', attempts: 1 });
    // The device did check the MD5 (it reported done): that much is confirmed, nothing more.
    expect(j1!.confirmed.confirmedBy).toEqual(['device-md5']);

    const lenient = await station({ tencent: { successPolicy: 'done' } });
    const [j2] = await lenient.run(['sim:mqtt-ota-tencent:1:tencent_sample']);
    expect(j2).toMatchObject({ state: 'passed', result: 'ok', attempts: 1 });
    expect(j2!.confirmed).toMatchObject({ md5: lenient.info.components[0]!.md5, confirmedBy: ['device-md5', 'device-done'] });
    expect(j2!.versionAfter).toBeUndefined(); // the sample never reports the new version
  });

  it('aliyun_example (step 100, then stops): REBOOT_TIMEOUT, MD5 unconfirmed; the "done" policy is refused for Aliyun (CONFIG_INVALID)', async () => {
    const s = await station();
    const [j] = await s.run(['sim:mqtt-ota-aliyun:1:aliyun_example']);
    expect(j).toMatchObject({ state: 'failed', errorCode: 'REBOOT_TIMEOUT' });
    expect(j!.confirmed.md5).toBeUndefined();
    expect(j!.progressBytes).toBe(SIZE); // it did say step 100

    const bad = await station({ aliyun: { successPolicy: 'done' } });
    const t0 = performance.now();
    const [jb] = await bad.run(['sim:mqtt-ota-aliyun:1']);
    expect(jb).toMatchObject({ state: 'failed', errorCode: 'CONFIG_INVALID', attempts: 1 });
    expect(jb!.message).toMatch(/Aliyun units have no "done"/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('power cut mid-download: NET_DOWNLOAD_FAILED (retryable), then the unit resumes with Range from its saved offset and passes', async () => {
    const s = await station();
    const [j] = await s.run(['sim:mqtt-ota-tencent:1:power_cut']);
    expect(j).toMatchObject({ state: 'passed', attempts: 2, versionAfter: '2.0.0' });
    expect(s.failedCauses(j!)).toEqual(['NET_DOWNLOAD_FAILED']);
    const saved = Math.floor((SIZE * 0.4) / 4096) * 4096;
    expect(s.traceText(j!)).toContain(`device resumes at ${saved} (bytes=${saved}-${SIZE})`);
  });

  it('power cut after the last byte: the unit resumes with Range SIZE-SIZE, checks MD5 and passes (never an install failure)', async () => {
    const s = await station();
    const [j] = await s.run(['sim:mqtt-ota-tencent:1:power_cut_at_end']);
    expect(j).toMatchObject({ state: 'passed', attempts: 2, versionAfter: '2.0.0' });
    expect(s.failedCauses(j!)).toEqual(['NET_DOWNLOAD_FAILED']);
    expect(s.traceText(j!)).toContain(`(bytes=${SIZE}-${SIZE})`);
    expect(j!.confirmed.confirmedBy).toContain('device-md5');
  });

  it('Aliyun power cut: v3 restarts its download from 0 (no Range) and passes on the next push', async () => {
    const s = await station();
    const [j] = await s.run(['sim:mqtt-ota-aliyun:1:power_cut']);
    expect(j).toMatchObject({ state: 'passed', attempts: 2, versionAfter: '2.0.0' });
    expect(s.failedCauses(j!)).toEqual(['NET_DOWNLOAD_FAILED']);
  });

  it('wrong secret (CONNACK 4) and TLS-PSK wrong key fail at once with NET_AUTH_FAILED, not after the connect timeout', async () => {
    const s = await station();
    const t0 = performance.now();
    const jobs = await s.run(['sim:mqtt-ota-tencent:1:wrong_secret', 'sim:mqtt-ota-tencent:1:psk_wrong_key', 'sim:mqtt-ota-aliyun:1:wrong_secret']);
    const ms = performance.now() - t0;
    for (const j of jobs) expect(j).toMatchObject({ state: 'failed', errorCode: 'NET_AUTH_FAILED', attempts: 1 });
    expect(jobs[0]!.message).toMatch(/CONNACK 4/);
    expect(jobs[1]!.message).toMatch(/TLS-PSK handshake failed under identity/);
    expect(ms).toBeLessThan(6000); // the open timeout alone is 12 s
  });

  it('fault knobs map to the right codes: crc_failure → PROTOCOL_MD5_MISMATCH retried per policy; crc_failure_once passes; reboot_timeout → REBOOT_TIMEOUT; disconnect resumes', async () => {
    const s = await station();
    const jobs = await s.run(['sim:mqtt-ota-tencent:1:crc_failure', 'sim:mqtt-ota-aliyun:1:crc_failure_once', 'sim:mqtt-ota-tencent:1:crc_failure_once', 'sim:mqtt-ota-tencent:1:reboot_timeout', 'sim:mqtt-ota-tencent:1:disconnect'], { maxAttempts: 2, backoffMs: 50, backoffMaxMs: 100 });
    const [crc, aOnce, tOnce, reboot, cut] = jobs;
    expect(crc).toMatchObject({ state: 'failed', errorCode: 'PROTOCOL_MD5_MISMATCH', result: 'md5_mismatch', deviceCode: '-4', attempts: 2 });
    expect(aOnce).toMatchObject({ state: 'passed', attempts: 2 });
    expect(s.failedCauses(aOnce!)).toEqual(['PROTOCOL_MD5_MISMATCH']);
    expect(tOnce).toMatchObject({ state: 'passed', attempts: 2 });
    expect(reboot).toMatchObject({ state: 'failed', errorCode: 'REBOOT_TIMEOUT' });
    expect(cut).toMatchObject({ state: 'passed', attempts: 2 });
    expect(s.failedCauses(cut!)).toEqual(['NET_DOWNLOAD_FAILED']);
  });

  it('an image without a version descriptor: the unit boots the version the station announced, so it passes', async () => {
    const s = await station({ image: crypto.randomBytes(30_000) });
    const jobs = await s.run(['sim:mqtt-ota-tencent:2', 'sim:mqtt-ota-aliyun:2']);
    for (const j of jobs) expect(j).toMatchObject({ state: 'passed', versionAfter: '2.0.0', attempts: 1 });
  });
});
