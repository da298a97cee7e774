/**
 * Scale bench (issue 12 §1): 64, 256 and 512 mixed virtual units — networked units (Tencent and
 * Aliyun MQTT dialects, real MQTT + HTTP clients) and serial YMODEM units behind socat PTYs — with
 * every virtual device in ANOTHER process (the fleet: child processes of 128 devices each), so the figures are the station's:
 * station CPU per unit, station cores used, peak RSS, and the event-loop delay (p99, max) of the
 * thread that serves the UI (HTTP/WebSocket; a WebSocket client in the fleet watches the batch
 * like a browser). Runs the station both ways: the engine in its own process (`flashline serve`
 * today; station figures add both processes) and in-process on the UI thread (before issue 12),
 * unless --mode picks one.
 *   node --import tsx test/bench/scale.bench.ts [--units 64,256,512] [--mode process|in-process|both]
 *        [--bytes 65536] [--serial-every 8] [--fleet-shard 128]  (virtual devices per fleet process)
 * Prints ONE JSON object. Needs socat (serial units are skipped with a note without it).
 * Targets: UI-thread p99 < 5 ms at 512 units; CPU linear in units; 512 networked units ≤ 2 cores.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SerialPort } from 'serialport';
import WebSocket from 'ws';
import type { BatchEvent, UnitRef } from '../../main/contract/dto.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { MqttVirtualDevice } from '../../main/engine/device/mqtt-device.js';
import { VirtualYmodemUnit } from '../../main/engine/device/ymodem-unit.js';
import { Engine } from '../../main/engine/engine.js';
import type { DevicePort } from '../../main/engine/transport/types.js';
import { openSettings } from '../../main/engine/settings/settings.js';
import { startEngineProcess } from '../../main/host/engine-process.js';
import { createStationApi, type StationApi } from '../../main/server/api.js';
import { startStationServer } from '../../main/server/server.js';

type Cred = { dialect: 'tencent' | 'aliyun'; product: string; device: string; secret: string };
interface FleetPlan {
  mqttUrl: string;
  creds: Cred[];
  serialCount: number;
  dir: string;
}

function argStr(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the fleet: every virtual device, in its own process --------------------------------------

async function fleet(): Promise<void> {
  const plan = JSON.parse(process.env.FLEET!) as FleetPlan;
  const socats: ChildProcess[] = [];
  // A station that dies takes its fleet with it (no orphaned socat pairs).
  process.on('disconnect', () => {
    for (const s of socats) s.kill();
    process.exit(1);
  });
  const ports: SerialPort[] = [];
  const hostPaths: string[] = [];
  for (let i = 0; i < plan.serialCount; i++) {
    const host = path.join(plan.dir, `host${i}`);
    const dev = path.join(plan.dir, `dev${i}`);
    const p = spawn('socat', [`PTY,raw,echo=0,link=${host}`, `PTY,raw,echo=0,link=${dev}`], { stdio: 'ignore' });
    socats.push(p);
    while (!fs.existsSync(host) || !fs.existsSync(dev)) await sleep(10);
    const sp = new SerialPort({ path: dev, baudRate: 115200, autoOpen: false, lock: false });
    await new Promise<void>((resolve, reject) => sp.open((e) => (e ? reject(e) : resolve())));
    sp.on('error', () => undefined);
    ports.push(sp);
    const listeners = new Set<(c: Uint8Array) => void>();
    sp.on('data', (b: Buffer) => listeners.forEach((cb) => cb(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))));
    const port: DevicePort = {
      get isOpen() {
        return sp.isOpen;
      },
      write: (d) => void (sp.isOpen && sp.write(Buffer.from(d))),
      onData: (cb) => (listeners.add(cb), () => listeners.delete(cb)),
      drop: () => void sp.close(),
    };
    new VirtualYmodemUnit(new DeviceMemory({ version: '1.0.0', serialNumber: `PTY-${i}` }), { behaviour: 'accept', cIntervalMs: 100, bootMs: 100 }).attach(port);
    hostPaths.push(host);
  }
  const devices = plan.creds.map((c) => new MqttVirtualDevice({ ...c, brokerUrl: plan.mqttUrl, memory: new DeviceMemory({ version: '1.0.0', serialNumber: c.device }), progressIntervalMs: 1000 }));
  // The station's broker starts with its first networked job: devices power on once it answers.
  let connecting = true;
  void (async () => {
    const port = Number(new URL(plan.mqttUrl).port);
    while (connecting && !(await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false))))) await sleep(100);
    if (connecting) await Promise.all(devices.map((d) => d.start()));
  })();
  let ws: WebSocket | null = null;
  let events = 0;
  process.on('message', async (m: { type: string; wsUrl?: string; batchId?: string }) => {
    if (m.type === 'watch') {
      // The browser's share: a WebSocket client that watches the batch (the UI thread serialises every event to it).
      ws = new WebSocket(m.wsUrl!);
      ws.on('message', () => void (events += 1));
      ws.on('open', () => ws!.send(JSON.stringify({ t: 'watch', batchId: m.batchId })));
    } else if (m.type === 'stop') {
      connecting = false;
      ws?.close();
      const upgraded = devices.filter((d) => d.version === '2.0.0').length;
      await Promise.all(devices.map((d) => d.stop().catch(() => undefined)));
      for (const p of ports) if (p.isOpen) p.close();
      for (const s of socats) s.kill();
      process.send!({ type: 'stopped', upgraded, wsEvents: events });
      setTimeout(() => process.exit(0), 200);
    }
  });
  process.send!({ type: 'ready', hostPaths });
}

// ---- the station --------------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** CPU (user + system) of a process in ms, from /proc (Linux); clock ticks are 100 Hz there. */
function procCpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10;
}
function procRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface RunResult {
  mode: 'process' | 'in-process';
  units: number;
  networked: number;
  serial: number;
  passed: number;
  failed: number;
  wallMs: number;
  stationCpuMs: number;
  cpuMsPerUnit: number;
  stationCores: number;
  uiProcessCores: number;
  peakRssMB: number;
  uiLoopP50Ms: number;
  uiLoopP99Ms: number;
  uiLoopMaxMs: number;
  /** The same thread with the station idle (3 s before the batch): what the machine alone costs. */
  uiLoopIdleP99Ms: number;
  fleetProcesses: number;
  devicesUpgraded: number;
  wsEvents: number;
  failures?: Record<string, number>;
}

async function runOnce(mode: 'process' | 'in-process', units: number, bytes: number, serialEvery: number, hasSocat: boolean, fleetShardUnits: number): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-scale-'));
  const serial = hasSocat && serialEvery > 0 ? Math.floor(units / serialEvery) : 0;
  const networked = units - serial;
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'net-station.json'), JSON.stringify({ host: '127.0.0.1', mqttPort, httpPort, pskPort: null }));
  const creds: Cred[] = [];
  const refs: UnitRef[] = [];
  for (let i = 0; i < networked; i++) {
    const dialect = i % 2 === 0 ? 'tencent' : 'aliyun';
    const product = dialect === 'tencent' ? 'SCALEPID01' : 'a1ScalePk01';
    creds.push({ dialect, product, device: `u${i}`, secret: dialect === 'tencent' ? crypto.randomBytes(16).toString('base64') : crypto.randomBytes(16).toString('hex') });
    refs.push({ unitId: `mqtt:${product}/u${i}`, transport: 'net', protocol: dialect === 'tencent' ? 'mqtt-ota-tencent' : 'mqtt-ota-aliyun', address: `${product}/u${i}` });
  }
  fs.writeFileSync(path.join(dir, 'devices.csv'), 'dialect,product,device,secret\n' + creds.map((c) => `${c.dialect},${c.product},${c.device},${c.secret}`).join('\n') + '\n');
  const ptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-scale-pty-'));
  // The fleet: one process per FLEET_SHARD_UNITS virtual devices (each shard a single Node thread).
  const shards = Math.max(1, Math.ceil(units / fleetShardUnits));
  const children = Array.from({ length: shards }, (_, k) => {
    const shardCreds = creds.filter((_c, i) => i % shards === k);
    const shardSerial = Math.floor(serial / shards) + (k < serial % shards ? 1 : 0);
    const shardDir = path.join(ptyDir, `s${k}`);
    fs.mkdirSync(shardDir);
    return fork(fileURLToPath(import.meta.url), ['--fleet'], { execArgv: ['--import', 'tsx'], env: { ...process.env, FLEET: JSON.stringify({ mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, creds: shardCreds, serialCount: shardSerial, dir: shardDir } satisfies FleetPlan) } });
  });
  const fromAll = <T>(type: string) => Promise.all(children.map((c) => new Promise<T>((resolve) => c.on('message', (m: { type: string }) => m.type === type && resolve(m as T)))));
  const ready = { hostPaths: (await fromAll<{ hostPaths: string[] }>('ready')).flatMap((r) => r.hostPaths) };
  for (const p of ready.hostPaths) refs.push({ unitId: `serial:${p}`, transport: 'serial', protocol: 'ymodem', address: p });

  // The station: the UI thread serves HTTP + WebSocket; the engine runs beside it or on it.
  let api: StationApi;
  let closeEngine: () => Promise<void>;
  const stationPids = [process.pid];
  if (mode === 'process') {
    const host = await startEngineProcess({ dataDir: dir, browserMode: true });
    api = host.api;
    closeEngine = () => host.close();
    stationPids.push(host.child.pid!);
  } else {
    const engine = Engine.open({ dataDir: dir });
    api = createStationApi({ engine, settings: openSettings(dir), browserMode: true });
    closeEngine = () => engine.close();
  }
  const server = await startStationServer({ api, staticDir: dir });
  const image = buildSimImage(bytes, '2.0.0');
  const pkg = await api.handlers.importPackage({ fileName: 'app.bin', version: '2.0.0', dataBase64: Buffer.from(image).toString('base64') });
  if (!pkg.ok) throw new Error(pkg.error.message);
  const created = await api.handlers.createBatch({ packageId: pkg.value.id, units: refs, plan: { concurrency: { global: Math.min(1000, units), perBleAdapter: 6 }, retry: { maxAttempts: 2, backoffMs: 500, backoffMaxMs: 2000 } } });
  if (!created.ok) throw new Error(created.error.message);
  const batchId = created.value.batchId;
  children[0]!.send({ type: 'watch', wsUrl: server.url.replace('http://', 'ws://').replace('/?token=', '/ws?token='), batchId });

  let finished: () => void = () => undefined;
  const done = new Promise<void>((r) => (finished = r));
  const w = api.watch(batchId, (e: BatchEvent) => {
    if (e.batch?.state === 'finished' || e.batch?.state === 'cancelled') finished();
  });
  if (!w.ok) throw new Error(w.error.message);
  // Machine noise: the same thread's event-loop delay with the station idle, just before the batch.
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await sleep(3000);
  idle.disable();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  // The station = this process (UI thread) plus the engine's process when it has one.
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, stationPids.reduce((a, pid) => a + procRssBytes(pid), 0))), 100);
  const cpu0 = stationPids.map(procCpuMs);
  const uiCpu0 = process.cpuUsage();
  const t0 = performance.now();
  loop.enable();
  const started = await api.handlers.startBatch({ batchId });
  if (!started.ok) throw new Error(started.error.message);
  await done;
  loop.disable();
  const wallMs = performance.now() - t0;
  const cpuMs = stationPids.reduce((a, pid, i) => a + procCpuMs(pid) - cpu0[i]!, 0);
  const uiCpu = process.cpuUsage(uiCpu0);
  clearInterval(sampler);
  const final = await api.handlers.getBatch({ batchId });
  if (!final.ok) throw new Error(final.error.message);
  const failures: Record<string, number> = {};
  for (const j of final.value.jobs) if (j.state === 'failed') failures[j.errorCode ?? '?'] = (failures[j.errorCode ?? '?'] ?? 0) + 1;
  const stoppedAll = fromAll<{ upgraded: number; wsEvents: number }>('stopped');
  for (const c of children) c.send({ type: 'stop' });
  const stopped = (await stoppedAll).reduce((a, r) => ({ upgraded: a.upgraded + r.upgraded, wsEvents: a.wsEvents + r.wsEvents }), { upgraded: 0, wsEvents: 0 });
  w.value();
  await server.close();
  await closeEngine();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(ptyDir, { recursive: true, force: true });
  const ms = (ns: number) => Math.round((ns / 1e6) * 100) / 100;
  return {
    mode,
    units,
    networked,
    serial,
    passed: final.value.batch.counts.passed,
    failed: final.value.batch.counts.failed,
    wallMs: Math.round(wallMs),
    stationCpuMs: Math.round(cpuMs),
    cpuMsPerUnit: Math.round((cpuMs / units) * 10) / 10,
    stationCores: Math.round((cpuMs / wallMs) * 100) / 100,
    uiProcessCores: Math.round(((uiCpu.user + uiCpu.system) / 1000 / wallMs) * 100) / 100,
    peakRssMB: Math.round(peakRss / 1e6),
    uiLoopP50Ms: ms(loop.percentile(50)),
    uiLoopP99Ms: ms(loop.percentile(99)),
    uiLoopMaxMs: ms(loop.max),
    uiLoopIdleP99Ms: ms(idle.percentile(99)),
    fleetProcesses: shards,
    devicesUpgraded: stopped.upgraded,
    wsEvents: stopped.wsEvents,
    ...(Object.keys(failures).length ? { failures } : {}),
  };
}

async function main(): Promise<void> {
  const sizes = argStr('units', '64,256,512').split(',').map(Number);
  const modeArg = argStr('mode', 'both');
  const modes: ('process' | 'in-process')[] = modeArg === 'both' ? ['in-process', 'process'] : [modeArg as 'process' | 'in-process'];
  const bytes = Number(argStr('bytes', String(64 * 1024)));
  const serialEvery = Number(argStr('serial-every', '8'));
  const fleetShardUnits = Number(argStr('fleet-shard', '128'));
  const hasSocat = spawnSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' }).status === 0;
  const runs: RunResult[] = [];
  const load0 = os.loadavg()[0];
  for (const mode of modes) {
    for (const n of sizes) {
      runs.push(await runOnce(mode, n, bytes, serialEvery, hasSocat, fleetShardUnits));
      process.stderr.write(`scale: ${JSON.stringify(runs.at(-1))}\n`);
    }
  }
  const at = (mode: string, n: number) => runs.find((r) => r.mode === mode && r.units === n);
  const largest = Math.max(...sizes);
  const smallest = Math.min(...sizes);
  const ref = at('process', largest) ?? at('in-process', largest)!;
  const base = at(ref.mode, smallest)!;
  console.log(
    JSON.stringify({
      bench: 'scale',
      imageBytes: bytes,
      runs,
      targets: {
        uiLoopP99MsAtLargest: { target: '< 5', mode: ref.mode, value: ref.uiLoopP99Ms, met: ref.uiLoopP99Ms < 5 },
        // Linear: CPU per unit at the largest size within 1.5× of the smallest size's.
        cpuPerUnitGrowth: { target: '≤ 1.5× from smallest to largest', value: Math.round((ref.cpuMsPerUnit / base.cpuMsPerUnit) * 100) / 100, met: ref.cpuMsPerUnit / base.cpuMsPerUnit <= 1.5 },
        stationCoresAtLargest: { target: '≤ 2 cores', value: ref.stationCores, met: ref.stationCores <= 2 },
      },
      serialUnits: hasSocat ? `one in ${serialEvery}` : 'none (socat missing)',
      loadAvg1m: { before: load0, after: os.loadavg()[0] },
      cores: os.cpus().length,
    }),
  );
  process.exit(0);
}

if (process.argv.includes('--fleet')) void fleet();
else void main();
