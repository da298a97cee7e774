/**
 * LLSync OTA throughput through real noble over the simulated adapter: achieved payload rate of
 * the data loops ÷ the ceiling implied by the device's parameters (payload / interval) and the
 * link model (packets per connection event, shared adapter airtime), for 1 unit and 6 units on
 * one adapter, at SDK defaults (16-byte payload, 5 ms) and at MTU 247 with 244-byte packages.
 * Prints one JSON object.  Run: node --import tsx test/bench/llsync.bench.ts
 */
import type { UnitRef } from '../../main/contract/dto.js';
import { systemClock } from '../../main/engine/clock.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { DEFAULT_ADAPTER, DEFAULT_BLE_LINK, AdapterAirtime } from '../../main/engine/device/llsync-airtime.js';
import { LLSYNC_SDK_DEFAULTS, LLSYNC_DEVICE_DEFAULTS, type LlsyncDeviceConfig } from '../../main/engine/device/llsync-peripheral.js';
import { LlsyncSession } from '../../main/engine/protocol/llsync-ota/session.js';
import type { FirmwareImage } from '../../main/engine/protocol/types.js';
import { LlsyncSimDelegate } from '../../main/engine/device/llsync-sim-delegate.js';

interface Scenario {
  name: string;
  units: number;
  imageBytes: number;
  device: Partial<LlsyncDeviceConfig>;
  maxAttMtu: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'sdk-defaults-16B-5ms', units: 1, imageBytes: 24 * 1024, device: LLSYNC_SDK_DEFAULTS, maxAttMtu: 23 },
  { name: 'sdk-defaults-16B-5ms', units: 6, imageBytes: 24 * 1024, device: LLSYNC_SDK_DEFAULTS, maxAttMtu: 23 },
  { name: 'mtu247-pkg244', units: 1, imageBytes: 256 * 1024, device: { packageBytes: 244 }, maxAttMtu: 247 },
  { name: 'mtu247-pkg244', units: 6, imageBytes: 192 * 1024, device: { packageBytes: 244 }, maxAttMtu: 247 },
];

async function runScenario(s: Scenario) {
  const delegate = new LlsyncSimDelegate({ device: s.device, link: { maxAttMtu: s.maxAttMtu }, transport: { maxConnections: 6 } });
  const bytes = buildSimImage(s.imageBytes, '2.0.0');
  const image: FirmwareImage = { bytes, info: { component: 'app', version: '2.0.0', kind: 'full', fileName: 'app.bin', sizeBytes: bytes.length, crc32: crc32Hex(bytes), md5: '', sha256: '' } };
  const units: UnitRef[] = Array.from({ length: s.units }, (_, i) => ({ unitId: `sim:llsync-ota:${i + 1}`, transport: 'sim', protocol: 'llsync-ota', address: `llsync-ota:${i + 1}`, sim: { behaviour: 'accept', initialVersion: '1.0.0' } }));
  const signal = new AbortController().signal;
  // Open all links first, then start every transfer together, so they share the adapter.
  const sessions = [];
  for (const u of units) {
    const link = await delegate.open(u, signal);
    const session = new LlsyncSession({ link, image, unit: u, options: {}, clock: systemClock, log: () => undefined });
    await session.identify(signal);
    const neg = await session.negotiate(signal);
    sessions.push({ session, neg, link });
  }
  const rates = await Promise.all(
    sessions.map(async ({ session, neg }) => {
      const t0 = performance.now();
      await session.transfer(neg.resumeAtBytes, () => undefined, signal);
      const ms = performance.now() - t0;
      await session.verify(signal);
      return { bytes: s.imageBytes - neg.resumeAtBytes, ms, payloadBytes: neg.chunkBytes };
    }),
  );
  const dev = { ...LLSYNC_DEVICE_DEFAULTS, ...s.device };
  const n = rates[0]!.payloadBytes;
  const writeBytes = n + 3;
  const air = new AdapterAirtime(DEFAULT_ADAPTER);
  const byInterval = (n * 1000) / dev.intervalMs;
  const byLink = (DEFAULT_BLE_LINK.packetsPerEvent * n * 1000) / DEFAULT_BLE_LINK.connIntervalMs;
  const byAdapter = air.ceilingBytesPerSec(writeBytes + 3, n) / s.units;
  const ceiling = Math.min(byInterval, byLink, byAdapter);
  const perUnit = rates.map((r) => (r.bytes * 1000) / r.ms);
  await delegate.dispose();
  return {
    scenario: s.name,
    units: s.units,
    imageBytes: s.imageBytes,
    payloadBytesPerPacket: n,
    intervalMs: dev.intervalMs,
    ceilingBytesPerSec: Math.round(ceiling),
    ceilingBy: ceiling === byInterval ? 'device interval' : ceiling === byLink ? 'connection events' : 'adapter airtime',
    meanBytesPerSec: Math.round(perUnit.reduce((a, b) => a + b, 0) / perUnit.length),
    minEfficiency: Math.round((Math.min(...perUnit) / ceiling) * 1000) / 1000,
    meanEfficiency: Math.round((perUnit.reduce((a, b) => a + b, 0) / perUnit.length / ceiling) * 1000) / 1000,
  };
}

const results = [];
for (const s of SCENARIOS) results.push(await runScenario(s));
const one = results.filter((r) => r.units === 1).map((r) => r.minEfficiency);
const six = results.filter((r) => r.units === 6).map((r) => r.minEfficiency);
console.log(
  JSON.stringify({
    bench: 'llsync',
    results,
    targets: { oneUnit: 0.95, sixUnitsPerUnit: 0.9 },
    met: one.every((e) => e >= 0.95) && six.every((e) => e >= 0.9),
  }),
);
process.exit(0);
