/**
 * quecthing-sota benchmark (prints ONE JSON object): payload rate ÷ virtual link rate for SOTA on
 * a 115200-baud-equivalent sim link (11 520 B/s each way, 1 ms latency) with 1024-byte reads by
 * the virtual MCU, whole-image and 16 KiB pieces; and the per-read overhead (wire bytes and ms).
 * Run: node --import tsx test/bench/quecthing.bench.ts   (about 15 s)
 */
import { createHash } from 'node:crypto';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualQuecthingMcu } from '../../main/engine/device/quecthing-mcu.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { QuecthingSotaSession } from '../../main/engine/protocol/quecthing-sota/index.js';
import { readReply } from '../../main/engine/protocol/quecthing-sota/frames.js';
import { systemClock } from '../../main/engine/clock.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import { runTimedSession } from '../helpers/timed-session.js';

const LINK_BYTES_PER_SEC = 11_520;
const LATENCY_MS = 1;
const READ_BYTES = 1024;
const IMAGE_BYTES = 64 * 1024;

async function run(pieceSizeBytes: number) {
  const image = buildSimImage(IMAGE_BYTES, '2.0.0');
  const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'BENCH' });
  const mcu = new VirtualQuecthingMcu(memory, { readBytes: READ_BYTES, bootMs: 10, flashMs: 10 });
  const pair = createSimLinkPair('sim:qt:bench', { bytesPerSecond: LINK_BYTES_PER_SEC, latencyMs: LATENCY_MS, mtuBytes: 4096, lossRate: 0 });
  const session = new QuecthingSotaSession({
    link: pair.host,
    image: { info: { component: 'app', version: '2.0.0', kind: 'full', fileName: 'app.bin', sizeBytes: image.length, crc32: crc32Hex(image), md5: createHash('md5').update(image).digest('hex'), sha256: '' }, bytes: image },
    unit: { unitId: 'sim:qt:bench', transport: 'sim', protocol: 'quecthing-sota', address: 'bench' },
    options: { pieceSizeBytes },
    clock: systemClock,
    log: () => undefined,
  });
  mcu.attach(pair.device);
  const { dataMs, totalMs, version } = await runTimedSession(session, pair.host);
  const reads = mcu.heard.filter((l) => l.startsWith('+QIOTOTARD:')).length;
  mcu.dispose();
  session.dispose();
  await pair.host.close();
  const payloadRate = IMAGE_BYTES / (dataMs / 1000);
  const requestBytes = `AT+QIOTOTARD=${IMAGE_BYTES / 2},${READ_BYTES}\r\n`.length;
  const replyOverhead = readReply(IMAGE_BYTES / 2, new Uint8Array(READ_BYTES)).length - READ_BYTES;
  const payloadMsPerRead = (READ_BYTES * 1000) / LINK_BYTES_PER_SEC;
  return {
    pieceSizeBytes: pieceSizeBytes || IMAGE_BYTES,
    pieces: Math.ceil(IMAGE_BYTES / (pieceSizeBytes || IMAGE_BYTES)),
    reads,
    dataPhaseMs: Math.round(dataMs),
    totalSessionMs: Math.round(totalMs),
    payloadBytesPerSec: Math.round(payloadRate),
    efficiency: Number((payloadRate / LINK_BYTES_PER_SEC).toFixed(4)),
    perRead: {
      requestWireBytes: requestBytes,
      replyOverheadWireBytes: replyOverhead,
      measuredMs: Number((dataMs / reads).toFixed(2)),
      payloadMs: Number(payloadMsPerRead.toFixed(2)),
      overheadMs: Number((dataMs / reads - payloadMsPerRead).toFixed(2)),
    },
    // Stop-and-wait ceiling: payload ÷ (request + reply bytes on the wire + 2 × latency).
    ceiling: Number((payloadMsPerRead / (((requestBytes + replyOverhead + READ_BYTES) * 1000) / LINK_BYTES_PER_SEC + 2 * LATENCY_MS)).toFixed(4)),
    confirmedVersion: version,
  };
}

const single = await run(0);
const multi = await run(16 * 1024);
console.log(JSON.stringify({
  bench: 'quecthing-sota',
  link: { bytesPerSecond: LINK_BYTES_PER_SEC, latencyMs: LATENCY_MS, equivalent: '115200 baud 8N1' },
  imageBytes: IMAGE_BYTES,
  readBytes: READ_BYTES,
  wholeImage: single,
  pieces16k: multi,
}));
