/**
 * YMODEM benchmark (prints ONE JSON object): (a) data-phase efficiency of the sender against
 * VirtualYmodemUnit over the time-accurate sim link at 115200- and 921600-baud equivalents;
 * (b) 1 MiB into lrzsz `rb` over a PTY: Flashline's sender vs lrzsz `sb`, wall time.
 * Run: node --import tsx test/bench/ymodem.bench.ts   (about 2 minutes: 1 MiB at 11520 B/s is 91 s)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualYmodemUnit } from '../../main/engine/device/ymodem-unit.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { BARE_RECEIVER_PROFILE, YmodemSession } from '../../main/engine/protocol/ymodem/index.js';
import { openSerialLink } from '../../main/engine/transport/serial/serial-transport.js';
import { hasTool, spawnRbPeer, tempDir, ymodemContext } from '../helpers/pty.js';
import { runTimedSession } from '../helpers/timed-session.js';

const MIB = 1 << 20;
const RATES = [
  { label: '115200', bytesPerSecond: 11520 },
  { label: '921600', bytesPerSecond: 92160 },
].filter((r) => !process.env.YMODEM_BENCH_RATES || process.env.YMODEM_BENCH_RATES.split(',').includes(r.label));

async function simRun(bytesPerSecond: number) {
  const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'BENCH' });
  const unit = new VirtualYmodemUnit(memory, { cIntervalMs: 100, bootMs: 50 });
  const model = { bytesPerSecond, latencyMs: 1, mtuBytes: 4096, lossRate: 0 };
  const pair = createSimLinkPair(`sim:bench:${bytesPerSecond}`, model);
  unit.attach(pair.device);
  const image = buildSimImage(MIB, '2.0.0');
  const session = new YmodemSession(ymodemContext(pair.host, image, { identifyTimeoutMs: 500 }));
  const { dataMs, totalMs, verdict, version } = await runTimedSession(session, pair.host);
  unit.dispose();
  await pair.host.close();
  const payloadRate = MIB / (dataMs / 1000);
  return {
    linkBytesPerSec: bytesPerSecond,
    dataPhaseMs: Math.round(dataMs),
    totalSessionMs: Math.round(totalMs),
    payloadBytesPerSec: Math.round(payloadRate),
    efficiency: Number((payloadRate / bytesPerSecond).toFixed(4)),
    // Stop-and-wait ceiling: payload share of each frame × frame time / (frame time + 2 × latency + ACK byte).
    ceiling: Number(((1024 / 1029) * ((1029 / bytesPerSecond) / (1029 / bytesPerSecond + 2 * model.latencyMs / 1000 + 1 / bytesPerSecond))).toFixed(4)),
    retries: session.retryCount,
    verdictOk: verdict.crc32 !== undefined,
    confirmedVersion: version,
  };
}

function waitExit(p: ReturnType<typeof spawn>): Promise<number | null> {
  return p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (c) => r(c)));
}

async function flashlineToRb(image: Uint8Array) {
  const dir = tempDir('flashline-bench-');
  const t0 = performance.now();
  const peer = await spawnRbPeer(dir);
  const link = await openSerialLink(peer.dutPath);
  const session = new YmodemSession(ymodemContext(link, image, { ...BARE_RECEIVER_PROFILE, startTimeoutMs: 10_000 }, 'bench.bin'));
  const s = new AbortController().signal;
  await session.negotiate(s);
  const tData = performance.now();
  await session.transfer(0, () => undefined, s);
  const dataMs = performance.now() - tData;
  await session.verify(s);
  const code = await peer.exited;
  const wallMs = performance.now() - t0;
  await link.close();
  const ok = code === 0 && Buffer.from(image).equals(fs.readFileSync(path.join(peer.rxDir, 'bench.bin')));
  fs.rmSync(dir, { recursive: true, force: true });
  return { wallMs, dataMs, ok };
}

async function sbToRb(image: Uint8Array) {
  const dir = tempDir('flashline-bench-sb-');
  const src = path.join(dir, 'bench.bin');
  fs.writeFileSync(src, image);
  const t0 = performance.now();
  const peer = await spawnRbPeer(dir);
  // sb behind its own socat on the same PTY, the way rb sits behind one (ymodem.md §11).
  const sb = spawn('socat', [`${peer.dutPath},raw,echo=0`, `SYSTEM:exec sb -q ${src}`], { stdio: 'ignore' });
  const [rbCode] = await Promise.all([peer.exited, waitExit(sb)]);
  const wallMs = performance.now() - t0;
  const ok = rbCode === 0 && Buffer.from(image).equals(fs.readFileSync(path.join(peer.rxDir, 'bench.bin')));
  fs.rmSync(dir, { recursive: true, force: true });
  return { wallMs, ok };
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = { bench: 'ymodem', imageBytes: MIB, node: process.version };
  // (a) both rates run side by side: each has its own link pair and timers.
  const sims = await Promise.all(RATES.map((r) => simRun(r.bytesPerSecond)));
  out.sim = Object.fromEntries(RATES.map((r, i) => [r.label, sims[i]]));
  out.simEfficiencyTarget = 0.95;
  // (b) lrzsz
  if (hasTool('socat') && hasTool('rb') && hasTool('sb')) {
    const image = buildSimImage(MIB, '2.0.0');
    const runs = 3;
    const fl: Awaited<ReturnType<typeof flashlineToRb>>[] = [];
    const sb: Awaited<ReturnType<typeof sbToRb>>[] = [];
    for (let i = 0; i < runs; i++) {
      fl.push(await flashlineToRb(image));
      sb.push(await sbToRb(image));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const flMs = median(fl.map((r) => r.wallMs));
    const sbMs = median(sb.map((r) => r.wallMs));
    out.lrzsz = {
      runs,
      flashlineWallMs: Math.round(flMs),
      flashlineDataPhaseMs: Math.round(median(fl.map((r) => r.dataMs))),
      sbWallMs: Math.round(sbMs),
      wallRatioFlashlineToSb: Number((flMs / sbMs).toFixed(3)),
      target: 'ratio <= 1',
      allFilesIdentical: fl.every((r) => r.ok) && sb.every((r) => r.ok),
    };
  } else {
    out.lrzsz = { skipped: 'socat/rb/sb not installed' };
  }
  console.log(JSON.stringify(out));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.log(JSON.stringify({ bench: 'ymodem', error: e instanceof Error ? e.message : String(e) }));
    process.exit(1);
  },
);
