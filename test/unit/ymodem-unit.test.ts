/**
 * The station's sender against VirtualYmodemUnit over the sim link pair, one test per device
 * behaviour: each ends in the StationError code an operator acts on (or a confirmed version).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualYmodemUnit, createYmodemUnit, LOADER_BANNER, type YmodemUnitOptions } from '../../main/engine/device/ymodem-unit.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { YmodemSession } from '../../main/engine/protocol/ymodem/index.js';
import { StationError } from '../../main/engine/errors.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import type { SimBehaviour } from '../../main/contract/dto.js';
import { ymodemContext } from '../helpers/pty.js';

const LINK = { bytesPerSecond: 400_000, latencyMs: 1, mtuBytes: 4096, lossRate: 0 };
const UNIT: YmodemUnitOptions = { cIntervalMs: 50, rxTimeoutMs: 500, bootMs: 50 };
const SENDER = {
  startTimeoutMs: 2000,
  headerAckTimeoutMs: 500,
  dataStartTimeoutMs: 500,
  blockReplyTimeoutMs: 500,
  eotTimeoutMs: 500,
  endOfBatchTimeoutMs: 500,
  identifyTimeoutMs: 300,
  verdictTimeoutMs: 1000,
  confirmQueryIntervalMs: 200,
  rebootTimeoutMs: 800,
  batteryQuery: 'bat\r\n',
  serialQuery: 'sn\r\n',
};
const IMAGE = buildSimImage(20_000, '2.0.0');

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));

function makeUnit(behaviour: SimBehaviour, extra: YmodemUnitOptions = {}) {
  const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'SN-0042' });
  const unit = new VirtualYmodemUnit(memory, { ...UNIT, behaviour, ...extra });
  cleanups.push(() => unit.dispose());
  return { memory, unit };
}

/** One attempt on a fresh link, as the job runner would make it. */
async function attempt(unit: VirtualYmodemUnit, options: Record<string, unknown> = {}, bytes = IMAGE) {
  await new Promise((r) => setTimeout(r, (UNIT.bootMs ?? 0) + 20)); // a unit rebooting after the last attempt
  const pair = createSimLinkPair('sim:ymodem:1', LINK);
  cleanups.push(() => void pair.host.close());
  unit.attach(pair.device);
  const ctx = ymodemContext(pair.host, bytes, { ...SENDER, ...options }, 'app-2.0.0.bin');
  const session = new YmodemSession(ctx);
  const s = new AbortController().signal;
  const out: { identity?: unknown; verdict?: unknown; version?: string; acked: number; stage: string } = { acked: 0, stage: 'identify' };
  try {
    out.identity = await session.identify(s);
    out.stage = 'negotiate';
    await session.negotiate(s);
    out.stage = 'transfer';
    await session.transfer(0, (n) => (out.acked = n), s);
    out.stage = 'verify';
    out.verdict = await session.verify(s);
    out.stage = 'activate';
    await session.activate(s);
    out.stage = 'confirm';
    out.version = await session.confirm(pair.host, s);
    out.stage = 'done';
    return { ...out, error: null as StationError | null, ctx };
  } catch (e) {
    if (!(e instanceof StationError)) throw e;
    return { ...out, error: e, ctx };
  } finally {
    await pair.host.close();
  }
}

describe('VirtualYmodemUnit behaviours', () => {
  it('accept: identify, full transfer, verdict, reboot, confirm the new version', async () => {
    const { unit, memory } = makeUnit('accept');
    const r = await attempt(unit);
    expect(r.error).toBeNull();
    expect(r.identity).toEqual({ version: '1.0.0', batteryPct: 87, serialNumber: 'SN-0042' });
    expect(r.acked).toBe(IMAGE.length);
    expect(r.verdict).toEqual({ crc32: crc32Hex(IMAGE), confirmedBy: ['loader-verdict', 'device-crc32'] });
    expect(r.version).toBe('2.0.0');
    expect(memory.state.version).toBe('2.0.0');
    expect(Buffer.from(memory.readStaging(IMAGE.length)).equals(Buffer.from(IMAGE))).toBe(true);
  });

  it('refuse_version → DEVICE_REJECTED_VERSION (this loader refuses every image)', async () => {
    const { unit, memory } = makeUnit('refuse_version');
    const r = await attempt(unit);
    expect(r.error?.code).toBe('DEVICE_REJECTED_VERSION');
    expect(r.error?.detail.deviceCode).toBe('version');
    expect(memory.state.version).toBe('1.0.0');
  });

  it('low_battery: the application reports BAT 5; a profile minimum turns it into DEVICE_LOW_BATTERY', async () => {
    const { unit } = makeUnit('low_battery');
    const r = await attempt(unit, { minBatteryPct: 20 });
    expect(r.stage).toBe('identify');
    expect(r.error?.code).toBe('DEVICE_LOW_BATTERY');
  });

  it('crc_failure → PROTOCOL_CRC_MISMATCH on every attempt, with the device CRC', async () => {
    const { unit, memory } = makeUnit('crc_failure');
    for (let i = 0; i < 2; i++) {
      const r = await attempt(unit);
      expect(r.error?.code).toBe('PROTOCOL_CRC_MISMATCH');
      expect(r.error?.detail.deviceCode).toMatch(/^crc32=[0-9a-f]{8}$/);
      expect(r.error?.detail.deviceCode).not.toBe(`crc32=${crc32Hex(IMAGE)}`);
    }
    expect(memory.state.version).toBe('1.0.0');
  });

  it('crc_failure_once: first attempt fails, the retry passes (counter persists)', async () => {
    const { unit } = makeUnit('crc_failure_once');
    expect((await attempt(unit)).error?.code).toBe('PROTOCOL_CRC_MISMATCH');
    const r = await attempt(unit);
    expect(r.error).toBeNull();
    expect(r.version).toBe('2.0.0');
  });

  it('slow_flash: ACKs come late but the transfer passes', async () => {
    const { unit } = makeUnit('slow_flash', { slowFlashMs: 30 });
    const t0 = performance.now();
    const r = await attempt(unit);
    expect(r.error).toBeNull();
    expect(performance.now() - t0).toBeGreaterThan(20 * 30);
  });

  it('reboot_timeout: verdict OK, then silence → REBOOT_TIMEOUT', async () => {
    const { unit } = makeUnit('reboot_timeout');
    const r = await attempt(unit);
    expect(r.verdict).toEqual({ crc32: crc32Hex(IMAGE), confirmedBy: ['loader-verdict', 'device-crc32'] });
    expect(r.error?.code).toBe('REBOOT_TIMEOUT');
  });

  it('brick: no console, loader sends C at once; identify returns {} and the flash recovers the unit', async () => {
    const { unit, memory } = makeUnit('brick');
    expect(memory.state.appDead).toBe(true);
    const r = await attempt(unit);
    expect(r.error).toBeNull();
    expect(r.identity).toEqual({});
    expect(r.ctx.logs.some((l) => l.includes('application dead'))).toBe(true);
    expect(r.version).toBe('2.0.0');
    expect(memory.state.appDead).toBe(false);
  });

  it('disconnect: the unit drops the link at ~30 % → TRANSPORT_LOST; the retry passes', async () => {
    const { unit, memory } = makeUnit('disconnect');
    const r1 = await attempt(unit);
    expect(r1.error?.code).toBe('TRANSPORT_LOST');
    expect(r1.stage).toBe('transfer');
    expect(r1.acked).toBeGreaterThan(0);
    expect(r1.acked).toBeLessThan(IMAGE.length * 0.4);
    const r2 = await attempt(unit); // the unit is still in its loader: identify sees only C
    expect(r2.error).toBeNull();
    expect(r2.version).toBe('2.0.0');
    expect(memory.state.counters['ymodem.disconnects']).toBe(1);
  });

  it('an image bigger than the loader flash → CAN CAN → DEVICE_NO_SPACE', async () => {
    const { unit } = makeUnit('accept', { flashBytes: 8192 });
    const r = await attempt(unit);
    expect(r.stage).toBe('negotiate');
    expect(r.error?.code).toBe('DEVICE_NO_SPACE');
  });

  it('no application and no bootloader → DEVICE_NOT_RESPONDING', async () => {
    const { unit } = makeUnit('reboot_timeout');
    await attempt(unit); // now hung
    const r = await attempt(unit);
    expect(r.error?.code).toBe('DEVICE_NOT_RESPONDING');
  });

  it('the boot banner carries the §8.1.5 trap', () => {
    expect(LOADER_BANNER).toContain('(C) COPYRIGHT');
  });

  it('createYmodemUnit reads behaviour, battery and disconnect point from the unit ref', async () => {
    const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'x' });
    const unit = createYmodemUnit(
      { unitId: 'sim:ymodem:9', transport: 'sim', protocol: 'ymodem', address: '9', sim: { behaviour: 'accept', initialVersion: '1.0.0', batteryPct: 42 } },
      memory,
      { bootMs: 50 },
    );
    cleanups.push(() => unit.dispose());
    const r = await attempt(unit);
    expect(r.identity).toMatchObject({ batteryPct: 42 });
    expect(r.version).toBe('2.0.0');
  });
});
