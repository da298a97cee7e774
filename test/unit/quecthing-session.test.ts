/**
 * The station as the Quectel module against the virtual QuecThing MCU over the time-accurate
 * sim link: multi-piece SOTA, every MCU fault knob → its station error and result code, strict
 * vs lenient verdicts, and a scripted MCU for the §4 state rules (early `=2`, out-of-piece
 * reads, echo, support commands, operator cancel → 10706).
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualQuecthingMcu, type QuecthingMcuFault, type QuecthingMcuOptions } from '../../main/engine/device/quecthing-mcu.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { QuecthingSotaSession } from '../../main/engine/protocol/quecthing-sota/index.js';
import { ModuleReplyParser, ascii, type ModuleReply } from '../../main/engine/protocol/quecthing-sota/frames.js';
import { catalogEntry, StationError } from '../../main/engine/errors.js';
import { systemClock } from '../../main/engine/clock.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import type { ResultCode } from '../../main/contract/dto.js';
import type { SessionContext } from '../../main/engine/protocol/types.js';

const FAST_LINK = { bytesPerSecond: 400_000, latencyMs: 1, mtuBytes: 4096, lossRate: 0 };
/** Short station timers so timeouts happen within the test (the defaults are 60 s / 20 min). */
const QUICK = { readIdleTimeoutMs: 1500, updateWindowMs: 2500, identifyTimeoutMs: 3000, planTriggerTimeoutMs: 4000, planReplyTimeoutMs: 3000, urcGapMs: 5, downloadGapMs: 10 };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function context(link: SessionContext['link'], image: Uint8Array, version: string, options: Record<string, unknown>): SessionContext & { logs: string[] } {
  const logs: string[] = [];
  return {
    link,
    image: {
      info: { component: 'app', version, kind: 'full', fileName: 'app.bin', sizeBytes: image.length, crc32: crc32Hex(image), md5: createHash('md5').update(image).digest('hex'), sha256: createHash('sha256').update(image).digest('hex') },
      bytes: image,
    },
    unit: { unitId: 'sim:qt:1', transport: 'sim', protocol: 'quecthing-sota', address: 'qt:1' },
    options,
    clock: systemClock,
    log: (t) => logs.push(t),
    logs,
  };
}

interface RunResult {
  version?: string;
  error?: StationError;
  acked: number;
  memory: DeviceMemory;
  mcu: VirtualQuecthingMcu;
  logs: string[];
  session: QuecthingSotaSession;
}

/** The runner's step order, against a virtual MCU on the far end of a sim link. */
async function runSota(image: Uint8Array, opts: { fault?: QuecthingMcuFault; mcu?: QuecthingMcuOptions; station?: Record<string, unknown>; version?: string } = {}): Promise<RunResult> {
  const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'QT-1' });
  const mcu = new VirtualQuecthingMcu(memory, { fault: opts.fault, bootMs: 5, flashMs: 20, replyTimeoutMs: 800, ...opts.mcu });
  const pair = createSimLinkPair('sim:qt:1', FAST_LINK);
  const ctx = context(pair.host, image, opts.version ?? '2.0.0', { ...QUICK, ...opts.station });
  const session = new QuecthingSotaSession(ctx);
  cleanups.push(() => pair.host.close(), () => mcu.dispose(), () => session.dispose());
  mcu.attach(pair.device);
  const signal = new AbortController().signal;
  let acked = 0;
  try {
    const id = await session.identify(signal);
    expect(id.version).toBe('1.0.0');
    await session.negotiate(signal);
    await session.transfer(0, (n) => (acked = n), signal);
    expect(await session.verify(signal)).toEqual({});
    await session.activate(signal);
    const version = await session.confirm(pair.host, signal);
    await settle();
    return { version, acked, memory, mcu, logs: ctx.logs, session };
  } catch (e) {
    expect(e).toBeInstanceOf(StationError);
    await settle();
    return { error: e as StationError, acked, memory, mcu, logs: ctx.logs, session };
  }
}

/** URCs go out after the final result that caused them (§1): let them arrive. */
const settle = () => new Promise((r) => setTimeout(r, 120));
const events = (mcu: VirtualQuecthingMcu) => mcu.heard.filter((l) => l.startsWith('+QIOTEVT: 7,')).map((l) => Number(l.split(',')[1]));

describe('quecthing-sota session vs the virtual MCU', () => {
  it('multi-piece SOTA (module buffer smaller than the image): every byte lands, MD5 checks, new version confirmed', async () => {
    const image = buildSimImage(70_000, '2.0.0');
    const r = await runSota(image, { station: { pieceSizeBytes: 16_384 } });
    expect(r.error).toBeUndefined();
    expect(r.version).toBe('2.0.0');
    expect(r.acked).toBe(image.length);
    expect(r.memory.state.version).toBe('2.0.0');
    expect(Buffer.compare(Buffer.from(r.memory.readStaging(image.length)), Buffer.from(image))).toBe(0);
    // 10701 once, then 10702/10703 per piece (5 pieces: 4 × 16 KiB + 4464), 10704, 10705.
    expect(events(r.mcu)).toEqual([10700, 10701, 10702, 10703, 10702, 10703, 10702, 10703, 10702, 10703, 10702, 10703, 10704, 10705]);
    const pieces = r.mcu.heard.filter((l) => l.startsWith('+QIOTEVT: 7,10703')).map((l) => l.split(',').slice(-2).map(Number));
    expect(pieces).toEqual([[0, 16384], [16384, 16384], [32768, 16384], [49152, 16384], [65536, 4464]]);
    expect(r.session.status.state).toBe('IDLE');
  });

  it('odd read size (974) and SHA-256 on request: reads clamp at piece ends, 10701 carries the hash', async () => {
    const image = buildSimImage(9_000, '2.0.0');
    const r = await runSota(image, { mcu: { readBytes: 974, otaReqInfo: 1 }, station: { pieceSizeBytes: 4000 } });
    expect(r.version).toBe('2.0.0');
    const e10701 = r.mcu.heard.find((l) => l.startsWith('+QIOTEVT: 7,10701'))!;
    expect(e10701).toContain(`"${createHash('sha256').update(image).digest('hex')}"`);
    expect(e10701).toContain(`,${Number.parseInt(crc32Hex(image), 16)},`);
    const headers = r.mcu.heard.filter((l) => l.startsWith('+QIOTOTARD:'));
    expect(headers).toContain('+QIOTOTARD: 3896,104'); // 4 × 974 = 3896, clamped to the 4000 piece end
    expect(headers.at(-1)).toBe(`+QIOTOTARD: ${8000 + 974},${9000 - 8974}`);
  });

  // versionAfter: what the MCU runs afterwards (it flashes on its own once it has the bytes).
  const faultCases: { fault: QuecthingMcuFault; code: string; result: ResultCode; station?: Record<string, unknown>; event?: number; versionAfter: string }[] = [
    { fault: 'refuse_plan', code: 'DEVICE_REJECTED_VERSION', result: 'version_rejected', versionAfter: '1.0.0' },
    { fault: 'read_outside', code: 'SOTA_READ_ERRORS', result: 'device_error', station: { pieceSizeBytes: 4096 }, event: 10706, versionAfter: '1.0.0' },
    { fault: 'stop_reading', code: 'SOTA_READ_TIMEOUT', result: 'timeout', event: 10706, versionAfter: '1.0.0' },
    { fault: 'skip_update3', code: 'SOTA_INCOMPLETE_READ', result: 'device_error', event: 10706, versionAfter: '2.0.0' },
    { fault: 'reboot_timeout', code: 'SOTA_UPDATE_TIMEOUT', result: 'timeout', event: 10706, versionAfter: '2.0.0' },
  ];
  for (const c of faultCases) {
    it(`fault ${c.fault} → ${c.code} (${c.result})`, async () => {
      const r = await runSota(buildSimImage(12_000, '2.0.0'), { fault: c.fault, station: c.station });
      expect(r.error?.code).toBe(c.code);
      expect(r.error?.result).toBe(c.result);
      expect(catalogEntry(r.error!.code).en.length).toBeGreaterThan(10);
      if (c.event) {
        expect(r.error?.detail.deviceCode).toBe(String(c.event));
        // A hung MCU hears nothing; every other one gets the 10706 that resets its OTA state.
        if (c.fault !== 'reboot_timeout') expect(events(r.mcu)).toContain(c.event);
      }
      expect(r.memory.state.version).toBe(c.versionAfter);
    });
  }

  it('fault corrupt_copy: the MCU MD5 check fails, it keeps and reports the old version → 10706, SOTA_MD5_FAILED (retryable, issue 9 §6)', async () => {
    const r = await runSota(buildSimImage(12_000, '2.0.0'), { fault: 'corrupt_copy' });
    expect(r.error?.code).toBe('SOTA_MD5_FAILED');
    expect(r.error?.retryable).toBe(true);
    expect(r.error?.result).toBe('md5_mismatch');
    expect(events(r.mcu).slice(-2)).toEqual([10704, 10706]);
    expect(r.memory.state.version).toBe('1.0.0');
  });

  it('fault wrong_version: the MCU boots and reports another version → 10706', async () => {
    const r = await runSota(buildSimImage(12_000, '2.0.0'), { fault: 'wrong_version' });
    expect(r.version).toBe('2.0.0-bad');
    expect(events(r.mcu).at(-1)).toBe(10706);
  });

  it('fault reannounce_old: strict → 10706 mid-download; lenient (default) ignores it and passes', async () => {
    const strict = await runSota(buildSimImage(12_000, '2.0.0'), { fault: 'reannounce_old', station: { tolerateOldVersionReport: false } });
    expect(strict.error).toBeUndefined();
    expect(strict.version).toBe('1.0.0');
    expect(events(strict.mcu)).toContain(10706);
    expect(events(strict.mcu)).not.toContain(10704);
    const lenient = await runSota(buildSimImage(12_000, '2.0.0'), { fault: 'reannounce_old' });
    expect(lenient.version).toBe('2.0.0');
    expect(lenient.logs.some((l) => l.includes('ignored a report of the old version 1.0.0'))).toBe(true);
    expect(lenient.memory.state.counters['qt.watchdogResets']).toBe(1);
  });

  it('fault garbage: boot noise and junk lines are ignored, the upgrade passes', async () => {
    const r = await runSota(buildSimImage(40_000, '2.0.0'), { fault: 'garbage' });
    expect(r.version).toBe('2.0.0');
    expect(r.logs.filter((l) => l.startsWith('ignored: non-AT line')).length).toBeGreaterThanOrEqual(2);
  });

  it('fault skip_update3 passes in lenient mode (vendor-minimum flow)', async () => {
    const r = await runSota(buildSimImage(12_000, '2.0.0'), { fault: 'skip_update3', station: { strictVerdict: false } });
    expect(r.version).toBe('2.0.0');
    expect(events(r.mcu)).not.toContain(10704);
  });

  it('fault silent (application dead) → DEVICE_NOT_RESPONDING; component mismatch → SOTA_COMPONENT_UNKNOWN', async () => {
    const dead = await runSota(buildSimImage(4_000, '2.0.0'), { fault: 'silent', station: { identifyTimeoutMs: 500 } });
    expect(dead.error?.code).toBe('DEVICE_NOT_RESPONDING');
    const other = await runSota(buildSimImage(4_000, '2.0.0'), { mcu: { component: 'MCU_B' }, station: { component: 'MCU_A' } });
    expect(other.error?.code).toBe('SOTA_COMPONENT_UNKNOWN');
    expect(other.error?.detail.deviceCode).toBe('MCU_B');
    // Issue 9 §6: with no component named, the plan takes the MCU's own.
    const own = await runSota(buildSimImage(4_000, '2.0.0'), { mcu: { component: 'MCU_B' } });
    expect(own.version).toBe('2.0.0');
    expect(own.logs).toContain('plan component "MCU_B" from the MCU\'s announcement');
  });

  it('a plan battery limit above the MCU battery → refusal mapped to policy_blocked', async () => {
    const r = await runSota(buildSimImage(4_000, '2.0.0'), { mcu: { batteryPct: 5 }, station: { batteryLimitPct: 20 } });
    expect(r.error?.code).toBe('POLICY_BLOCKED');
    expect(r.error?.result).toBe('policy_blocked');
    expect(r.mcu.heard.find((l) => l.startsWith('+QIOTEVT: 7,10700'))).toContain(',20,0,4000');
  });
});

describe('quecthing-sota session vs a scripted MCU (§4 rules)', () => {
  async function scripted(image: Uint8Array, station: Record<string, unknown> = {}) {
    const pair = createSimLinkPair('sim:qt:s', FAST_LINK);
    const ctx = context(pair.host, image, '2.0.0', { ...QUICK, ...station });
    const session = new QuecthingSotaSession(ctx);
    cleanups.push(() => pair.host.close(), () => session.dispose());
    const parser = new ModuleReplyParser();
    const heard: ModuleReply[] = [];
    pair.device.onData((c) => heard.push(...parser.feed(c)));
    const lines = () => heard.filter((r): r is { kind: 'line'; text: string } => r.kind === 'line').map((r) => r.text);
    /** Send a line; resolve with everything heard until the final result (plus URCs shortly after). */
    const send = async (line: string, settleMs = 40): Promise<string[]> => {
      const from = lines().length;
      pair.device.write(ascii(`${line}\r\n`));
      const t0 = Date.now();
      while (!lines().slice(from).some((l) => l === 'OK' || l === 'ERROR')) {
        if (Date.now() - t0 > 2000) throw new Error(`no final result for ${line}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, settleMs));
      return lines().slice(from);
    };
    return { pair, session, send, heard, lines, logs: ctx.logs };
  }

  it('echo on by default, ATE0 turns it off; support commands answer plausibly; unknown → OK (lenient) or ERROR (strict)', async () => {
    const s = await scripted(buildSimImage(2000, '2.0.0'));
    expect(await s.send('AT')).toEqual(['AT', 'OK']);
    expect(await s.send('ATE0')).toEqual(['ATE0', 'OK']);
    expect(await s.send('AT+CSQ')).toEqual(['+CSQ: 25,99', 'OK']);
    expect(await s.send('AT+CPIN?')).toEqual(['+CPIN: READY', 'OK']);
    expect(await s.send('AT+QIOTSTATE?')).toEqual(['+QIOTSTATE: 1', 'OK']);
    expect(await s.send('AT+QIOTREG=1')).toEqual(['OK', '+QIOTEVT: 2,10200', '+QIOTEVT: 3,10200']);
    expect(await s.send('AT+QIOTSTATE?')).toEqual(['+QIOTSTATE: 8', 'OK']);
    await s.send('AT+QIOTCFG="productinfo","pk","ps"');
    expect(await s.send('AT+QIOTCFG="productinfo"')).toEqual(['+QIOTCFG: "productinfo","pk","ps"', 'OK']);
    expect(await s.send('AT+QIOTUPDATE=?')).toEqual(['+QIOTUPDATE: (0-3)', 'OK']);
    expect(await s.send('AT+QIOTOTAREQ=2')).toEqual(['ERROR']);
    expect(await s.send('AT+XYZ')).toEqual(['OK']);
    const strict = await scripted(buildSimImage(2000, '2.0.0'), { unknownCommand: 'error', echo: false });
    expect(await strict.send('AT+XYZ')).toEqual(['ERROR']);
  });

  it('ERROR for `=2` too early, reads outside the piece, reads before 10703; progress counts distinct bytes', async () => {
    const image = buildSimImage(6000, '2.0.0');
    const s = await scripted(image, { echo: false, pieceSizeBytes: 4000, downloadGapMs: 100 });
    const signal = new AbortController().signal;
    await s.send('AT+QIOTMCUVER="app","1.0.0"');
    await s.send('AT+QIOTOTAREQ');
    expect(await s.session.identify(signal)).toEqual({ version: '1.0.0' });
    const neg = s.session.negotiate(signal);
    await new Promise((r) => setTimeout(r, 60));
    expect(s.lines()).toContain('+QIOTEVT: 7,10700,"app","","2.0.0",0,0,6000');
    expect(await s.send('AT+QIOTUPDATE=2')).toEqual(['ERROR']); // PLAN: not downloading
    // 10701 may already follow the OK on a loaded machine (URC gap 5 ms): only the result counts here.
    expect((await s.send('AT+QIOTUPDATE=1', 0)).filter((l) => !l.startsWith('+QIOTEVT'))).toEqual(['OK']);
    await neg;
    const early = await s.send('AT+QIOTOTARD=0,100', 0);
    expect(early.filter((l) => !l.startsWith('+QIOTEVT'))).toEqual(['ERROR']); // 10703 not sent yet
    expect(early).not.toContain('+QIOTEVT: 7,10703,"app",6000,0,4000');
    await new Promise((r) => setTimeout(r, 250));
    expect(s.lines().at(-1)).toBe('+QIOTEVT: 7,10703,"app",6000,0,4000');
    let acked = 0;
    const transfer = s.session.transfer(0, (n) => (acked = n), signal);
    expect(await s.send('AT+QIOTOTARD=4000,10')).toEqual(['ERROR']); // outside piece 0
    const r1 = await s.send('AT+QIOTOTARD=3990,1024');
    expect(r1).toEqual(['+QIOTOTARD: 3990,10', 'OK']);
    const data = s.heard.filter((h) => h.kind === 'data').at(-1);
    expect(data).toEqual({ kind: 'data', start: 3990, bytes: image.subarray(3990, 4000) });
    await s.send('AT+QIOTOTARD=3990,1024'); // the same bytes again: progress does not double count
    expect(acked).toBe(10);
    expect(s.session.status.downloadErrors).toBe(2);
    void transfer.catch(() => undefined);
  });

  it('operator cancel sends 10706 and ends in IDLE with JOB_CANCELLED', async () => {
    const s = await scripted(buildSimImage(3000, '2.0.0'), { echo: false });
    const ac = new AbortController();
    await s.send('AT+QIOTMCUVER="app","1.0.0"');
    await s.send('AT+QIOTOTAREQ');
    await s.session.identify(ac.signal);
    const neg = s.session.negotiate(ac.signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 60));
    ac.abort();
    const err = (await neg) as StationError;
    expect(err.code).toBe('JOB_CANCELLED');
    await new Promise((r) => setTimeout(r, 40));
    expect(s.lines().at(-1)).toBe('+QIOTEVT: 7,10706');
    expect(s.session.status.state).toBe('IDLE');
  });
});
