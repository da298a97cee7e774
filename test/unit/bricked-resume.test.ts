/**
 * Issue 9 §10 (device/session side): a bricked unit reports no version before the flash, and once
 * the station has flashed it in an attempt that was then interrupted (before confirm), the next
 * attempt's identify reports the target — the facts the job runner needs to count it as passed
 * on resume ("flashed by an earlier attempt"), not skipped as "already at target".
 */
import { afterEach, expect, it } from 'vitest';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualYmodemUnit } from '../../main/engine/device/ymodem-unit.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { YmodemSession } from '../../main/engine/protocol/ymodem/index.js';
import { ymodemContext } from '../helpers/pty.js';

const LINK = { bytesPerSecond: 400_000, latencyMs: 1, mtuBytes: 4096, lossRate: 0 };
const SENDER = { identifyTimeoutMs: 400, startTimeoutMs: 2000, headerAckTimeoutMs: 500, dataStartTimeoutMs: 500, blockReplyTimeoutMs: 500, eotTimeoutMs: 500, endOfBatchTimeoutMs: 500, verdictTimeoutMs: 1000 };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

it('bricked unit: no version before; after the station flashed it (attempt interrupted before confirm) it reports the target', async () => {
  const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'BR-1' });
  const unit = new VirtualYmodemUnit(memory, { behaviour: 'brick', cIntervalMs: 50, rxTimeoutMs: 500, bootMs: 50 });
  cleanups.push(() => unit.dispose());
  const image = buildSimImage(10_000, '2.0.0');
  const s = new AbortController().signal;

  const a = createSimLinkPair('sim:ymodem:br', LINK);
  unit.attach(a.device);
  const first = new YmodemSession(ymodemContext(a.host, image, SENDER));
  expect(await first.identify(s)).toEqual({}); // version before: unknown
  await first.negotiate(s);
  await first.transfer(0, () => undefined, s);
  expect((await first.verify(s)).confirmedBy).toContain('loader-verdict');
  await a.host.close(); // the station stops here: interrupted before confirm
  await new Promise((r) => setTimeout(r, 200)); // the unit boots its new application meanwhile

  const b = createSimLinkPair('sim:ymodem:br', LINK);
  cleanups.push(() => b.host.close());
  unit.attach(b.device);
  const resumed = new YmodemSession(ymodemContext(b.host, image, SENDER));
  expect(await resumed.identify(s)).toEqual({ version: '2.0.0' });
  expect(memory.state.appDead).toBe(false);
});
