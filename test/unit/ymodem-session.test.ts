/**
 * The YMODEM sender against scripted receivers over the in-memory sim link: ST behaviour (C as
 * NAK, NAK on duplicates, CAN CAN on size), lrzsz behaviour, lost ACKs, noise, the banner trap,
 * station cancel, modes and profile limits (ymodem.md §5–§8).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import type { DevicePort, Link } from '../../main/engine/transport/types.js';
import { ACK, CAN, CRC_START, EOT, NAK, SOH, STX, decodeBlock, decodeHeader, frameLength, type BlockCheck } from '../../main/engine/protocol/ymodem/frames.js';
import { BARE_RECEIVER_PROFILE, YmodemSession, planBlocks, ymodemDriver } from '../../main/engine/protocol/ymodem/index.js';
import { StationError } from '../../main/engine/errors.js';
import { ymodemContext } from '../helpers/pty.js';

const LINK = { bytesPerSecond: 400_000, latencyMs: 1, mtuBytes: 4096, lossRate: 0 };
const FAST = {
  ...BARE_RECEIVER_PROFILE,
  startTimeoutMs: 2000,
  headerAckTimeoutMs: 300,
  dataStartTimeoutMs: 300,
  blockReplyTimeoutMs: 400, // margin for a loaded 2-core machine (a reply late by > 120 ms happened there)
  eotTimeoutMs: 300,
  endOfBatchTimeoutMs: 300,
};

interface RxScript {
  ymodem: boolean;
  check: BlockCheck;
  startByte: number;
  startIntervalMs: number;
  /** Text sent before the first start byte (a banner). */
  preStart: string;
  /** ST answers a duplicate block with NAK; lrzsz ACKs it. */
  dupReply: 'nak' | 'ack';
  /** Reply to a block that "failed" its CRC: ST sends C, lrzsz NAK. */
  badReply: number;
  badOnce: Set<number>;
  dropAckOnce: Set<number>;
  noiseBeforeAck: string;
  canOnHeader: boolean;
  canAtBlock: number;
  eotNakFirst: boolean;
  eotReply: 'ack' | 'c';
  eobC: boolean;
  eobAck: boolean;
}

const ST: Partial<RxScript> = { dupReply: 'nak', badReply: CRC_START };
const LRZSZ: Partial<RxScript> = { dupReply: 'ack', badReply: NAK, eotNakFirst: false };

/** A scripted receiver on the device end: records what arrives and answers per script. */
class ScriptedReceiver {
  readonly s: RxScript;
  frames: { seq: number; len: number; at: number }[] = [];
  stored: number[] = [];
  headerSize: number | null = null;
  headerName = '';
  cans = 0;
  eots = 0;
  eobs = 0;
  startSentAt: number[] = [];
  private buf: number[] = [];
  private expect = 1;
  private phase: 'start' | 'data' | 'eob' | 'done' = 'start';
  private seen = new Map<number, number>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly port: DevicePort, script: Partial<RxScript> = {}) {
    this.s = {
      ymodem: true, check: 'crc', startByte: CRC_START, startIntervalMs: 60, preStart: '', dupReply: 'ack', badReply: NAK,
      badOnce: new Set(), dropAckOnce: new Set(), noiseBeforeAck: '', canOnHeader: false, canAtBlock: -1,
      eotNakFirst: true, eotReply: 'ack', eobC: true, eobAck: true, ...script,
    };
    port.onData((c) => this.onData(c));
    if (this.s.preStart) port.write(Buffer.from(this.s.preStart, 'latin1'));
    const tick = () => {
      if (this.phase !== 'start') return;
      this.startSentAt.push(performance.now());
      port.write(Uint8Array.of(this.s.startByte));
    };
    setTimeout(tick, this.s.preStart ? 150 : 5);
    this.timer = setInterval(tick, this.s.startIntervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get image(): Uint8Array {
    const all = Uint8Array.from(this.stored);
    return this.headerSize === null ? all : all.subarray(0, this.headerSize);
  }

  private reply(...bytes: number[]): void {
    this.port.write(Uint8Array.from(bytes));
  }

  private onData(chunk: Uint8Array): void {
    this.buf.push(...chunk);
    for (;;) {
      const b = this.buf[0];
      if (b === undefined) return;
      if (b === SOH || b === STX) {
        const len = frameLength(b, this.s.check);
        if (len === null) { this.buf.shift(); continue; }
        if (this.buf.length < len) return;
        const frame = Uint8Array.from(this.buf.splice(0, len));
        this.onFrame(frame);
      } else {
        this.buf.shift();
        if (b === EOT) this.onEot();
        else if (b === CAN) this.cans++;
      }
    }
  }

  private onFrame(frame: Uint8Array): void {
    const d = decodeBlock(frame, this.s.check);
    if (!d.ok) return this.reply(this.s.badReply);
    this.frames.push({ seq: d.seq, len: frame.length, at: performance.now() });
    if (this.phase === 'start' && this.s.ymodem) {
      this.phase = 'data';
      const h = decodeHeader(d.payload);
      if (h.ok && !h.endOfBatch) {
        this.headerSize = h.sizeBytes;
        this.headerName = h.name;
      }
      if (this.s.canOnHeader) return this.reply(CAN, CAN);
      return this.reply(ACK, CRC_START);
    }
    this.phase = this.phase === 'start' ? 'data' : this.phase;
    if (this.phase === 'eob') {
      this.eobs++;
      if (this.s.eobAck) this.reply(ACK);
      this.phase = 'done';
      return;
    }
    const n = (this.seen.get(d.seq) ?? 0) + 1;
    this.seen.set(d.seq, n);
    if (d.seq !== this.expect) {
      if (d.seq === ((this.expect + 255) & 0xff)) return this.reply(this.s.dupReply === 'ack' ? ACK : NAK);
      return this.reply(NAK);
    }
    if (this.s.badOnce.has(d.seq) && n === 1) return this.reply(this.s.badReply);
    if (this.s.canAtBlock === d.seq) return this.reply(CAN, CAN);
    this.stored.push(...d.payload);
    this.expect = (this.expect + 1) & 0xff;
    if (this.s.dropAckOnce.has(d.seq) && n === 1) return; // the ACK is "lost on the wire"
    if (this.s.noiseBeforeAck) this.port.write(Buffer.from(this.s.noiseBeforeAck, 'latin1'));
    this.reply(ACK);
  }

  private onEot(): void {
    this.eots++;
    if (this.s.eotNakFirst && this.eots === 1) return this.reply(NAK);
    if (this.s.eotReply === 'c') {
      this.phase = 'eob';
      return this.reply(CRC_START);
    }
    this.reply(ACK);
    if (this.s.ymodem) {
      this.phase = 'eob';
      if (this.s.eobC) setTimeout(() => this.reply(CRC_START), 20);
    } else this.phase = 'done';
  }
}

const image = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
const cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.splice(0).forEach((f) => f());
});

function setup(script: Partial<RxScript>, bytes: Uint8Array, options: Record<string, unknown> = {}) {
  const pair = createSimLinkPair('sim:ymodem:test', LINK);
  const rx = new ScriptedReceiver(pair.device, script);
  const ctx = ymodemContext(pair.host, bytes, { ...FAST, ...options });
  const session = new YmodemSession(ctx);
  cleanups.push(() => {
    rx.stop();
    void pair.host.close();
  });
  return { pair, rx, ctx, session, link: pair.host };
}

async function run(session: YmodemSession, link: Link, signal = new AbortController().signal) {
  const acks: number[] = [];
  await session.identify(signal);
  await session.negotiate(signal);
  await session.transfer(0, (n) => acks.push(n), signal);
  const verdict = await session.verify(signal);
  await session.activate(signal);
  const version = await session.confirm(link, signal);
  return { acks, verdict, version };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<StationError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(StationError);
  expect((e as StationError).code).toBe(code);
  return e as StationError;
}

describe('ymodem driver', () => {
  it('is not resumable and confirms on the same link', () => {
    expect(ymodemDriver.id).toBe('ymodem');
    expect(ymodemDriver.resumable).toBe(false);
    expect(ymodemDriver.reconnectForConfirm).toBe(false);
  });

  it('plans 1K blocks with an optional 128-byte tail (§7)', () => {
    expect(planBlocks(2500, 1024, 'same').map((b) => [b.dataBytes, b.blockBytes])).toEqual([[1024, 1024], [1024, 1024], [452, 1024]]);
    expect(planBlocks(2500, 1024, '128').map((b) => b.blockBytes)).toEqual([1024, 1024, 128, 128, 128, 128]);
    expect(planBlocks(0, 1024, 'same')).toEqual([]);
  });
});

describe('ymodem sender vs scripted receivers', () => {
  it('lrzsz-like receiver: full session, progress in acknowledged bytes, exact file', async () => {
    const bytes = image(5000);
    const { rx, session, link } = setup(LRZSZ, bytes);
    const r = await run(session, link);
    expect(Buffer.from(rx.image).equals(Buffer.from(bytes))).toBe(true);
    expect(rx.headerName).toBe('firmware.bin');
    expect(r.acks).toEqual([1024, 2048, 3072, 4096, 5000]);
    expect(r.verdict).toEqual({});
    expect(r.version).toBeUndefined();
    expect(rx.eobs).toBe(1);
    expect(rx.frames.filter((f) => f.seq === 0).length).toBe(2); // header + end of batch
  });

  it('negotiate reports resumeAtBytes 0 and the block size', async () => {
    const { session } = setup(LRZSZ, image(3000));
    const s = new AbortController().signal;
    expect(await session.negotiate(s)).toEqual({ resumeAtBytes: 0, chunkBytes: 1024 });
  });

  it('ST receiver answering a bad block with C: the block is resent', async () => {
    const bytes = image(4096);
    const { rx, session, link, ctx } = setup({ ...ST, badOnce: new Set([2]) }, bytes);
    await run(session, link);
    expect(Buffer.from(rx.image).equals(Buffer.from(bytes))).toBe(true);
    expect(rx.frames.filter((f) => f.seq === 2).length).toBe(2);
    expect(session.retryCount).toBe(1);
    expect(ctx.logs.some((l) => l.includes('last reply: c'))).toBe(true);
  });

  it('classic EOT: NAK on the first EOT → EOT again', async () => {
    const { rx, session, link } = setup({ ...LRZSZ, eotNakFirst: true }, image(100));
    await run(session, link);
    expect(rx.eots).toBe(2);
  });

  it('EOT answered with C counts as ACK plus the next-header request', async () => {
    const { rx, session, link } = setup({ ...LRZSZ, eotReply: 'c' }, image(100));
    await run(session, link);
    expect(rx.eots).toBe(1);
    expect(rx.eobs).toBe(1);
  });

  it('lost ACK with lrzsz (duplicate → ACK) recovers', async () => {
    const bytes = image(5000);
    const { rx, session, link } = setup({ ...LRZSZ, dropAckOnce: new Set([3]) }, bytes);
    await run(session, link);
    expect(Buffer.from(rx.image).equals(Buffer.from(bytes))).toBe(true);
    expect(rx.frames.filter((f) => f.seq === 3).length).toBe(2);
  });

  it('lost ACK with ST (duplicate → NAK) cannot recover: too many retries, then 5 × CAN', async () => {
    const { rx, session } = setup({ ...ST, dropAckOnce: new Set([2]) }, image(5000), { maxRetries: 4 });
    const s = new AbortController().signal;
    await session.negotiate(s);
    await expectCode(session.transfer(0, () => undefined, s), 'PROTOCOL_TOO_MANY_RETRIES');
    await new Promise((r) => setTimeout(r, 20));
    expect(rx.frames.filter((f) => f.seq === 2).length).toBe(4);
    expect(rx.cans).toBe(5);
  });

  it('CAN CAN in answer to the header → DEVICE_NO_SPACE (ST size check)', async () => {
    const { session, rx } = setup({ ...ST, canOnHeader: true }, image(3000));
    await expectCode(session.negotiate(new AbortController().signal), 'DEVICE_NO_SPACE');
    expect(rx.frames.length).toBe(1);
  });

  it('CAN CAN during data → PROTOCOL_CANCELLED_BY_DEVICE', async () => {
    const { session } = setup({ ...ST, canAtBlock: 2 }, image(5000));
    const s = new AbortController().signal;
    await session.negotiate(s);
    await expectCode(session.transfer(0, () => undefined, s), 'PROTOCOL_CANCELLED_BY_DEVICE');
  });

  it('text between blocks is ignored', async () => {
    const bytes = image(4000);
    const { rx, session, link } = setup({ ...ST, noiseBeforeAck: 'flash write ok\r\n\x00\xff' }, bytes);
    await run(session, link);
    expect(Buffer.from(rx.image).equals(Buffer.from(bytes))).toBe(true);
    expect(rx.frames.filter((f) => f.seq === 1).length).toBe(1);
  });

  it('banner trap (§8.1.5): "(C) COPYRIGHT" does not start the session; the lone C does', async () => {
    const { rx, session } = setup({ ...ST, preStart: 'IAP v1\r\n(C) COPYRIGHT 2024 ACCESS\r\nWaiting...\r\n', startIntervalMs: 400 }, image(2000));
    await session.negotiate(new AbortController().signal);
    const firstC = rx.startSentAt[0]!;
    expect(rx.frames[0]!.seq).toBe(0);
    expect(rx.frames[0]!.at).toBeGreaterThan(firstC);
    expect(rx.frames.filter((f) => f.seq === 0).length).toBe(1); // no header resend
  });

  it('stale Cs piled up in a buffer start at once and are drained (one header only)', async () => {
    const pair = createSimLinkPair('sim:stale', LINK);
    cleanups.push(() => void pair.host.close());
    const ctx = ymodemContext(pair.host, image(1500), FAST);
    const session = new YmodemSession(ctx);
    pair.device.write(Uint8Array.of(CRC_START, CRC_START, CRC_START, CRC_START));
    const rx = new ScriptedReceiver(pair.device, { ...ST, startIntervalMs: 10_000 });
    cleanups.push(() => rx.stop());
    await run(session, pair.host);
    expect(rx.frames.filter((f) => f.seq === 0).length).toBe(2); // header + end of batch
  });

  it('station abort sends 5 × CAN and reports JOB_CANCELLED', async () => {
    const { rx, session } = setup({ ...ST, dropAckOnce: new Set([2]) }, image(5000), { blockReplyTimeoutMs: 5000 });
    const ac = new AbortController();
    await session.negotiate(ac.signal);
    const p = session.transfer(0, () => undefined, ac.signal);
    setTimeout(() => ac.abort(), 100);
    await expectCode(p, 'JOB_CANCELLED');
    await new Promise((r) => setTimeout(r, 20));
    expect(rx.cans).toBe(5);
  });

  it('no start request → PROTOCOL_NO_START', async () => {
    const pair = createSimLinkPair('sim:silent', LINK);
    cleanups.push(() => void pair.host.close());
    const session = new YmodemSession(ymodemContext(pair.host, image(10), { ...FAST, startTimeoutMs: 150 }));
    await expectCode(session.negotiate(new AbortController().signal), 'PROTOCOL_NO_START');
  });

  it('missing end-of-batch C and ACK → warning, not failure (§6.6)', async () => {
    const { session, link, ctx } = setup({ ...LRZSZ, eobC: false }, image(100));
    await run(session, link);
    expect(ctx.logs.some((l) => l.startsWith('warning: no C'))).toBe(true);
    const b = setup({ ...LRZSZ, eobAck: false }, image(100));
    await run(b.session, b.link);
    expect(b.ctx.logs.some((l) => l.startsWith('warning: end-of-batch'))).toBe(true);
    expect(b.rx.eobs).toBe(1);
  });

  it('tail: 128 sends the last partial block as SOH blocks', async () => {
    const bytes = image(1024 + 300);
    const { rx, session, link } = setup(LRZSZ, bytes, { tail: '128' });
    await run(session, link);
    expect(rx.frames.slice(1, -1).map((f) => f.len)).toEqual([1029, 133, 133, 133]);
    expect(Buffer.from(rx.image).equals(Buffer.from(bytes))).toBe(true);
  });
});

describe('modes and profile limits', () => {
  it('YMODEM profile + NAK start → PROTOCOL_UNSUPPORTED_MODE', async () => {
    const { session } = setup({ ...LRZSZ, ymodem: false, check: 'checksum', startByte: NAK }, image(300));
    await expectCode(session.negotiate(new AbortController().signal), 'PROTOCOL_UNSUPPORTED_MODE');
  });

  it('allowChecksumFallback: NAK start → XMODEM-checksum 132-byte frames, no header', async () => {
    const bytes = image(300);
    const { rx, session, link } = setup({ ...LRZSZ, ymodem: false, check: 'checksum', startByte: NAK }, bytes, { allowChecksumFallback: true });
    await run(session, link);
    expect(rx.frames.map((f) => [f.seq, f.len])).toEqual([[1, 132], [2, 132], [3, 132]]);
    expect(Buffer.from(rx.image.subarray(0, 300)).equals(Buffer.from(bytes))).toBe(true);
    expect(rx.image[300]).toBe(0x1a); // XMODEM has no length: padding arrives (§4)
  });

  it.each([
    ['xmodem-1k', 1029],
    ['xmodem-crc', 133],
  ])('%s: data from block 1, no header, no end of batch', async (mode, len) => {
    const bytes = image(2000);
    const { rx, session, link } = setup({ ...LRZSZ, ymodem: false }, bytes, { mode });
    await run(session, link);
    expect(rx.frames[0]!.seq).toBe(1);
    expect(rx.frames.every((f) => f.len === len)).toBe(true);
    expect(rx.eobs).toBe(0);
  });

  it('xmodem-checksum waits for NAK', async () => {
    const { rx, session, link } = setup({ ...LRZSZ, ymodem: false, check: 'checksum', startByte: NAK }, image(200), { mode: 'xmodem-checksum' });
    await run(session, link);
    expect(rx.frames.map((f) => f.len)).toEqual([132, 132]);
  });

  it('flashBytes / maxBlocks refuse the image before a byte is sent', async () => {
    const a = setup(LRZSZ, image(5000), { flashBytes: 4096 });
    await expectCode(a.session.negotiate(new AbortController().signal), 'IMAGE_TOO_LARGE_FOR_DEVICE');
    const b = setup(LRZSZ, image(40_000), { blockSize: 128, maxBlocks: 255 });
    await expectCode(b.session.negotiate(new AbortController().signal), 'IMAGE_TOO_LARGE_FOR_DEVICE');
    await new Promise((r) => setTimeout(r, 30));
    expect(a.rx.frames.length + b.rx.frames.length).toBe(0);
  });

  it('a bad profile is CONFIG_INVALID', () => {
    const pair = createSimLinkPair('sim:cfg', LINK);
    cleanups.push(() => void pair.host.close());
    expect(() => new YmodemSession(ymodemContext(pair.host, image(1), { mode: 'zmodem' }))).toThrow(/mode/);
    expect(() => new YmodemSession(ymodemContext(pair.host, image(1), { blockSize: 512 }))).toThrow(/blockSize/);
  });
});
