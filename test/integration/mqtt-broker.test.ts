/**
 * The station's MQTT side on 127.0.0.1: CONNECT authentication, the per-device topic ACL, the
 * TLS-PSK listener (§4.3), and attach mode against a real mosquitto started by the test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { MqttVirtualDevice } from '../../main/engine/device/mqtt-device.js';
import { CredentialStore, tencentUsername } from '../../main/engine/transport/net/auth.js';
import { NetTransport } from '../../main/engine/transport/net/net-transport.js';
import { mqttOtaCloud } from '../../main/engine/protocol/mqtt-ota/cloud.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PID = 'ABCDEFGHIJ';

async function station(extra: Partial<ConstructorParameters<typeof NetTransport>[0]> = {}) {
  const credentials = new CredentialStore();
  const t = new NetTransport({ host: '127.0.0.1', mqttPort: 0, httpPort: 0, credentials, ...extra, cloud: mqttOtaCloud });
  cleanups.push(() => t.dispose());
  await t.station.start();
  return { t, credentials };
}

function device(t: NetTransport, credentials: CredentialStore, name: string, brokerUrl = t.station.mqttUrl) {
  const secret = crypto.randomBytes(16).toString('base64');
  credentials.add({ dialect: 'tencent', product: PID, device: name, secret });
  const d = new MqttVirtualDevice({ dialect: 'tencent', product: PID, device: name, secret, brokerUrl, memory: new DeviceMemory({ version: '1.0.0', serialNumber: name }) });
  cleanups.push(() => d.stop());
  return d;
}

describe('station broker security', () => {
  it('a wrong secret is refused at CONNECT with return code 4; the right one is accepted', async () => {
    const { t, credentials } = await station();
    const good = device(t, credentials, 'dev001');
    await good.start();
    expect(good.connackCodes).toEqual([0]);
    const secret = crypto.randomBytes(16).toString('base64');
    credentials.add({ dialect: 'tencent', product: PID, device: 'dev002', secret });
    const bad = new MqttVirtualDevice({ dialect: 'tencent', product: PID, device: 'dev002', secret, brokerUrl: t.station.mqttUrl, memory: new DeviceMemory({ version: '1.0.0', serialNumber: 'x' }), faults: { wrongSecret: true } });
    cleanups.push(() => bad.stop());
    await bad.start();
    expect(bad.connackCodes).toEqual([4]);
    expect(bad.connected).toBe(false);
    expect(t.station.recordFor('tencent', PID, 'dev002').authFailure).toMatch(/signature/);
  });

  it('a device cannot subscribe to, read or write another device’s topics', async () => {
    const { t, credentials } = await station();
    const victim = device(t, credentials, 'victim');
    const rogue = device(t, credentials, 'rogue');
    await victim.start();
    await rogue.start();
    // concrete foreign filter and a wildcard that covers only foreign topics → SUBACK 0x80
    expect(await rogue.probeSubscribe(`$ota/update/${PID}/victim`)).toBe(128);
    expect(await rogue.probeSubscribe(`$ota/report/${PID}/victim`)).toBe(128);
    expect(await rogue.probeSubscribe('#')).toBe(128);
    // a wildcard that covers its own OTA topic is granted, but routes nothing foreign (forward filter)
    expect(await rogue.probeSubscribe(`$ota/+/${PID}/+`)).toBe(1);
    const before = rogue.received.length;
    // the victim's traffic: its version report makes the station answer on the victim's topic
    const victimClient = (victim as unknown as { client: mqtt.MqttClient }).client;
    await victimClient.publishAsync(`$ota/report/${PID}/victim`, JSON.stringify({ type: 'report_version', report: { version: '1.0.0' } }), { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(rogue.received.slice(before).filter((m) => m.topic.includes('/victim'))).toEqual([]);
    // publishing on the victim's update topic is refused: the rogue is dropped, the victim gets nothing
    const victimBefore = victim.received.length;
    const survived = await rogue.probePublish(`$ota/update/${PID}/victim`, JSON.stringify({ type: 'update_firmware', version: '6.6.6', url: 'http://127.0.0.1/x', md5sum: 'f'.repeat(32), file_size: 1 }));
    expect(survived).toBe(false);
    expect(victim.received.slice(victimBefore).filter((m) => m.payload.includes('6.6.6'))).toEqual([]);
  });

  it('TLS-PSK listener: identity {pid}{dn} with the decoded secret as key, CONNECT without password', async () => {
    const { t, credentials } = await station({ pskPort: 0 });
    const secret = 'MTIzNDU2Nzg5MGFiY2RlZg==';
    credentials.add({ dialect: 'tencent', product: PID, device: 'dev001', secret });
    const opts = (key: string) => ({
      protocol: 'mqtts' as const,
      host: '127.0.0.1',
      port: t.station.pskPort,
      clientId: `${PID}dev001`,
      username: tencentUsername(PID, 'dev001', 'aB3x9'),
      protocolVersion: 4 as const,
      reconnectPeriod: 0,
      ciphers: 'PSK-AES128-CBC-SHA',
      maxVersion: 'TLSv1.2' as const,
      checkServerIdentity: () => undefined,
      pskCallback: () => ({ identity: `${PID}dev001`, psk: Buffer.from(key, 'base64') }),
    });
    const ok = await mqtt.connectAsync(opts(secret));
    expect(ok.connected).toBe(true);
    await ok.endAsync();
    // a wrong key fails the handshake itself
    const wrong = mqtt.connectAsync(opts(Buffer.from('wrong-key-123456').toString('base64')));
    await expect(wrong).rejects.toBeTruthy();
  });
});

function which(bin: string): string | null {
  for (const p of [bin, `/usr/sbin/${path.basename(bin)}`]) if (fs.existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', `command -v ${bin}`]);
  return r.status === 0 ? r.stdout.toString().trim() : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const MOSQUITTO = which('/usr/sbin/mosquitto');
if (!MOSQUITTO && process.env.CI === 'true') throw new Error('mosquitto is required in CI (Debian package mosquitto)');

describe.skipIf(!MOSQUITTO)('attach mode against a real mosquitto', () => {
  it('the station joins mosquitto as a client and upgrades a Tencent and an Aliyun unit through it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-mosq-'));
    const port = await freePort();
    fs.writeFileSync(path.join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    const proc = spawn(MOSQUITTO!, ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    cleanups.push(() => void proc.kill('SIGTERM'));
    const url = `mqtt://127.0.0.1:${port}`;
    for (let i = 0; i < 50; i++) {
      const up = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').on('connect', function (this: net.Socket) { this.destroy(); r(true); }).on('error', () => r(false)));
      if (up) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const credentials = new CredentialStore();
    const t = new NetTransport({ cloud: mqttOtaCloud, mode: 'attach', attachUrl: url, host: '127.0.0.1', httpPort: 0, urlPort: null, credentials, openTimeoutMs: 8000 });
    const engine = Engine.open({ dataDir: dir, transports: { net: t }, protocolOptions: { 'mqtt-ota-aliyun': { attachedAliyunPushDelayMs: 300 } }, rebootTimeoutMs: 10_000 });
    cleanups.push(() => engine.close());
    await t.station.start();
    const mk = (dialect: 'tencent' | 'aliyun', product: string, dn: string) => {
      const secret = dialect === 'tencent' ? crypto.randomBytes(16).toString('base64') : 'abc';
      const d = new MqttVirtualDevice({ dialect, product, device: dn, secret, brokerUrl: url, httpPort: t.station.firmware.port, memory: new DeviceMemory({ version: '1.0.0', serialNumber: dn }), reportAfterFailMs: 100 });
      cleanups.push(() => d.stop());
      return d;
    };
    const dt = mk('tencent', PID, 'dev001');
    const da = mk('aliyun', 'a1MZxOdcBnO', 'test_01');
    await dt.start();
    await da.start();
    const img = path.join(dir, 'app.bin');
    fs.writeFileSync(img, buildSimImage(50_000, '2.0.0'));
    const info = await engine.loadPackage(img, { version: '2.0.0' });
    const batch = engine.createBatch({
      packageId: info.id,
      units: [
        { unitId: `mqtt:${PID}/dev001`, transport: 'net', protocol: 'mqtt-ota-tencent', address: `${PID}/dev001` },
        { unitId: 'mqtt:a1MZxOdcBnO/test_01', transport: 'net', protocol: 'mqtt-ota-aliyun', address: 'a1MZxOdcBnO/test_01' },
      ],
      plan: { retry: { maxAttempts: 2, backoffMs: 100, backoffMaxMs: 200 } },
    });
    engine.startBatch(batch.batchId);
    const done = await engine.waitForBatch(batch.batchId);
    expect(done.counts).toMatchObject({ total: 2, passed: 2 });
    expect(dt.version).toBe('2.0.0');
    expect(da.version).toBe('2.0.0');
  });
});
