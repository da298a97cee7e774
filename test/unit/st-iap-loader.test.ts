/**
 * Issue 9 §5: the station's YMODEM session with the built-in ST IAP options against the virtual
 * ST AN4657 loader and each of its quirks (menu key lost while printing, one-byte receive
 * register, abandoned-session CAN CAN, 64-byte name buffer, shipped vs fixed size check, text
 * results). Each test asserts the verdict an operator sees.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { ST_MENU_END, VirtualStIapLoader, type StIapLoaderOptions } from '../../main/engine/device/st-iap-loader.js';
import { createYmodemSimDevice } from '../../main/engine/device/ymodem-unit.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { ST_IAP_YMODEM_OPTIONS, YMODEM_DEFAULTS, YMODEM_ISSUE9_OPTION_SPECS, YmodemSession, applyYmodemPolicy, resolveYmodemOptions, ymodemDriver } from '../../main/engine/protocol/ymodem/index.js';
import { encodeBlock, encodeHeaderBlock, CAN } from '../../main/engine/protocol/ymodem/frames.js';
import { StationError } from '../../main/engine/errors.js';
import { ymodemContext } from '../helpers/pty.js';

const LINK = { bytesPerSecond: 400_000, latencyMs: 1, mtuBytes: 4096, lossRate: 0 };
/** The loader at 4× ST speed: C every 250 ms, CAN CAN after ~1.5 s of silence. */
const LOADER: StIapLoaderOptions = { cIntervalMs: 250, menuPrintMs: 60, flashWriteMs: 3, eraseMs: 10 };
/** The built-in ST options with timers scaled like the loader (margins for a loaded machine). */
const STATION = {
  ...ST_IAP_YMODEM_OPTIONS,
  menuPromptTimeoutMs: 600,
  menuRetryMs: 600,
  controlGapMs: 400,
  startTimeoutMs: 3000,
  headerAckTimeoutMs: 1500,
  dataStartTimeoutMs: 1500,
  blockReplyTimeoutMs: 1500,
  eotTimeoutMs: 1500,
  endOfBatchTimeoutMs: 1500,
  verdictTimeoutMs: 2000,
};
const IMAGE = buildSimImage(40_000, '2.0.0');

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function makeLoader(extra: StIapLoaderOptions = {}) {
  const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'ST-1' });
  const loader = new VirtualStIapLoader(memory, { ...LOADER, ...extra });
  cleanups.push(() => loader.dispose());
  return { memory, loader };
}

function plug(loader: VirtualStIapLoader) {
  const pair = createSimLinkPair('sim:ymodem:st', LINK);
  cleanups.push(() => pair.host.close());
  loader.attach(pair.device);
  return pair;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

interface AttemptOut {
  error: StationError | null;
  verdict?: unknown;
  version?: string;
  acked: number;
  logs: string[];
}

/** One attempt as the job runner makes it: identify → … → confirm, on a fresh cable. */
async function attempt(loader: VirtualStIapLoader, options: Record<string, unknown> = {}, opts: { bytes?: Uint8Array; fileName?: string; abortAtBytes?: number; stopAtBytes?: number } = {}): Promise<AttemptOut> {
  const pair = plug(loader);
  const ctx = ymodemContext(pair.host, opts.bytes ?? IMAGE, { ...STATION, ...options }, opts.fileName ?? 'app-2.0.0.bin');
  const session = new YmodemSession(ctx);
  const ac = new AbortController();
  const out: AttemptOut = { error: null, acked: 0, logs: ctx.logs };
  try {
    expect(await session.identify(ac.signal)).toEqual({});
    await session.negotiate(ac.signal);
    await session.transfer(0, (n) => {
      out.acked = n;
      if (opts.abortAtBytes !== undefined && n >= opts.abortAtBytes && !ac.signal.aborted) ac.abort(new StationError('JOB_CANCELLED', 'operator'));
      if (opts.stopAtBytes !== undefined && n >= opts.stopAtBytes) {
        // A killed station sends nothing more: the cable just goes quiet.
        void pair.host.close();
        throw new StationError('TRANSPORT_LOST', 'station killed');
      }
    }, ac.signal);
    out.verdict = await session.verify(ac.signal);
    await session.activate(ac.signal);
    out.version = await session.confirm(pair.host, ac.signal);
  } catch (e) {
    if (!(e instanceof StationError)) throw e;
    if (e.message !== 'station killed') out.error = e;
  } finally {
    await pair.host.close();
  }
  return out;
}

describe('ST IAP loader (virtual AN4657) vs the station’s st-iap-ymodem options', () => {
  it('accept: menu prompt → key → lone C past the banner’s (C) → transfer → "Completed" + size = the verdict', async () => {
    const { loader, memory } = makeLoader();
    const r = await attempt(loader);
    expect(r.error).toBeNull();
    expect(r.verdict).toEqual({ confirmedBy: ['loader-verdict', 'size'] });
    expect(r.version).toBeUndefined(); // no version query on this loader: confirm is the verdict
    expect(r.acked).toBe(IMAGE.length);
    expect(Buffer.from(memory.readStaging(IMAGE.length)).equals(Buffer.from(IMAGE))).toBe(true);
    expect(loader.printed).toContain(`Size: ${IMAGE.length} Bytes`);
    expect(memory.state.version).toBe('2.0.0');
  });

  it('a key sent while the menu prints is lost; the station waits for the prompt and passes', async () => {
    const { loader } = makeLoader({ menuPrintMs: 150 });
    // A naive sender: key as soon as the port opens.
    const naive = plug(loader);
    const heard: number[] = [];
    naive.host.onData((c) => heard.push(...c));
    await naive.host.write(Uint8Array.of(0x31));
    await sleep(500);
    expect(loader.dropped).toBeGreaterThanOrEqual(1);
    expect(heard.includes(0x43) && loader.state.mode === 'receiving').toBe(false); // no session started
    await naive.host.close();
    // The menu is long printed now: the station sends the key blind after menuPromptTimeoutMs.
    const r = await attempt(loader);
    expect(r.error).toBeNull();
    expect(r.logs.some((l) => l.includes('no menu prompt'))).toBe(true);
  });

  it('one-byte receive register: CANs sent right behind a block vanish while it writes flash', async () => {
    const { loader } = makeLoader({ flashWriteMs: 80 });
    const pair = plug(loader);
    await until(() => loader.state.mode === 'menu', 2000);
    await pair.host.write(Uint8Array.of(0x31));
    await until(() => loader.state.mode === 'receiving', 1000);
    await pair.host.write(encodeHeaderBlock('a.bin', 4096, 0, 'size-mtime'));
    await until(() => loader.state.packetsReceived === 1, 1000);
    const block = encodeBlock(1, new Uint8Array(1024).fill(7));
    await pair.host.write(Uint8Array.from([...block, CAN, CAN, CAN, CAN, CAN]));
    await sleep(400);
    expect(loader.dropped).toBeGreaterThanOrEqual(4);
    expect(loader.state.mode).toBe('receiving'); // the burst did not cancel it
    expect(loader.state.packetsReceived).toBe(2);
  });

  it('operator abort mid-transfer: the cancel waits until the loader listens, is repeated, and returns it to its menu', async () => {
    const { loader } = makeLoader({ flashWriteMs: 20 });
    const r = await attempt(loader, {}, { abortAtBytes: 10_000 });
    expect(r.error?.code).toBe('JOB_CANCELLED');
    expect(await until(() => loader.printed.includes('Aborted by user.'), 2000)).toBe(true);
    expect(await until(() => loader.state.mode === 'menu', 2000)).toBe(true);
    // …so the next attempt needs no power cycle.
    const again = await attempt(loader);
    expect(again.error).toBeNull();
  });

  it('abandoned session (station killed, loader now sends CAN CAN every second) → recovered with CAN CAN, then passes', async () => {
    const { loader, memory } = makeLoader();
    const killed = await attempt(loader, {}, { stopAtBytes: 12_000 });
    expect(killed.error).toBeNull();
    // ~5 intervals of C, then CAN CAN every interval.
    expect(await until(() => loader.state.errors > 5, 6000)).toBe(true);
    const r = await attempt(loader);
    expect(r.error).toBeNull();
    expect(r.verdict).toEqual({ confirmedBy: ['loader-verdict', 'size'] });
    expect(r.logs.some((l) => l.includes('loader left mid-session') && l.includes('CAN CAN'))).toBe(true);
    expect(Buffer.from(memory.readStaging(IMAGE.length)).equals(Buffer.from(IMAGE))).toBe(true);
  });

  it('loader left mid-session while still sending C: our header gets NAK → recovered, then passes', async () => {
    const { loader } = makeLoader({ cIntervalMs: 600 });
    const killed = await attempt(loader, {}, { stopAtBytes: 12_000 });
    expect(killed.error).toBeNull();
    expect(loader.state.sessionBegin && loader.state.errors <= 5).toBe(true);
    const r = await attempt(loader, { menuPromptTimeoutMs: 2500 });
    expect(r.error).toBeNull();
    expect(r.logs.some((l) => l.includes('answered our header with NAK'))).toBe(true);
  });

  it('a unit left mid-session survives a station restart: a new loader object starts in the abandoned state', async () => {
    const { loader, memory } = makeLoader();
    await attempt(loader, {}, { stopAtBytes: 8000 });
    loader.dispose();
    const reborn = new VirtualStIapLoader(memory, LOADER);
    cleanups.push(() => reborn.dispose());
    expect(reborn.state.mode).toBe('receiving');
    const r = await attempt(reborn);
    expect(r.error).toBeNull();
  });

  it('64-byte name buffer: a 64-character name corrupts the printed size → LOADER_SIZE_MISMATCH; the profile’s 63 passes', async () => {
    const long = `${'n'.repeat(60)}.bin`; // 64 characters
    const a = makeLoader();
    const bad = await attempt(a.loader, { maxFileNameChars: 64 }, { fileName: long });
    expect(bad.error?.code).toBe('LOADER_SIZE_MISMATCH');
    expect(bad.error?.detail.deviceCode).toBe('Size: 0');
    const b = makeLoader();
    const good = await attempt(b.loader, {}, { fileName: long });
    expect(good.error).toBeNull();
    expect(b.loader.printed).toContain(`Name: ${'n'.repeat(59)}.bin`);
    const refuse = await attempt(makeLoader().loader, { fileNameOverflow: 'refuse' }, { fileName: long });
    expect(refuse.error?.code).toBe('CONFIG_INVALID');
  });

  it('image larger than the flash: refused before sending (profile flash size); the shipped loader would say "Completed"', async () => {
    const big = buildSimImage(20_000, '2.0.0');
    const shipped = makeLoader({ flashBytes: 16_384 });
    const refused = await attempt(shipped.loader, { flashBytes: 16_384 }, { bytes: big });
    expect(refused.error?.code).toBe('IMAGE_TOO_LARGE_FOR_DEVICE');
    expect(shipped.loader.state.packetsReceived).toBe(0);
    // Why the station must check: without the profile's flash size the shipped loader truncates and reports success.
    const trap = await attempt(makeLoader({ flashBytes: 16_384 }).loader, { flashBytes: null }, { bytes: big });
    expect(trap.error).toBeNull();
    // The fixed loader cancels after the header and prints why.
    const fixed = await attempt(makeLoader({ flashBytes: 16_384, sizeCheckFix: true }).loader, { flashBytes: null }, { bytes: big });
    expect(fixed.error?.code).toBe('DEVICE_NO_SPACE');
    expect(fixed.error?.detail.deviceCode).toBe('COM_LIMIT');
  });

  it('flash verification fault: "Verification failed!" → DEVICE_FLASH_WRITE_FAILED; crc_failure_once passes on the retry', async () => {
    const { loader } = makeLoader({ behaviour: 'crc_failure' });
    const r = await attempt(loader);
    expect(r.error?.code).toBe('DEVICE_FLASH_WRITE_FAILED');
    expect(r.error?.detail.deviceCode).toBe('COM_DATA');
    const once = makeLoader({ behaviour: 'crc_failure_once' });
    expect((await attempt(once.loader)).error?.code).toBe('DEVICE_FLASH_WRITE_FAILED');
    expect((await attempt(once.loader)).error).toBeNull();
  });

  it('a loader that prints no result → LOADER_NO_VERDICT (unconfirmed, never a pass)', async () => {
    const { loader } = makeLoader({ textResults: false });
    const r = await attempt(loader, { verdictTimeoutMs: 500 });
    expect(r.error?.code).toBe('LOADER_NO_VERDICT');
  });

  it('a clone that gives up instead of sending CAN CAN forever: "Failed to receive the file!" after an abandoned session', async () => {
    const { loader } = makeLoader({ abandonedCan: false });
    await attempt(loader, {}, { stopAtBytes: 8000 });
    expect(await until(() => loader.printed.includes('Failed to receive the file!'), 6000)).toBe(true);
    expect((await attempt(loader)).error).toBeNull();
  });

  it('disconnect mid-transfer → TRANSPORT_LOST; the retry recovers the loader it left mid-session', async () => {
    const { loader } = makeLoader({ behaviour: 'disconnect' });
    const first = await attempt(loader);
    expect(first.error?.code).toBe('TRANSPORT_LOST');
    const second = await attempt(loader);
    expect(second.error).toBeNull();
  });

  it('sim:ymodem:N:st_iap / st_iap_fixed select the ST loader model', () => {
    const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'x' });
    const d = createYmodemSimDevice({ unitId: 'sim:ymodem:1', transport: 'sim', protocol: 'ymodem', address: '1', sim: { behaviour: 'st_iap_fixed', initialVersion: '1.0.0' } }, memory);
    cleanups.push(() => d.dispose());
    expect(d).toBeInstanceOf(VirtualStIapLoader);
    expect(ST_MENU_END.startsWith('=')).toBe(true);
  });
});

describe('st-iap-ymodem policy and options (issue 9 §8)', () => {
  it('a plan battery minimum on a loader that cannot report battery refuses to start: POLICY_UNCHECKABLE', () => {
    const e = (() => {
      try {
        applyYmodemPolicy({ ...ST_IAP_YMODEM_OPTIONS }, { minBatteryPct: 30 });
      } catch (x) {
        return x as StationError;
      }
      return null;
    })();
    expect(e?.code).toBe('POLICY_UNCHECKABLE');
    expect(e?.toView().operatorText['zh-CN']).toMatch(/电量/);
    expect(() => applyYmodemPolicy({ ...ST_IAP_YMODEM_OPTIONS }, { minRssiDbm: -80 })).toThrow(/signal/);
    expect(() => resolveYmodemOptions({ minBatteryPct: 20, batteryQuery: null })).toThrow(StationError);
    // A console profile with a battery query takes it, and the session enforces it.
    expect(applyYmodemPolicy({ batteryQuery: 'bat\r\n' }, { minBatteryPct: 30 })).toMatchObject({ minBatteryPct: 30 });
    expect(ymodemDriver.applyPolicy({}, {})).toEqual({});
  });

  it('validates the new options', () => {
    expect(() => resolveYmodemOptions({ maxFileNameChars: 65 })).toThrow(/maxFileNameChars/);
    expect(() => resolveYmodemOptions({ verdictFormat: 'st' })).toThrow(/verdictFormat/);
    expect(() => resolveYmodemOptions({ menuPrompt: '(' })).toThrow(/menuPrompt/);
    expect(() => resolveYmodemOptions({ menuPrompt: 'x' })).toThrow(/needs a menuKey/);
    expect(resolveYmodemOptions({ ...ST_IAP_YMODEM_OPTIONS }).menuPrompt).toBeInstanceOf(RegExp);
    expect(resolveYmodemOptions({ menuKey: 1 }).menuKey).toBe('1');
    // Every new option's spec matches its default (what `flashline options ymodem` prints).
    for (const spec of YMODEM_ISSUE9_OPTION_SPECS) expect(YMODEM_DEFAULTS[spec.key as keyof typeof YMODEM_DEFAULTS], spec.key).toEqual(spec.default);
  });
});

