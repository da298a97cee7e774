/**
 * mqtt-ota end to end through the real engine: an embedded aedes broker and firmware HTTP server
 * on 127.0.0.1 (free ports), virtual Tencent/Aliyun units as real mqtt.js clients doing real HTTP
 * Range downloads, and the CLI path with sim units.
 */
import { afterEach, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { UnitRef } from '../../main/contract/dto.js';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { MqttVirtualDevice, type MqttDeviceFaults, type MqttDeviceOptions } from '../../main/engine/device/mqtt-device.js';
import { CredentialStore, type Dialect } from '../../main/engine/transport/net/auth.js';
import { NetTransport } from '../../main/engine/transport/net/net-transport.js';
import { mqttOtaCloud } from '../../main/engine/protocol/mqtt-ota/cloud.js';
import type { ServeEvent } from '../../main/engine/transport/net/firmware-server.js';
import { lastJson, runCli } from '../helpers/cli.js';

const IMAGE_BYTES = 102_400;
const fastRetry = { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200 };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Spec {
  dialect: Dialect;
  device: string;
  faults?: MqttDeviceFaults;
  extra?: Partial<MqttDeviceOptions>;
}

async function setup(specs: Spec[], protocolOptions: Record<string, unknown> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-mqtt-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(IMAGE_BYTES, '2.0.0'));
  const credentials = new CredentialStore();
  const net = new NetTransport({ host: '127.0.0.1', mqttPort: 0, httpPort: 0, credentials, openTimeoutMs: 5000, cloud: mqttOtaCloud, urlPort: null });
  const engine = Engine.open({
    dataDir: dir,
    transports: { net },
    protocolOptions: { 'mqtt-ota-tencent': protocolOptions, 'mqtt-ota-aliyun': protocolOptions },
    rebootTimeoutMs: 10_000,
  });
  cleanups.push(() => engine.close());
  const serve: ServeEvent[] = [];
  net.station.firmware.on('serve', (e: ServeEvent) => serve.push(e));
  await net.station.start();
  const devices = new Map<string, MqttVirtualDevice>();
  const units: UnitRef[] = [];
  for (const s of specs) {
    const product = s.dialect === 'tencent' ? 'ABCDEFGHIJ' : 'a1MZxOdcBnO';
    const secret = s.dialect === 'tencent' ? crypto.randomBytes(16).toString('base64') : crypto.randomBytes(16).toString('hex');
    credentials.add({ dialect: s.dialect, product, device: s.device, secret });
    const dev = new MqttVirtualDevice({
      dialect: s.dialect,
      product,
      device: s.device,
      secret,
      brokerUrl: net.station.mqttUrl,
      // Built for the test's firmware port, as real units are built for 80 (URLs carry no port).
      httpPort: net.station.firmware.port,
      memory: new DeviceMemory({ version: '1.0.0', serialNumber: s.device }),
      faults: s.faults,
      progressIntervalMs: 100,
      reportAfterFailMs: 100,
      ...s.extra,
    });
    cleanups.push(() => dev.stop());
    devices.set(s.device, dev);
    units.push({ unitId: `mqtt:${product}/${s.device}`, transport: 'net', protocol: s.dialect === 'tencent' ? 'mqtt-ota-tencent' : 'mqtt-ota-aliyun', address: `${product}/${s.device}` });
  }
  await Promise.all([...devices.values()].map((d) => d.start()));
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const run = async (plan: Record<string, unknown> = {}) => {
    const batch = engine.createBatch({ packageId: info.id, units, plan: { retry: fastRetry, ...plan } });
    engine.startBatch(batch.batchId);
    await engine.waitForBatch(batch.batchId);
    return engine.getJobs(batch.batchId);
  };
  return { engine, info, devices, run, serve, net };
}

describe('mqtt-ota through the engine (embedded broker, real clients, real HTTP)', () => {
  it('both dialects pass end to end: version report → push → download → MD5 → reboot → new version reported', async () => {
    const { run, devices, info, serve } = await setup([
      { dialect: 'tencent', device: 'dev001' },
      { dialect: 'aliyun', device: 'test_01' },
    ]);
    const jobs = await run();
    for (const j of jobs) expect(j).toMatchObject({ state: 'passed', result: 'ok', versionBefore: '1.0.0', versionAfter: '2.0.0', attempts: 1 });
    // Tencent reports burning only after its MD5 equals the md5sum pushed; Aliyun never reports a
    // positive MD5 result, so its MD5 stays unconfirmed (the pass rests on the version after reboot).
    const tj = jobs.find((j) => j.unit.protocol === 'mqtt-ota-tencent')!;
    const aj = jobs.find((j) => j.unit.protocol === 'mqtt-ota-aliyun')!;
    expect(tj.confirmed.md5).toBe(info.components[0]!.md5);
    expect(tj.confirmed.confirmedBy).toContain('device-md5');
    expect(aj.confirmed.md5).toBeUndefined();
    expect(aj.confirmed.confirmedBy ?? []).not.toContain('device-md5');
    expect(devices.get('dev001')!.version).toBe('2.0.0');
    expect(devices.get('test_01')!.version).toBe('2.0.0');
    // Tencent sends the off-by-one Range end (file size) → 206; Aliyun v3 sends none → 200 (§3.5).
    const reqs = serve.filter((e): e is Extract<ServeEvent, { type: 'request' }> => e.type === 'request');
    expect(reqs.find((r) => r.deviceTag.startsWith('t~'))).toMatchObject({ status: 206, range: `bytes=0-${IMAGE_BYTES}`, start: 0, endExclusive: IMAGE_BYTES });
    expect(reqs.find((r) => r.deviceTag.startsWith('a~'))).toMatchObject({ status: 200, range: null, endExclusive: IMAGE_BYTES });
    // Tencent: rsp before the push on the update topic (§5.3).
    const down = devices.get('dev001')!.received.map((m) => JSON.parse(m.payload).type);
    expect(down.indexOf('report_version_rsp')).toBeLessThan(down.indexOf('update_firmware'));
  });

  it('50 devices at once (25 Tencent + 25 Aliyun) all pass', async () => {
    const specs: Spec[] = [];
    for (let i = 0; i < 25; i++) specs.push({ dialect: 'tencent', device: `t${i}` }, { dialect: 'aliyun', device: `a${i}` });
    const { run, devices } = await setup(specs);
    const jobs = await run({ concurrency: { global: 64, perBleAdapter: 6 } });
    expect(jobs.filter((j) => j.state === 'passed')).toHaveLength(50);
    for (const d of devices.values()) expect(d.version).toBe('2.0.0');
  });

  it('a download cut at 40 % resumes with Range from the bytes the device kept and passes', async () => {
    const cutAt = Math.floor(IMAGE_BYTES * 0.4);
    const { run, devices, serve } = await setup([{ dialect: 'tencent', device: 'dev001', faults: { cutAtBytes: cutAt } }]);
    const [job] = await run();
    expect(job).toMatchObject({ state: 'passed', attempts: 2, versionAfter: '2.0.0' });
    const reqs = serve.filter((e): e is Extract<ServeEvent, { type: 'request' }> => e.type === 'request');
    expect(reqs).toHaveLength(2);
    // The device resumes at the whole pages it stored (≤ cut, > 0), asking bytes=N-size → 206.
    const resumeAt = Math.floor(cutAt / 4096) * 4096;
    expect(reqs[1]).toMatchObject({ status: 206, start: resumeAt, range: `bytes=${resumeAt}-${IMAGE_BYTES}` });
    expect(devices.get('dev001')!.memory.state.counters['mqtt.cuts']).toBe(1);
    // the whole image was not sent twice
    const ends = serve.filter((e): e is Extract<ServeEvent, { type: 'end' }> => e.type === 'end');
    expect(ends.at(-1)).toMatchObject({ complete: true, sentTo: IMAGE_BYTES });
  });

  it('a corrupted byte → md5_mismatch with the device code (Tencent −4, Aliyun −3)', async () => {
    const { run } = await setup([
      { dialect: 'tencent', device: 'dev001', faults: { corruptByteAt: 5000 } },
      { dialect: 'aliyun', device: 'test_01', faults: { corruptByteAt: 5000 } },
    ]);
    const jobs = await run({ retry: { maxAttempts: 2, backoffMs: 50, backoffMaxMs: 100 } });
    const t = jobs.find((j) => j.unit.protocol === 'mqtt-ota-tencent')!;
    const a = jobs.find((j) => j.unit.protocol === 'mqtt-ota-aliyun')!;
    expect(t).toMatchObject({ state: 'failed', result: 'md5_mismatch', errorCode: 'PROTOCOL_MD5_MISMATCH', deviceCode: '-4', attempts: 2 });
    expect(a).toMatchObject({ state: 'failed', result: 'md5_mismatch', errorCode: 'PROTOCOL_MD5_MISMATCH', deviceCode: '-3', attempts: 2 });
  });

  it('an expired URL → 403 → the device reports −3 → NET_URL_EXPIRED', async () => {
    // Lifetime 0: the URL's expiry (whole seconds) is already past when the device fetches it.
    const { run, serve } = await setup([{ dialect: 'tencent', device: 'dev001' }], { urlTtlMs: 0 });
    const [job] = await run({ retry: { maxAttempts: 1, backoffMs: 50, backoffMaxMs: 100 } });
    expect(job).toMatchObject({ state: 'failed', errorCode: 'NET_URL_EXPIRED', deviceCode: '-3', result: 'station_error' });
    expect(serve.find((e) => e.type === 'request')).toMatchObject({ status: 403 });
  });

  it('a unit with a wrong secret is refused at CONNECT and its job fails with NET_AUTH_FAILED', async () => {
    const { run, devices } = await setup([{ dialect: 'tencent', device: 'dev001', faults: { wrongSecret: true } }]);
    expect(devices.get('dev001')!.connackCodes).toEqual([4]);
    const [job] = await run({ retry: { maxAttempts: 1, backoffMs: 50, backoffMaxMs: 100 } });
    expect(job).toMatchObject({ state: 'failed', errorCode: 'NET_AUTH_FAILED' });
  });
});

describe('mqtt-ota through the CLI (sim units behind the embedded broker)', () => {
  it('flash --target sim:mqtt-ota-tencent:N --target sim:mqtt-ota-aliyun:N runs real clients, faults included', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-mqtt-cli-'));
    const img = path.join(dir, 'app.bin');
    fs.writeFileSync(img, buildSimImage(IMAGE_BYTES, '2.0.0'));
    const r = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:mqtt-ota-tencent:10', '--target', 'sim:mqtt-ota-aliyun:10', '--target', 'sim:mqtt-ota-tencent:1:disconnect', '--target', 'sim:mqtt-ota-aliyun:1:crc_failure', '--data-dir', dir, '--json']);
    const s = lastJson<{ total: number; passed: number; failed: number; units: { unit: string; result: string; code: string | null; attempts: number }[] }>(r.stdout);
    expect(s.total).toBe(22);
    expect(s.passed).toBe(21);
    expect(s.units.find((u) => u.unit === 'sim:mqtt-ota-tencent:11')).toMatchObject({ result: 'ok', attempts: 2 });
    expect(s.units.find((u) => u.unit === 'sim:mqtt-ota-aliyun:11')).toMatchObject({ result: 'md5_mismatch', code: 'PROTOCOL_MD5_MISMATCH' });
    expect(r.code).toBe(1);
  });
});
