/**
 * The station's YMODEM / XMODEM sender (ymodem.md §5–§7) plus the serial product profile around
 * it: application console (identify), boot trigger, bootloader verdict line, reboot and version
 * read-back. Talks only to a Link through a ByteReader; never touches serialport or timers directly.
 */
import type { HashView } from '../../../contract/dto.js';
import { crc32Hex } from '../../codec/crc32.js';
import { StationError, type StationErrorCode } from '../../errors.js';
import { ByteReader } from '../../transport/byte-reader.js';
import type { Link } from '../../transport/types.js';
import type { DeviceIdentity, ProtocolSession, SessionContext } from '../types.js';
import {
  ACK,
  CAN,
  CRC_START,
  EOT,
  LONG_BLOCK_BYTES,
  NAK,
  SHORT_BLOCK_BYTES,
  encodeBlock,
  encodeEndOfBatch,
  encodeHeaderBlock,
  padPayload,
  type BlockCheck,
} from './frames.js';
import { resolveYmodemOptions, type YmodemMode, type YmodemOptions } from './options.js';

type Reply = 'ack' | 'nak' | 'c' | 'can' | 'timeout';
type Phase = 'header' | 'data-start' | 'data' | 'eot' | 'end-of-batch';

/** Two CANs in a row abort a session (§1, §6.4). */
const CANS_TO_ABORT = 2;
/** Text kept from the wire for the console/verdict parsers; older text is dropped. */
const MAX_TEXT_CHARS = 8192;

export interface BlockSpec {
  offset: number;
  dataBytes: number;
  blockBytes: number;
}

/** §7: data blocks of `blockSize`, optionally switching to 128-byte blocks for the tail. */
export function planBlocks(size: number, blockBytes: number, tail: 'same' | '128'): BlockSpec[] {
  const out: BlockSpec[] = [];
  for (let offset = 0; offset < size; ) {
    const rem = size - offset;
    const bs = tail === '128' && rem < blockBytes ? SHORT_BLOCK_BYTES : blockBytes;
    const dataBytes = Math.min(bs, rem);
    out.push({ offset, dataBytes, blockBytes: bs });
    offset += dataBytes;
  }
  return out;
}

export class YmodemSession implements ProtocolSession {
  readonly options: YmodemOptions;
  private link: Link;
  private reader: ByteReader;
  private text = '';
  private canRun = 0;
  private bricked = false;
  private inSession = false;
  private mode: YmodemMode;
  private check: BlockCheck;
  private blocks: BlockSpec[] = [];
  private retries = 0;

  constructor(private readonly ctx: SessionContext) {
    this.options = resolveYmodemOptions(ctx.options);
    this.link = ctx.link;
    this.reader = new ByteReader(ctx.link);
    this.mode = this.options.mode;
    this.check = this.mode === 'xmodem-checksum' ? 'checksum' : 'crc';
  }

  /** Resends so far (header, blocks, EOT), for the job log. */
  get retryCount(): number {
    return this.retries;
  }

  // ---- identify: the application console -------------------------------------------------

  async identify(signal: AbortSignal): Promise<DeviceIdentity> {
    const o = this.options;
    const id: DeviceIdentity = {};
    if (o.versionQuery === null) return id;
    return this.guard(signal, false, async () => {
      this.reader.drain();
      this.text = '';
      await this.link.write(ascii(o.versionQuery!), signal);
      const m = await this.waitForText([o.versionReply], o.identifyTimeoutMs, signal);
      if (!m) {
        // A unit whose application is dead sits in its bootloader sending C (§8): nothing to
        // ask, and the boot trigger would only be noise to the loader.
        if (looksLikeStartRequests(this.text)) {
          this.bricked = true;
          this.text = '';
          this.ctx.log('no console reply but the bootloader is requesting a file: application dead, skipping the boot trigger');
          return id;
        }
        throw new StationError('DEVICE_NOT_RESPONDING', `no reply to ${JSON.stringify(o.versionQuery)} within ${o.identifyTimeoutMs} ms`, this.detail());
      }
      id.version = m.match[1];
      if (o.batteryQuery !== null) {
        await this.link.write(ascii(o.batteryQuery), signal);
        const b = await this.waitForText([o.batteryReply], o.identifyTimeoutMs, signal);
        if (b?.match[1] !== undefined) id.batteryPct = Number(b.match[1]);
        else this.ctx.log('no battery reply');
      }
      if (o.serialQuery !== null) {
        await this.link.write(ascii(o.serialQuery), signal);
        const s = await this.waitForText([o.serialReply], o.identifyTimeoutMs, signal);
        if (s?.match[1] !== undefined) id.serialNumber = s.match[1];
        else this.ctx.log('no serial-number reply');
      }
      if (o.minBatteryPct !== null && id.batteryPct !== undefined && id.batteryPct < o.minBatteryPct) {
        throw new StationError('DEVICE_LOW_BATTERY', `battery ${id.batteryPct} % < ${o.minBatteryPct} %`, { ...this.detail(), deviceCode: `BAT ${id.batteryPct}` });
      }
      return id;
    });
  }

  // ---- negotiate: trigger, start byte, header --------------------------------------------

  async negotiate(signal: AbortSignal): Promise<{ resumeAtBytes: number; chunkBytes: number }> {
    const o = this.options;
    this.planImage();
    return this.guard(signal, true, async () => {
      if (o.bootTrigger !== null && !this.bricked) {
        this.reader.drain();
        await this.link.write(ascii(o.bootTrigger), signal);
      }
      const start = await this.waitForStart(signal);
      this.inSession = true;
      if (start === 'checksum' && this.mode !== 'xmodem-checksum') {
        // §5: the mode comes from the profile; a checksum receiver cannot take our header/1K blocks.
        if (!o.allowChecksumFallback) {
          throw new StationError('PROTOCOL_UNSUPPORTED_MODE', `profile says ${this.mode} but the receiver started with NAK (XMODEM-checksum)`, this.detail());
        }
        this.ctx.log(`receiver is XMODEM-checksum: falling back from ${this.mode}`);
        this.mode = 'xmodem-checksum';
        this.check = 'checksum';
        this.planImage();
      }
      if (this.mode === 'ymodem') {
        await this.sendHeader(signal);
        await this.waitDataStart(signal);
      }
      return { resumeAtBytes: 0, chunkBytes: this.blocks[0]?.blockBytes ?? this.blockBytes() };
    });
  }

  // ---- transfer: stop-and-wait data blocks (§6.4) -----------------------------------------

  async transfer(fromBytes: number, onAck: (ackedBytes: number) => void, signal: AbortSignal): Promise<void> {
    // YMODEM cannot resume (driver.resumable = false): a new session always starts at block 1.
    if (fromBytes !== 0) this.ctx.log(`ignoring resume offset ${fromBytes}: YMODEM always starts at block 1`);
    const bytes = this.ctx.image.bytes;
    await this.guard(signal, true, async () => {
      let seq = 1;
      for (let i = 0; i < this.blocks.length; i++) {
        const b = this.blocks[i]!;
        const payload = padPayload(bytes.subarray(b.offset, b.offset + b.dataBytes), b.blockBytes, this.options.padByte);
        const frame = encodeBlock(seq, payload, { check: this.check });
        await this.sendUntilAck(frame, 'data', `block ${i + 1}/${this.blocks.length} (seq ${seq})`, this.options.blockReplyTimeoutMs, signal);
        onAck(b.offset + b.dataBytes);
        seq = (seq + 1) & 0xff; // §2: wraps 255 → 0 → 1
      }
    });
  }

  // ---- verify: EOT, end of batch, the bootloader's verdict --------------------------------

  async verify(signal: AbortSignal): Promise<HashView> {
    const o = this.options;
    return this.guard(signal, true, async () => {
      this.text = ''; // the verdict is what the loader prints after the file, nothing older
      const gotC = await this.sendEot(signal);
      if (this.mode === 'ymodem') await this.endBatch(gotC, signal);
      this.inSession = false;
      if (!o.verdict) return {};
      return this.readVerdict(signal);
    });
  }

  async activate(signal: AbortSignal): Promise<void> {
    // The bootloader jumps to the new application on its own (§6.8); nothing to send.
    if (this.options.activateDelayMs > 0) await this.ctx.clock.sleep(this.options.activateDelayMs, signal);
  }

  async confirm(link: Link, signal: AbortSignal): Promise<string | undefined> {
    const o = this.options;
    if (o.confirm === 'none') return undefined;
    if (link !== this.link) {
      this.reader.dispose();
      this.link = link;
      this.reader = new ByteReader(link);
      this.text = '';
    }
    return this.guard(signal, false, async () => {
      const patterns: RegExp[] = [];
      if (o.confirm === 'auto' || o.confirm === 'boot-line') patterns.push(o.bootLine);
      const canQuery = (o.confirm === 'auto' || o.confirm === 'query') && o.versionQuery !== null;
      if (canQuery) patterns.push(o.versionReply);
      if (patterns.length === 0) throw new StationError('CONFIG_INVALID', `confirm '${o.confirm}' needs a versionQuery`, this.detail());
      const clock = this.ctx.clock;
      const deadline = clock.now() + o.rebootTimeoutMs;
      // 'auto' first gives the application one interval to print its boot line, then asks.
      let nextQueryAt = o.confirm === 'query' ? clock.now() : clock.now() + o.confirmQueryIntervalMs;
      for (;;) {
        const now = clock.now();
        if (now >= deadline) break;
        if (canQuery && now >= nextQueryAt) {
          await this.link.write(ascii(o.versionQuery!), signal);
          nextQueryAt = now + o.confirmQueryIntervalMs;
        }
        const until = canQuery ? Math.min(deadline, nextQueryAt) : deadline;
        const m = await this.waitForText(patterns, Math.max(1, until - clock.now()), signal);
        if (m) return m.match[1];
      }
      throw new StationError('REBOOT_TIMEOUT', `no application boot line or version reply within ${o.rebootTimeoutMs} ms`, this.detail());
    });
  }

  // ---- protocol steps -------------------------------------------------------------------

  private blockBytes(): number {
    if (this.mode === 'xmodem-1k') return LONG_BLOCK_BYTES;
    if (this.mode === 'xmodem-crc' || this.mode === 'xmodem-checksum') return SHORT_BLOCK_BYTES;
    return this.options.blockSize;
  }

  /** Refuse what the product cannot take before a byte is sent (§8.1.1, §8.1.2). */
  private planImage(): void {
    const o = this.options;
    const size = this.ctx.image.bytes.length;
    if (o.flashBytes !== null && size > o.flashBytes) {
      throw new StationError('IMAGE_TOO_LARGE_FOR_DEVICE', `image is ${size} bytes, the product's flash holds ${o.flashBytes}`, this.detail());
    }
    this.blocks = planBlocks(size, this.blockBytes(), this.check === 'checksum' ? 'same' : o.tail);
    if (o.maxBlocks !== null && this.blocks.length > o.maxBlocks) {
      throw new StationError('IMAGE_TOO_LARGE_FOR_DEVICE', `image needs ${this.blocks.length} data blocks, the loader counts at most ${o.maxBlocks}`, this.detail());
    }
  }

  /**
   * §6.1. A `C` counts only when it stands alone: followed by ≥ startSilenceMs of silence, or the
   * second of two adjacent `C`s not preceded by a letter/digit (stale requests piled up in a
   * buffer). "(C) COPYRIGHT" in an ST banner (§8.1.5) and words like "ACCESS" never qualify.
   * NAK is not text and starts checksum mode at once. Then wait, and drop stale start bytes.
   */
  private async waitForStart(signal: AbortSignal): Promise<'crc' | 'checksum'> {
    const o = this.options;
    const clock = this.ctx.clock;
    const deadline = clock.now() + o.startTimeoutMs;
    const wantC = this.mode !== 'xmodem-checksum';
    let prev = -1;
    let prevPrev = -1;
    let kind: 'crc' | 'checksum' | null = null;
    while (kind === null) {
      const b = await this.nextByte(deadline - clock.now(), signal);
      if (b < 0) throw new StationError('PROTOCOL_NO_START', `no start request (C/NAK) within ${o.startTimeoutMs} ms`, this.detail());
      if (b === NAK) kind = 'checksum';
      else if (b === CRC_START && wantC) {
        if (prev === CRC_START && !isAlphanumeric(prevPrev)) kind = 'crc';
        else if (!(await this.reader.waitForData(o.startSilenceMs, signal))) kind = 'crc';
      }
      prevPrev = prev;
      prev = b;
    }
    await this.ctx.clock.sleep(o.startSettleMs, signal);
    const stale = this.reader.drain();
    this.ctx.log(`receiver started (${kind === 'crc' ? 'C' : 'NAK'})${stale.length ? `, dropped ${stale.length} stale byte(s)` : ''}`);
    return kind;
  }

  /** §6.2: block 0 with retries; CAN CAN here means the receiver refused the file (no space). */
  private async sendHeader(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const info = this.ctx.image.info;
    const frame = encodeHeaderBlock(o.fileName ?? info.fileName, this.ctx.image.bytes.length, o.mtimeSec, o.headerStyle);
    await this.sendUntilAck(frame, 'header', 'header (block 0)', o.headerAckTimeoutMs, signal);
  }

  /** §6.3: after the header ACK the receiver asks for data with `C`. */
  private async waitDataStart(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const deadline = this.ctx.clock.now() + o.dataStartTimeoutMs;
    for (;;) {
      const r = await this.awaitReply(deadline - this.ctx.clock.now(), signal);
      if (r === 'c') return;
      if (r === 'can') throw this.cancelledByDevice('data-start');
      if (r === 'timeout') {
        if (o.startDataWithoutC) {
          this.ctx.log('header ACKed but no C: starting data anyway');
          return;
        }
        throw new StationError('PROTOCOL_TIMEOUT', `header ACKed but no C within ${o.dataStartTimeoutMs} ms`, this.detail());
      }
      // A duplicate ACK or a NAK here carries no request: keep waiting.
    }
  }

  /** Stop-and-wait with drain-before-write (§6.4): ACK → done; NAK / C / timeout → resend. */
  private async sendUntilAck(frame: Uint8Array, phase: Phase, label: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const max = this.options.maxRetries;
    let last: Reply = 'timeout';
    for (let attempt = 1; attempt <= max; attempt++) {
      if (attempt > 1) {
        this.retries++;
        this.ctx.log(`resend ${label} (try ${attempt}/${max}, last reply: ${last})`);
      }
      this.drainBeforeWrite(phase);
      await this.link.write(frame, signal);
      last = await this.awaitReply(timeoutMs, signal);
      if (last === 'ack') return;
      if (last === 'can') throw this.cancelledByDevice(phase);
    }
    throw new StationError('PROTOCOL_TOO_MANY_RETRIES', `${label}: no ACK after ${max} tries (last reply: ${last})`, this.detail());
  }

  /** §6.5: EOT until ACK; NAK → EOT again; `C` counts as ACK plus the next-header request. */
  private async sendEot(signal: AbortSignal): Promise<boolean> {
    const o = this.options;
    let last: Reply = 'timeout';
    for (let attempt = 1; attempt <= o.maxRetries; attempt++) {
      if (attempt > 1 && last !== 'nak') {
        this.retries++;
        this.ctx.log(`resend EOT (try ${attempt}/${o.maxRetries}, last reply: ${last})`);
      }
      this.drainBeforeWrite('eot');
      await this.link.write(Uint8Array.of(EOT), signal);
      last = await this.awaitReply(o.eotTimeoutMs, signal);
      if (last === 'ack') return false;
      if (last === 'c') return true;
      if (last === 'can') throw this.cancelledByDevice('eot');
    }
    throw new StationError('PROTOCOL_TOO_MANY_RETRIES', `EOT: no ACK after ${o.maxRetries} tries (last reply: ${last})`, this.detail());
  }

  /**
   * §6.6: the image was accepted at the EOT ACK, so a missing `C` or a missing final ACK is only a
   * warning (lrzsz on a PTY pair may lose it when it exits, §11).
   */
  private async endBatch(gotC: boolean, signal: AbortSignal): Promise<void> {
    const o = this.options;
    if (!gotC) {
      const deadline = this.ctx.clock.now() + o.endOfBatchTimeoutMs;
      for (;;) {
        const r = await this.awaitReply(deadline - this.ctx.clock.now(), signal);
        if (r === 'c') break;
        if (r === 'timeout' || r === 'can') {
          this.ctx.log(`warning: no C for the end-of-batch block (${r}); the file was already accepted`);
          return;
        }
      }
    }
    const frame = encodeEndOfBatch();
    let last: Reply = 'timeout';
    for (let attempt = 1; attempt <= o.endOfBatchRetries; attempt++) {
      this.drainBeforeWrite('end-of-batch');
      await this.link.write(frame, signal);
      last = await this.awaitReply(o.endOfBatchTimeoutMs, signal);
      if (last === 'ack') return;
      if (last === 'can') break;
    }
    this.ctx.log(`warning: end-of-batch block not acknowledged (last reply: ${last}); the file was already accepted`);
  }

  /** The loader's verdict line: `OK crc32=xxxxxxxx` or `ERR crc32=xxxxxxxx` / `ERR version` / `ERR <text>`. */
  private async readVerdict(signal: AbortSignal): Promise<HashView> {
    const o = this.options;
    const m = await this.waitForText([VERDICT_LINE], o.verdictTimeoutMs, signal);
    if (!m) throw new StationError('PROTOCOL_TIMEOUT', `no verdict line from the bootloader within ${o.verdictTimeoutMs} ms`, this.detail());
    const [, word, rest = ''] = m.match;
    const reported = /crc32=([0-9a-fA-F]{8})/.exec(rest)?.[1]?.toLowerCase();
    const sent = crc32Hex(this.ctx.image.bytes);
    if (word === 'OK') {
      if (reported !== undefined && reported !== sent) {
        throw new StationError('PROTOCOL_CRC_MISMATCH', `device says OK but stored crc32=${reported}, sent ${sent}`, { ...this.detail(), deviceCode: `crc32=${reported}` });
      }
      return reported !== undefined ? { crc32: reported } : {};
    }
    const deviceCode = rest.trim();
    if (reported !== undefined) throw new StationError('PROTOCOL_CRC_MISMATCH', `device stored crc32=${reported}, sent ${sent}`, { ...this.detail(), deviceCode });
    if (/^version\b/i.test(deviceCode)) throw new StationError('DEVICE_REJECTED_VERSION', `device refused the image: ERR ${deviceCode}`, { ...this.detail(), deviceCode });
    throw new StationError('DEVICE_ERROR', `device reported ERR ${deviceCode}`, { ...this.detail(), deviceCode });
  }

  // ---- byte-level helpers ---------------------------------------------------------------

  /** Next byte, or -1 when `timeoutMs` passes first. */
  private async nextByte(timeoutMs: number, signal: AbortSignal): Promise<number> {
    if (this.reader.available === 0) {
      if (timeoutMs <= 0) return -1;
      if (!(await this.reader.waitForData(timeoutMs, signal))) return -1;
    }
    return this.reader.readByte(0, signal);
  }

  /** Wait for a control reply; text and stray bytes are kept for the console parsers (§6.4 "ignore"). */
  private async awaitReply(timeoutMs: number, signal: AbortSignal): Promise<Reply> {
    const deadline = this.ctx.clock.now() + timeoutMs;
    for (;;) {
      const b = await this.nextByte(deadline - this.ctx.clock.now(), signal);
      if (b < 0) return 'timeout';
      if (b === CAN) {
        if (++this.canRun >= CANS_TO_ABORT) return 'can';
        continue;
      }
      this.canRun = 0;
      if (b === ACK) return 'ack';
      if (b === NAK) return 'nak';
      if (b === CRC_START) return 'c';
      this.keepText(String.fromCharCode(b));
    }
  }

  /**
   * §6.4: drop unread input before a write so a late duplicate ACK cannot acknowledge the next
   * block — except CANs, which still count toward an abort.
   */
  private drainBeforeWrite(phase: Phase): void {
    const stale = this.reader.drain();
    for (const b of stale) {
      if (b === CAN) {
        if (++this.canRun >= CANS_TO_ABORT) throw this.cancelledByDevice(phase);
      } else {
        this.canRun = 0;
        if (b >= 0x20 || b === 0x0a || b === 0x0d) this.keepText(String.fromCharCode(b));
      }
    }
  }

  private cancelledByDevice(phase: Phase): StationError {
    this.canRun = 0;
    // §6.2 / §9: CAN CAN in answer to the header = the receiver refused the file (size).
    if (phase === 'header' || phase === 'data-start') {
      return new StationError('DEVICE_NO_SPACE', 'receiver cancelled after the header (CAN CAN): file refused, most likely too large', { ...this.detail(), deviceCode: 'CAN' });
    }
    return new StationError('PROTOCOL_CANCELLED_BY_DEVICE', `receiver cancelled during ${phase} (CAN CAN)`, { ...this.detail(), deviceCode: 'CAN' });
  }

  /** Read until one of the patterns matches the accumulated text; null on timeout. */
  private async waitForText(patterns: RegExp[], timeoutMs: number, signal: AbortSignal): Promise<{ index: number; match: RegExpExecArray } | null> {
    const deadline = this.ctx.clock.now() + timeoutMs;
    for (;;) {
      for (let i = 0; i < patterns.length; i++) {
        const re = new RegExp(patterns[i]!.source, patterns[i]!.flags.replace('g', ''));
        const match = re.exec(this.text);
        if (match) {
          this.text = this.text.slice(match.index + match[0].length);
          return { index: i, match };
        }
      }
      const left = deadline - this.ctx.clock.now();
      if (left <= 0 || !(await this.reader.waitForData(left, signal))) return null;
      const chunk = this.reader.drain();
      let s = '';
      for (const b of chunk) s += String.fromCharCode(b);
      this.keepText(s);
    }
  }

  private keepText(s: string): void {
    this.text += s;
    if (this.text.length > MAX_TEXT_CHARS) this.text = this.text.slice(-MAX_TEXT_CHARS);
  }

  private detail(): { unitId: string } {
    return { unitId: this.ctx.unit.unitId };
  }

  /**
   * Runs one step. On an operator abort the station cancels with 5 × CAN (§6.7) and reports
   * JOB_CANCELLED; when it gives up mid-session it cancels too, because an ST loader keeps
   * waiting otherwise (§8.1.3).
   */
  private async guard<T>(signal: AbortSignal, cancelsSession: boolean, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted) {
        await this.sendCancel();
        if (signal.reason instanceof StationError) throw signal.reason;
        throw new StationError('JOB_CANCELLED', 'cancelled by the operator', this.detail(), { cause: e });
      }
      const code: StationErrorCode | undefined = e instanceof StationError ? e.code : undefined;
      if (cancelsSession && this.inSession && code !== 'TRANSPORT_LOST') {
        this.inSession = false;
        await this.sendCancel();
      }
      throw e;
    }
  }

  private async sendCancel(): Promise<void> {
    if (!this.link.isOpen) return;
    try {
      await this.link.write(new Uint8Array(this.options.cancelBytes).fill(CAN));
      this.ctx.log(`sent ${this.options.cancelBytes} × CAN`);
    } catch {
      // The link is going away anyway; the CANs were a courtesy.
    }
  }
}

/** `OK ...` / `ERR ...` at the start of a line, complete with its line end. */
const VERDICT_LINE = /^(OK|ERR)\b[ \t]*([^\r\n]*)\r?\n/m;

/** A bootloader idling in receive mode sends lone `C`s (or NAKs) rather than text. */
function looksLikeStartRequests(text: string): boolean {
  return /(^|[^A-Za-z0-9])C+(?![A-Za-z0-9])/.test(text) || text.includes(String.fromCharCode(NAK));
}

function isAlphanumeric(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}
