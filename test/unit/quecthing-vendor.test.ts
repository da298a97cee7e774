/**
 * Issue 9 §6/§8/§10: the station as Quectel module against the virtual MCU with the device
 * profiles of Quectel's QthTools simulator (register first and announce seconds later, 200 ms
 * silence before parsing, 1024-byte reads from its running offset, old version on an MD5
 * failure, AT+QIOTCFG query, each command sent once) — and what the station must do about each.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { QTHTOOLS_PROFILE, VirtualQuecthingMcu, createQuecthingMcu, type QuecthingMcuFault, type QuecthingMcuOptions } from '../../main/engine/device/quecthing-mcu.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { QUECTEL_MCU_OPTIONS, QUECTHING_DEFAULTS, QUECTHING_ISSUE9_OPTION_SPECS, QuecthingSotaSession, applyQuecthingPolicy, quecthingSotaDriver, resolveQuecthingOptions } from '../../main/engine/protocol/quecthing-sota/index.js';
import { resolveAutoTargets } from '../../main/engine/detect/detect.js';
import { stashProbeTraffic, takeProbeTraffic } from '../../main/engine/detect/replay.js';
import { StationError } from '../../main/engine/errors.js';
import { systemClock } from '../../main/engine/clock.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import type { SessionContext } from '../../main/engine/protocol/types.js';
import type { DevicePort, Link } from '../../main/engine/transport/types.js';

const FAST_LINK = { bytesPerSecond: 400_000, latencyMs: 1, mtuBytes: 4096, lossRate: 0 };
/** The quectel-mcu station options (echo off, announce window) with short test timers. */
const STATION = { echo: false, announceWindowMs: 2500, readIdleTimeoutMs: 3000, updateWindowMs: 6000, identifyTimeoutMs: 4000, planTriggerTimeoutMs: 6000, planReplyTimeoutMs: 4000, urcGapMs: 5, downloadGapMs: 10 };
/** QthTools at its real turn-around (200 ms silence) but a shorter operator delay. */
const QTH: QuecthingMcuOptions = { ...QTHTOOLS_PROFILE, announceDelayMs: 800, bootMs: 5, flashMs: 20 };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function context(link: Link, image: Uint8Array, options: Record<string, unknown>, address = 'qt:v'): SessionContext & { logs: string[] } {
  const logs: string[] = [];
  return {
    link,
    image: {
      info: { component: 'app', version: '2.0.0', kind: 'full', fileName: 'fw.bin', sizeBytes: image.length, crc32: crc32Hex(image), md5: createHash('md5').update(image).digest('hex'), sha256: '' },
      bytes: image,
    },
    unit: { unitId: `sim:${address}`, transport: 'sim', protocol: 'quecthing-sota', address },
    options,
    clock: systemClock,
    log: (t) => logs.push(t),
    logs,
  };
}

interface Out {
  identity?: { version?: string };
  version?: string;
  error?: StationError;
  logs: string[];
}

async function attempt(mcu: VirtualQuecthingMcu, image: Uint8Array, station: Record<string, unknown> = {}, host?: Link): Promise<Out> {
  let link = host;
  if (!link) {
    const pair = createSimLinkPair('sim:qt:v', FAST_LINK);
    cleanups.push(() => pair.host.close());
    mcu.attach(pair.device); // power-on behind a fresh cable
    link = pair.host;
  }
  const ctx = context(link, image, { ...STATION, ...station });
  const session = new QuecthingSotaSession(ctx);
  cleanups.push(() => session.dispose());
  const pair = { host: link };
  const s = new AbortController().signal;
  const out: Out = { logs: ctx.logs };
  try {
    out.identity = await session.identify(s);
    await session.negotiate(s);
    await session.transfer(0, () => undefined, s);
    await session.verify(s);
    await session.activate(s);
    out.version = await session.confirm(pair.host, s);
  } catch (e) {
    if (!(e instanceof StationError)) throw e;
    out.error = e;
  }
  // Let the last URCs reach the MCU: it parses only after 200 ms of silence.
  await new Promise((r) => setTimeout(r, 450));
  session.dispose();
  await pair.host.close();
  return out;
}

function makeMcu(opts: QuecthingMcuOptions & { fault?: QuecthingMcuFault } = {}, version = '1.0.0') {
  const memory = new DeviceMemory({ version, serialNumber: 'QT-V' });
  const mcu = new VirtualQuecthingMcu(memory, { ...QTH, ...opts });
  cleanups.push(() => mcu.dispose());
  return { memory, mcu };
}

const events = (mcu: VirtualQuecthingMcu) => mcu.heard.filter((l) => l.startsWith('+QIOTEVT: 7,')).map((l) => Number(l.split(',')[1]));

describe('QthTools MCU profile vs the station (issue 9 §6)', () => {
  it('registers first, announces seconds later: the announcement inside the window feeds the gate; component from the MCU; passes', async () => {
    const image = buildSimImage(6000, '2.0.0');
    const { mcu, memory } = makeMcu();
    const r = await attempt(mcu, image);
    expect(r.error).toBeUndefined();
    expect(r.identity).toEqual({ version: '1.0.0' }); // version_before, though it came after registration
    expect(r.version).toBe('2.0.0');
    expect(memory.state.version).toBe('2.0.0');
    expect(r.logs).toContain('plan component "MCU_A" from the MCU\'s announcement');
    expect(mcu.heard.some((l) => l.startsWith('+QIOTEVT: 7,10700,"MCU_A"'))).toBe(true);
    expect(mcu.cfgAnswered).toBe(true); // AT+QIOTCFG="tsl" got its +QIOTCFG: line
    // Reads of 1024 from its running offset, each one turn of ≥ 200 ms of silence.
    expect(mcu.heard.filter((l) => l.startsWith('+QIOTOTARD: ')).map((l) => l.slice(12))).toEqual(['0,1024', '1024,1024', '2048,1024', '3072,1024', '4096,1024', '5120,880']);
  }, 30_000);

  it('an MCU already at the target announces it after registering: identify sees it, so the gate can skip', async () => {
    const { mcu } = makeMcu({}, '2.0.0');
    const pair = createSimLinkPair('sim:qt:v', FAST_LINK);
    cleanups.push(() => pair.host.close());
    const session = new QuecthingSotaSession(context(pair.host, buildSimImage(4000, '2.0.0'), STATION));
    cleanups.push(() => session.dispose());
    mcu.attach(pair.device);
    expect(await session.identify(new AbortController().signal)).toEqual({ version: '2.0.0' });
  }, 20_000);

  it('without a window the late announcement is missed: no component to plan → SOTA_COMPONENT_UNKNOWN at once, not a hang', async () => {
    const { mcu } = makeMcu({ announceDelayMs: 3000 });
    const t0 = Date.now();
    const r = await attempt(mcu, buildSimImage(4000, '2.0.0'), { announceWindowMs: 300 });
    expect(r.error?.code).toBe('SOTA_COMPONENT_UNKNOWN');
    expect(Date.now() - t0).toBeLessThan(3000);
  }, 20_000);

  it('a plan naming another component than the MCU announces fails at once (SOTA_COMPONENT_UNKNOWN, non-retryable)', async () => {
    const { mcu } = makeMcu();
    const t0 = Date.now();
    const r = await attempt(mcu, buildSimImage(4000, '2.0.0'), { component: 'MCU_B' });
    expect(r.error?.code).toBe('SOTA_COMPONENT_UNKNOWN');
    expect(r.error?.retryable).toBe(false);
    expect(r.error?.detail.deviceCode).toBe('MCU_A');
    expect(Date.now() - t0).toBeLessThan(6000);
  }, 20_000);

  it('MD5 failure: it reports its old version after the reads (no =3) → 10706 at once, SOTA_MD5_FAILED; crc_failure_once retries and passes', async () => {
    const image = buildSimImage(5000, '2.0.0');
    const bad = makeMcu({ fault: 'corrupt_copy' });
    const r = await attempt(bad.mcu, image);
    expect(r.error?.code).toBe('SOTA_MD5_FAILED');
    expect(r.error?.retryable).toBe(true);
    expect(events(bad.mcu)).not.toContain(10704);
    expect(events(bad.mcu).at(-1)).toBe(10706);
    expect(bad.memory.state.version).toBe('1.0.0');
    // The sim knob crc_failure_once maps to a one-time MD5 failure: retried, then passes.
    const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'QT-O' });
    const once = createQuecthingMcu({ unitId: 'sim:quecthing-sota:1', transport: 'sim', protocol: 'quecthing-sota', address: '1', sim: { behaviour: 'crc_failure_once', initialVersion: '1.0.0' } }, memory, { ...QTH });
    cleanups.push(() => once.dispose());
    expect((await attempt(once, image)).error?.code).toBe('SOTA_MD5_FAILED');
    const second = await attempt(once, image);
    expect(second.error).toBeUndefined();
    expect(second.version).toBe('2.0.0');
  }, 40_000);

  it('an image without a version descriptor (the product’s own firmware) boots the version the plan announced (issue 9 §10)', async () => {
    const raw = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);
    const { mcu, memory } = makeMcu();
    const r = await attempt(mcu, raw);
    expect(r.error).toBeUndefined();
    expect(r.version).toBe('2.0.0');
    expect(memory.state.version).toBe('2.0.0');
  }, 20_000);

  it('detection never swallows its one-time first command: the probe hears AT+QIOTREG=1, the session answers it', async () => {
    const image = buildSimImage(3000, '2.0.0');
    const run = async (replay: boolean) => {
      const { mcu } = makeMcu();
      const line = relay();
      mcu.attach(line.port); // powered once; the cable moves from the probe's link to the batch's
      const probePair = createSimLinkPair('sim:qt:probe', FAST_LINK);
      line.plug(probePair.device);
      const resolved = await resolveAutoTargets(['serial:qt:v:auto'], { openSerial: async () => probePair.host, probe: { listenMs: 1500, replyMs: 100 } });
      expect(resolved).toEqual(['serial:qt:v:quecthing-sota']);
      if (!replay) takeProbeTraffic('qt:v'); // what a station that swallows it would do
      const pair = createSimLinkPair('sim:qt:v', FAST_LINK);
      cleanups.push(() => pair.host.close());
      line.plug(pair.device);
      return attempt(mcu, image, { identifyTimeoutMs: 1500 }, pair.host);
    };
    const answered = await run(true);
    expect(answered.error).toBeUndefined();
    expect(answered.version).toBe('2.0.0');
    expect(answered.logs.some((l) => l.startsWith('answering') && l.includes('during protocol detection'))).toBe(true);
    // Control: swallowed, the MCU waits for its answer forever and never speaks again.
    const swallowed = await run(false);
    expect(swallowed.error?.code).toBe('DEVICE_NOT_RESPONDING');
  }, 30_000);
});

/** One serial line whose far end moves between links without re-powering the unit. */
function relay(): { port: DevicePort; plug(p: DevicePort): void } {
  let cur: DevicePort | null = null;
  let off: (() => void) | null = null;
  const listeners = new Set<(c: Uint8Array) => void>();
  return {
    port: {
      get isOpen() {
        return cur?.isOpen ?? false;
      },
      write: (d) => cur?.write(d),
      onData: (cb) => {
        listeners.add(cb);
        return () => listeners.delete(cb);
      },
      drop: () => cur?.drop(),
    },
    plug(p) {
      off?.();
      cur = p;
      off = p.onData((c) => listeners.forEach((l) => l(c)));
    },
  };
}


describe('quectel-mcu policy (issue 9 §8): the MCU enforces the plan limits through 10700', () => {
  it('plan minimum battery / signal go into event 10700; the MCU below them refuses → POLICY_BLOCKED', async () => {
    expect(applyQuecthingPolicy({}, { minBatteryPct: 50, minRssiDbm: -70 })).toMatchObject({ batteryLimitPct: 50, minSignalDbm: -70 });
    expect(quecthingSotaDriver.applyPolicy({ batteryLimitPct: 60 }, { minBatteryPct: 50 })).toMatchObject({ batteryLimitPct: 60 });
    const image = buildSimImage(3000, '2.0.0');
    const low = makeMcu({ batteryPct: 30 });
    const r = await attempt(low.mcu, image, applyQuecthingPolicy({}, { minBatteryPct: 50 }));
    expect(r.error?.code).toBe('POLICY_BLOCKED');
    expect(low.mcu.heard.some((l) => l.startsWith('+QIOTEVT: 7,10700,"MCU_A","","2.0.0",50,'))).toBe(true);
    const weak = makeMcu({ signalDbm: -90 });
    expect((await attempt(weak.mcu, image, applyQuecthingPolicy({}, { minRssiDbm: -80 }))).error?.code).toBe('POLICY_BLOCKED');
  }, 30_000);

  it('the new options: specs match the defaults; the quectel-mcu values resolve', () => {
    for (const spec of QUECTHING_ISSUE9_OPTION_SPECS) expect(QUECTHING_DEFAULTS[spec.key as keyof typeof QUECTHING_DEFAULTS], spec.key).toEqual(spec.default);
    expect(resolveQuecthingOptions({ ...QUECTEL_MCU_OPTIONS })).toMatchObject({ echo: false, announceWindowMs: 10_000 });
    expect(() => resolveQuecthingOptions({ announceWindowMs: -1 })).toThrow(/announceWindowMs/);
  });

  it('probe traffic expires and is taken once', () => {
    stashProbeTraffic('p', Uint8Array.of(1), 0);
    expect(takeProbeTraffic('p', 120_000)).toBeUndefined();
    stashProbeTraffic('p', Uint8Array.of(1));
    expect(takeProbeTraffic('p')).toEqual(Uint8Array.of(1));
    expect(takeProbeTraffic('p')).toBeUndefined();
  });
});
