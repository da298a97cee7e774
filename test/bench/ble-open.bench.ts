/**
 * Time to open one BLE link (scan, connect, GATT discovery, notify) through real noble over the
 * simulated adapter, for LLSync units whose ATT MTU exchange comes right after connecting, only
 * after LLSync login, or never (vendor-behaviour.md). Shows the cost of any fixed MTU wait in
 * the transport (issue 9 §7). Prints one JSON object (median ms of 7 opens each).
 * Run: node --import tsx test/bench/ble-open.bench.ts
 */
import { LLSYNC_DEVICE_PROFILES } from '../../main/engine/device/llsync-peripheral.js';
import { parseTargets } from '../../main/engine/targets.js';
import { LlsyncSimDelegate } from '../../main/engine/device/llsync-sim-delegate.js';

const OPENS = 7;
const cases: Record<string, object> = { 'mtu-on-connect': {}, 'mtu-after-login': LLSYNC_DEVICE_PROFILES['mtu-after-login']!, 'no-mtu-report': LLSYNC_DEVICE_PROFILES['no-mtu-report']! };
const result: Record<string, { medianOpenMs: number; attMtuAtOpen: number }> = {};
for (const [name, device] of Object.entries(cases)) {
  const d = new LlsyncSimDelegate({ device });
  const [unit] = parseTargets(['sim:llsync-ota:1']);
  const times: number[] = [];
  let mtu = 0;
  for (let i = 0; i < OPENS; i++) {
    const t0 = performance.now();
    const link = (await d.open(unit!, AbortSignal.timeout(10_000))) as unknown as { attMtu: number; close(): Promise<void> };
    times.push(performance.now() - t0);
    mtu = link.attMtu;
    await link.close();
  }
  await d.dispose();
  times.sort((a, b) => a - b);
  result[name] = { medianOpenMs: Math.round(times[Math.floor(OPENS / 2)]!), attMtuAtOpen: mtu };
}
console.log(JSON.stringify(result));
