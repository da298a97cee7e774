/**
 * The local cloud that is always there (issue 9 §4) and progress that only the device confirms
 * (§1), through the real engine with an embedded broker on free ports: units that connect and
 * report before any batch are listed and later pushed to; a unit that stops reading stalls on
 * device progress even while the socket swallowed the whole image; a URL with a port is refused
 * for SDK units.
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
import { MqttVirtualDevice, type MqttDeviceOptions } from '../../main/engine/device/mqtt-device.js';
import { mqttOtaCloud } from '../../main/engine/protocol/mqtt-ota/cloud.js';
import { CredentialStore, type Dialect } from '../../main/engine/transport/net/auth.js';
import { checkNetConfig, NetTransport } from '../../main/engine/transport/net/net-transport.js';
import type { ServeEvent } from '../../main/engine/transport/net/firmware-server.js';

const SIZE = 400_000;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PRODUCT: Record<Dialect, string> = { tencent: 'ABCDEFGHIJ', aliyun: 'a1MZxOdcBnO' };

async function line(opts: { urlPort?: number | null; protocolOptions?: Record<string, unknown> } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-cloud-'));
  const credentials = new CredentialStore();
  const net = new NetTransport({ host: '127.0.0.1', mqttPort: 0, httpPort: 0, urlPort: 'urlPort' in opts ? opts.urlPort : null, credentials, openTimeoutMs: 5000, cloud: mqttOtaCloud });
  const engine = Engine.open({ dataDir: dir, transports: { net }, protocolOptions: { 'mqtt-ota-tencent': { ...opts.protocolOptions }, 'mqtt-ota-aliyun': { ...opts.protocolOptions } } });
  cleanups.push(() => engine.close());
  const view = await engine.startCloud();
  const serve: ServeEvent[] = [];
  net.station.firmware.on('serve', (e: ServeEvent) => serve.push(e));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(SIZE, '2.0.0'));
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const unit = (dialect: Dialect, device: string, extra: Partial<MqttDeviceOptions> = {}) => {
    const secret = dialect === 'tencent' ? crypto.randomBytes(16).toString('base64') : crypto.randomBytes(16).toString('hex');
    credentials.add({ dialect, product: PRODUCT[dialect], device, secret });
    const dev = new MqttVirtualDevice({ dialect, product: PRODUCT[dialect], device, secret, brokerUrl: net.station.mqttUrl, httpPort: net.station.firmware.port, memory: new DeviceMemory({ version: '1.0.0', serialNumber: device }), progressIntervalMs: 100, reportAfterFailMs: 100, ...extra });
    cleanups.push(() => dev.stop());
    const ref: UnitRef = { unitId: `mqtt:${PRODUCT[dialect]}/${device}`, transport: 'net', protocol: dialect === 'tencent' ? 'mqtt-ota-tencent' : 'mqtt-ota-aliyun', address: `${PRODUCT[dialect]}/${device}` };
    return { dev, ref };
  };
  const run = async (units: UnitRef[], retry = { maxAttempts: 1, backoffMs: 50, backoffMaxMs: 100 }) => {
    const batch = engine.createBatch({ packageId: info.id, units, plan: { retry } });
    engine.startBatch(batch.batchId);
    await engine.waitForBatch(batch.batchId);
    return engine.getJobs(batch.batchId);
  };
  return { engine, net, view, unit, run, serve, info };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the local cloud runs before any batch', () => {
  it('units that power on and report once before the batch are listed, and a batch started later pushes to them', async () => {
    const s = await line({ protocolOptions: { rebootTimeoutMs: 1500 } });
    expect(s.view).toMatchObject({ running: true, units: [] });
    expect(new URL(s.view.urlBase!).port).toBe(''); // URLs without a port, as SDK units need
    const t = s.unit('tencent', 'early1', { profile: 'tencent-sample' }); // reports once, never again
    const a = s.unit('aliyun', 'early2');
    const seen: string[] = [];
    s.engine.onCloudUnit((u) => seen.push(`${u.unitId}:${u.version ?? '-'}`));
    await t.dev.start();
    await a.dev.start();
    await until(() => s.engine.cloud().units.filter((u) => u.version === '1.0.0').length === 2);
    const roster = s.engine.cloud().units;
    expect(roster.map((u) => u.unitId).sort()).toEqual([t.ref.unitId, a.ref.unitId].sort());
    expect(roster.find((u) => u.unitId === t.ref.unitId)).toMatchObject({ protocol: 'mqtt-ota-tencent', dialect: 'tencent', online: true, version: '1.0.0' });
    expect(seen).toContain(`${t.ref.unitId}:1.0.0`);
    const reportsBefore = t.dev.reportedAtMs.length;
    await new Promise((r) => setTimeout(r, 300)); // the batch comes later; nothing is reported meanwhile
    const jobs = await s.run([t.ref, a.ref]);
    expect(t.dev.reportedAtMs.length).toBe(reportsBefore); // the station did not need a fresh report
    const tj = jobs.find((j) => j.unit.unitId === t.ref.unitId)!;
    const aj = jobs.find((j) => j.unit.unitId === a.ref.unitId)!;
    // The sample exits after `done` without ever reporting 2.0.0: only a done policy could pass it.
    expect(tj).toMatchObject({ state: 'failed', errorCode: 'REBOOT_TIMEOUT', versionBefore: '1.0.0', progressBytes: SIZE });
    expect(tj.confirmed.confirmedBy).toEqual(['device-md5']);
    expect(aj).toMatchObject({ state: 'passed', versionAfter: '2.0.0' });
    expect(s.engine.cloud().units.find((u) => u.unitId === a.ref.unitId)).toMatchObject({ version: '2.0.0', online: true });
  }, 20_000);

  it('a second batch pushes to a unit whose only report the first batch used (report-once units)', async () => {
    const s = await line({ protocolOptions: { freshReportWaitMs: 200, successPolicy: 'version' } });
    const u = s.unit('tencent', 'once1', { faults: { corruptByteAt: 10, corruptTimes: 1 }, reportAfterFailMs: 60_000 });
    await u.dev.start();
    await until(() => s.engine.cloud().units.some((x) => x.version === '1.0.0'));
    const [first] = await s.run([u.ref]);
    expect(first).toMatchObject({ state: 'failed', errorCode: 'PROTOCOL_MD5_MISMATCH' });
    const [second] = await s.run([u.ref]);
    expect(second).toMatchObject({ state: 'passed', versionAfter: '2.0.0' });
  }, 20_000);
});

describe('progress and verdicts are what the device confirmed', () => {
  it('a unit that stops reading: progress stays at what it reported, the stall timer runs on device progress, never verifying', async () => {
    const s = await line({ protocolOptions: { stallTimeoutMs: 1500 } });
    const stallAt = 100_000;
    const u = s.unit('tencent', 'hung1', { faults: { stallAtBytes: stallAt } });
    await u.dev.start();
    const states: string[] = [];
    const t0 = performance.now();
    const [j] = await s.run([u.ref]);
    expect(j).toMatchObject({ state: 'failed', errorCode: 'NET_DOWNLOAD_STALLED' });
    expect(performance.now() - t0).toBeGreaterThan(1400);
    expect(j!.progressBytes).toBeLessThanOrEqual(stallAt);
    for (const t of s.engine.getTransitions(j!.jobId)) states.push(t.to);
    expect(states).not.toContain('verifying');
    // The server had pushed more into the socket than the device ever read.
    const sent = Math.max(...s.serve.filter((e) => e.type === 'progress').map((e) => (e as { sentTo: number }).sentTo));
    expect(sent).toBeGreaterThan(stallAt);
  }, 20_000);

  it('a firmware URL with a port is refused for SDK units (CONFIG_INVALID at once), allowed with urlPortAllowed for units that honour it', async () => {
    const s = await line({ urlPort: undefined });
    expect(new URL(s.view.urlBase!).port).not.toBe('');
    const u = s.unit('tencent', 'port1');
    await u.dev.start();
    const [j] = await s.run([u.ref]);
    expect(j).toMatchObject({ state: 'failed', errorCode: 'CONFIG_INVALID', attempts: 1 });
    expect(j!.message).toMatch(/carries a port.*Tencent C SDK/);
    expect(u.dev.memory.state.version).toBe('1.0.0');

    const ok = await line({ urlPort: undefined, protocolOptions: { urlPortAllowed: true } });
    const v = ok.unit('aliyun', 'port2', { httpPort: undefined }); // a 4.x-like client that honours URL ports
    await v.dev.start();
    const [jv] = await ok.run([v.ref]);
    expect(jv).toMatchObject({ state: 'passed', versionAfter: '2.0.0' });
  }, 20_000);

  it('unknown options and out-of-range timers are refused, not ignored; net-station.json keys are checked', async () => {
    const s = await line({ protocolOptions: { stallTimeoutMs: -5 } });
    const u = s.unit('tencent', 'opt1');
    await u.dev.start();
    // Refused before any unit starts: the batch's effective profile is checked as it is created.
    await expect(s.run([u.ref])).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/stallTimeoutMs/) });
    expect(() => checkNetConfig({ httpport: 80 })).toThrow(/unknown setting "httpport"/);
    expect(() => checkNetConfig({ httpPort: 70_000 })).toThrow(/port/);
    expect(() => checkNetConfig({ mode: 'attach' })).toThrow(/attachUrl/);
    expect(checkNetConfig({ host: '192.168.10.2', httpPort: 80, urlPort: null, dns: { host: '192.168.10.2', port: 53, answer: '192.168.10.2', names: ['*.iotcloud.tencentdevices.com'] } })).toBeTruthy();
  }, 20_000);
});
