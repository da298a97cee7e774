/**
 * 100 virtual networked units (50 Tencent + 50 Aliyun) download a 1 MB image at once from the
 * station's embedded broker + firmware server over loopback. The units run in a child process so
 * the station's CPU and memory are measured alone. Prints ONE JSON object.
 *   node --import tsx test/bench/mqtt.bench.ts [--units 100] [--bytes 1048576]
 * Broker latency = a Tencent unit's version report → the station's report_version_rsp (round trip
 * through the broker and the station's handler), p50/p99 over all reports.
 */
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UnitRef } from '../../main/contract/dto.js';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { MqttVirtualDevice } from '../../main/engine/device/mqtt-device.js';
import { CredentialStore, type DeviceCredential } from '../../main/engine/transport/net/auth.js';
import { NetTransport } from '../../main/engine/transport/net/net-transport.js';
import { mqttOtaCloud } from '../../main/engine/protocol/mqtt-ota/cloud.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function fleet(): Promise<void> {
  const { brokerUrl, httpPort, creds } = JSON.parse(process.env.FLEET!) as { brokerUrl: string; httpPort: number; creds: DeviceCredential[] };
  // Units built for the bench's firmware port, as real ones are for 80 (URLs carry no port).
  const devices = creds.map((c) => new MqttVirtualDevice({ ...c, brokerUrl, httpPort, memory: new DeviceMemory({ version: '1.0.0', serialNumber: c.device }), progressIntervalMs: 1000 }));
  await Promise.all(devices.map((d) => d.start()));
  process.send!({ type: 'ready' });
  process.on('message', async (m: { type: string }) => {
    if (m.type !== 'report') return;
    const rtts: number[] = [];
    for (const d of devices.filter((x) => x.opts.dialect === 'tencent')) {
      const rsps = d.received.filter((r) => r.payload.includes('report_version_rsp')).map((r) => r.atMs);
      d.reportedAtMs.forEach((t, i) => rsps[i] !== undefined && rtts.push(rsps[i]! - t));
    }
    const versions = devices.map((d) => d.version);
    await Promise.all(devices.map((d) => d.stop()));
    process.send!({ type: 'report', rtts, upgraded: versions.filter((v) => v === '2.0.0').length });
  });
}

async function main(): Promise<void> {
  const units = arg('units', 100);
  const bytes = arg('bytes', 1024 * 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-mqtt-bench-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(bytes, '2.0.0'));
  const credentials = new CredentialStore();
  const net = new NetTransport({ host: '127.0.0.1', mqttPort: 0, httpPort: 0, urlPort: null, credentials, cloud: mqttOtaCloud });
  const engine = Engine.open({ dataDir: dir, transports: { net } });
  await net.station.start();
  const creds: DeviceCredential[] = [];
  const refs: UnitRef[] = [];
  for (let i = 0; i < units; i++) {
    const dialect = i % 2 === 0 ? 'tencent' : 'aliyun';
    const product = dialect === 'tencent' ? 'BENCHPID01' : 'a1BenchPk01';
    const c: DeviceCredential = { dialect, product, device: `u${i}`, secret: dialect === 'tencent' ? crypto.randomBytes(16).toString('base64') : crypto.randomBytes(16).toString('hex') };
    credentials.add(c);
    creds.push(c);
    refs.push({ unitId: `mqtt:${product}/u${i}`, transport: 'net', protocol: dialect === 'tencent' ? 'mqtt-ota-tencent' : 'mqtt-ota-aliyun', address: `${product}/u${i}` });
  }
  const child = fork(fileURLToPath(import.meta.url), ['--fleet'], { execArgv: ['--import', 'tsx'], env: { ...process.env, FLEET: JSON.stringify({ brokerUrl: net.station.mqttUrl, httpPort: net.station.firmware.port, creds }) } });
  const fromChild = (type: string) => new Promise<Record<string, unknown>>((resolve) => child.on('message', (m: Record<string, unknown>) => m.type === type && resolve(m)));
  await fromChild('ready');
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const batch = engine.createBatch({ packageId: info.id, units: refs, plan: { concurrency: { global: units, perBleAdapter: 6 } } });
  let servedBytes = 0;
  net.station.firmware.on('serve', (e: { type: string; sentTo?: number; size?: number }) => {
    if (e.type === 'progress') servedBytes += 16 * 1024; // one body chunk per progress event (last one may be shorter)
  });
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  engine.startBatch(batch.batchId);
  const done = await engine.waitForBatch(batch.batchId);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  child.send({ type: 'report' });
  const rep = (await fromChild('report')) as { rtts: number[]; upgraded: number };
  child.kill();
  await engine.close();
  const rtts = rep.rtts.sort((a, b) => a - b);
  const pct = (p: number) => (rtts.length ? Math.round(rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))]! * 100) / 100 : null);
  const totalBytes = units * bytes;
  console.log(
    JSON.stringify({
      bench: 'mqtt-ota',
      units,
      imageBytes: bytes,
      passed: done.counts.passed,
      failed: done.counts.failed,
      devicesUpgraded: rep.upgraded,
      wallMs: Math.round(wallMs),
      throughputMBps: Math.round((totalBytes / 1e6 / (wallMs / 1000)) * 10) / 10,
      servedBytesApprox: servedBytes,
      stationCpuPct: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
      stationCpuUserMs: Math.round(cpu.user / 1000),
      stationCpuSystemMs: Math.round(cpu.system / 1000),
      stationPeakRssMB: Math.round(peakRss / 1e6),
      brokerRttSamples: rtts.length,
      brokerRttP50Ms: pct(50),
      brokerRttP99Ms: pct(99),
      cores: os.cpus().length,
    }),
  );
}

if (process.argv.includes('--fleet')) void fleet();
else void main();
