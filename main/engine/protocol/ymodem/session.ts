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
  ST_ABORT_LOWER,
  padPayload,
  sanitizeFileName,
  type BlockCheck,
} from './frames.js';
import { resolveYmodemOptions, type YmodemMode, type YmodemOptions } from './options.js';

type Reply = 'ack' | 'nak' | 'c' | 'can' | 'timeout';
/** What the station heard while waiting for a loader to start (menu loaders, abandoned sessions). */
type StartEvent = 'crc' | 'checksum' | 'prompt' | 'abandoned' | 'timeout';
type Phase = 'header' | 'data-start' | 'data' | 'eot' | 'end-of-batch';

/** Two CANs in a row abort a session (§1, §6.4). */
const CANS_TO_ABORT = 2;
/** Text kept from the wire for the console/verdict parsers; older text is dropped. */
const MAX_TEXT_CHARS = 8192;
/** Longest wait for the loader's reply to a block in flight before a cancel goes out anyway. */
const MAX_LISTEN_WAIT_MS = 2000;
/** Longest wait for an ST loader's result text after it cancelled a transfer. */
const MAX_CANCEL_TEXT_MS = 1500;

/** Thrown inside negotiate when the loader turns out to be left mid-session (issue 9 §5). */
class LoaderMidSession extends Error {}

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
  /** A frame is on the wire and its reply has not come: the loader may be writing flash, not listening. */
  private inFlight = false;
  private recoveries = 0;

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
        else if (o.minBatteryPct !== null) {
          // Fail closed (issue 9 §8): a minimum that cannot be read is not a pass.
          throw new StationError('POLICY_BLOCKED', `no reply to ${JSON.stringify(o.batteryQuery)}: the battery minimum of ${o.minBatteryPct} % cannot be checked`, this.detail());
        } else this.ctx.log('no battery reply');
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
      for (;;) {
        try {
          return await this.openSession(signal);
        } catch (e) {
          if (!(e instanceof LoaderMidSession)) throw e;
          if (this.recoveries >= o.recoverTries) {
            throw new StationError('PROTOCOL_NO_START', `the loader is still in an earlier session after ${this.recoveries} recoveries (${e.message})`, this.detail());
          }
          this.recoveries++;
          this.ctx.log(`loader left mid-session (${e.message}): cancelling it and starting again (${this.recoveries}/${o.recoverTries})`);
          this.inSession = false;
          await this.cancelLoader(signal);
        }
      }
    });
  }

  /** One try at start byte + header + data-start `C`; LoaderMidSession when the loader is in an old session. */
  private async openSession(signal: AbortSignal): Promise<{ resumeAtBytes: number; chunkBytes: number }> {
    const o = this.options;
    {
      const start = o.menuKey !== null ? await this.driveMenu(signal) : await this.waitForStart(signal);
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
    }
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
      return o.verdictFormat === 'st-iap' ? this.readStVerdict(signal) : this.readVerdict(signal);
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

  /** The name sent in block 0, within maxFileNameChars (ST: 63): shortened keeping its extension, or refused. */
  fileName(): string {
    const o = this.options;
    const name = sanitizeFileName(o.fileName ?? this.ctx.image.info.fileName);
    const max = o.maxFileNameChars;
    if (name.length <= max) return name;
    if (o.fileNameOverflow === 'refuse') {
      throw new StationError('CONFIG_INVALID', `file name "${name}" is ${name.length} characters; this loader takes at most ${max} (set fileName in the profile)`, this.detail());
    }
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 && name.length - dot <= Math.floor(max / 2) ? name.slice(dot) : '';
    return name.slice(0, max - ext.length) + ext;
  }

  /** Refuse what the product cannot take before a byte is sent (§8.1.1, §8.1.2). */
  private planImage(): void {
    const o = this.options;
    const size = this.ctx.image.bytes.length;
    this.fileName();
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
    const ev = await this.scanStart(this.ctx.clock.now() + o.startTimeoutMs, signal, null);
    if (ev === 'abandoned') throw new LoaderMidSession('it sends CAN CAN');
    if (ev !== 'crc' && ev !== 'checksum') throw new StationError('PROTOCOL_NO_START', `no start request (C/NAK) within ${o.startTimeoutMs} ms`, this.detail());
    return this.settleStart(ev, signal);
  }

  /**
   * Menu loaders (ST AN4657, issue 9 §5): the key goes out only after the menu's closing line (a
   * key sent while the menu prints is discarded), or blind when no menu comes (it was printed
   * before the port opened); no lone `C` within menuRetryMs, or the menu again → send the key
   * again. A lone `C` at any point means the loader already receives.
   */
  private async driveMenu(signal: AbortSignal): Promise<'crc' | 'checksum'> {
    const o = this.options;
    const clock = this.ctx.clock;
    this.text = '';
    let ev = await this.scanStart(clock.now() + o.menuPromptTimeoutMs, signal, o.menuPrompt);
    for (let tries = 0; ; ) {
      if (ev === 'crc' || ev === 'checksum') return this.settleStart(ev, signal);
      if (ev === 'abandoned') throw new LoaderMidSession('it sends CAN CAN');
      if (tries >= o.menuTries) {
        throw new StationError('PROTOCOL_NO_START', `no start request (lone C) after ${tries} × menu key ${JSON.stringify(o.menuKey)}`, this.detail());
      }
      tries++;
      this.ctx.log(ev === 'prompt' ? `menu prompt seen: key ${JSON.stringify(o.menuKey)} (${tries}/${o.menuTries})` : `no menu prompt and no C: key ${JSON.stringify(o.menuKey)} (${tries}/${o.menuTries})`);
      await this.link.write(ascii(o.menuKey!), signal);
      ev = await this.scanStart(clock.now() + o.menuRetryMs, signal, o.menuPrompt);
    }
  }

  /** Read until a start request, the menu prompt, an abandoned loader's CAN CAN, or the deadline. */
  private async scanStart(deadline: number, signal: AbortSignal, prompt: RegExp | null): Promise<StartEvent> {
    const o = this.options;
    const clock = this.ctx.clock;
    const wantC = this.mode !== 'xmodem-checksum';
    let prev = -1;
    let prevPrev = -1;
    let cans = 0;
    for (;;) {
      const b = await this.nextByte(deadline - clock.now(), signal);
      if (b < 0) return 'timeout';
      if (b === CAN) {
        // ST: a loader whose sender went away sends CAN CAN every second (§8.1.3).
        if (++cans >= CANS_TO_ABORT && o.recoverAbandoned) return 'abandoned';
      } else cans = 0;
      if (b === NAK) return 'checksum';
      if (b === CRC_START && wantC) {
        if (prev === CRC_START && !isAlphanumeric(prevPrev)) return 'crc';
        if (!(await this.reader.waitForData(o.startSilenceMs, signal))) return 'crc';
      }
      if (b >= 0x20 || b === 0x0a || b === 0x0d) {
        this.keepText(String.fromCharCode(b));
        if (prompt !== null && b === 0x0a) {
          const m = new RegExp(prompt.source, prompt.flags.replace('g', '')).exec(this.text);
          if (m) {
            this.text = this.text.slice(m.index + m[0].length);
            return 'prompt';
          }
        }
      }
      prevPrev = prev;
      prev = b;
    }
  }

  /** After the start request: wait startSettleMs and drop stale start bytes piled up meanwhile. */
  private async settleStart(kind: 'crc' | 'checksum', signal: AbortSignal): Promise<'crc' | 'checksum'> {
    await this.ctx.clock.sleep(this.options.startSettleMs, signal);
    const stale = this.reader.drain();
    this.ctx.log(`receiver started (${kind === 'crc' ? 'C' : 'NAK'})${stale.length ? `, dropped ${stale.length} stale byte(s)` : ''}`);
    return kind;
  }

  /** §6.2: block 0 with retries; CAN CAN here means the receiver refused the file (no space). */
  private async sendHeader(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const name = this.fileName();
    if (name !== sanitizeFileName(o.fileName ?? this.ctx.image.info.fileName)) this.ctx.log(`file name shortened to "${name}" (loader takes ${o.maxFileNameChars} characters)`);
    const frame = encodeHeaderBlock(name, this.ctx.image.bytes.length, o.mtimeSec, o.headerStyle);
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
      this.inFlight = true;
      await this.link.write(frame, signal);
      last = await this.awaitReply(timeoutMs, signal);
      if (last === 'ack') return;
      if (last === 'can') throw this.cancelledByDevice(phase);
      // ST answers a block number it does not expect with NAK: a NAK to block 0 means the loader
      // still waits for a data block of an earlier, abandoned session (issue 9 §5).
      if (last === 'nak' && phase === 'header' && this.options.recoverAbandoned) throw new LoaderMidSession('it answered our header with NAK');
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
      return reported !== undefined ? { crc32: reported, confirmedBy: ['loader-verdict', 'device-crc32'] } : { confirmedBy: ['loader-verdict'] };
    }
    const deviceCode = rest.trim();
    if (reported !== undefined) throw new StationError('PROTOCOL_CRC_MISMATCH', `device stored crc32=${reported}, sent ${sent}`, { ...this.detail(), deviceCode });
    if (/^version\b/i.test(deviceCode)) throw new StationError('DEVICE_REJECTED_VERSION', `device refused the image: ERR ${deviceCode}`, { ...this.detail(), deviceCode });
    throw new StationError('DEVICE_ERROR', `device reported ERR ${deviceCode}`, { ...this.detail(), deviceCode });
  }

  /**
   * ST AN4657 prints its result as text (issue 9 §5) and has no CRC report: the verdict and the
   * size it printed are all it confirms, and the size must be the image's.
   */
  private async readStVerdict(signal: AbortSignal): Promise<HashView> {
    const o = this.options;
    const m = await this.waitForText(ST_RESULTS, o.verdictTimeoutMs, signal);
    if (!m) throw new StationError('LOADER_NO_VERDICT', `no result text from the loader within ${o.verdictTimeoutMs} ms: upgrade unconfirmed`, this.detail());
    if (m.index !== 0) throw stResultError(m.index, this.detail());
    const printed = Number(m.match[1]);
    const size = this.ctx.image.bytes.length;
    if (printed !== size) {
      throw new StationError('LOADER_SIZE_MISMATCH', `the loader says "Completed" for ${printed} bytes, the image is ${size} bytes`, { ...this.detail(), deviceCode: `Size: ${printed}` });
    }
    this.ctx.log(`loader verdict: Programming Completed Successfully, Size: ${printed} Bytes`);
    return { confirmedBy: ['loader-verdict', 'size'] };
  }

  /** After an ST loader cancelled (CAN CAN), its printed reason names the failure better. */
  private async explainStCancel(e: StationError, signal: AbortSignal): Promise<StationError> {
    const m = await this.waitForText(ST_RESULTS.slice(1), MAX_CANCEL_TEXT_MS, signal).catch(() => null);
    if (!m) return e;
    return stResultError(m.index + 1, this.detail(), e);
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
      if (b === CAN || b === ACK || b === NAK || b === CRC_START) this.inFlight = false;
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
      if (e instanceof StationError && e.detail.deviceCode === 'CAN' && (code === 'DEVICE_NO_SPACE' || code === 'PROTOCOL_CANCELLED_BY_DEVICE')) {
        // The loader ended the session itself; cancelling it again would only be noise at its menu.
        this.inSession = false;
        if (this.options.verdictFormat === 'st-iap') throw await this.explainStCancel(e, signal);
      }
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
      if (this.options.controlWhenListening || this.options.controlRepeats > 1) {
        await this.cancelLoader(undefined);
        return;
      }
      await this.link.write(new Uint8Array(this.options.cancelBytes).fill(CAN));
      this.ctx.log(`sent ${this.options.cancelBytes} × CAN`);
    } catch {
      // The link is going away anyway; the CANs were a courtesy.
    }
  }

  /**
   * Cancel the loader's session the way a one-byte-receive-register loader can take it (issue 9
   * §5): wait until it listens (its reply to a block in flight), send CAN CAN, and repeat until it
   * answers (ACK, "Aborted", its menu); last resort the ST abort key `a`. Bounded; never throws on
   * a dead link. `signal` is undefined on the operator-abort path (the CANs must still go out).
   */
  private async cancelLoader(signal: AbortSignal | undefined): Promise<void> {
    const o = this.options;
    const quiet = new AbortController().signal;
    const sig = signal ?? quiet;
    if (o.controlWhenListening && this.inFlight) {
      const waitMs = Math.min(o.blockReplyTimeoutMs, MAX_LISTEN_WAIT_MS);
      const r = await this.awaitReply(waitMs, sig).catch(() => 'timeout' as const);
      this.ctx.log(`waited for the loader to listen before cancelling (${r})`);
      this.inFlight = false;
    }
    const cans = new Uint8Array(o.cancelBytes).fill(CAN);
    for (let i = 1; i <= o.controlRepeats + 1; i++) {
      if (!this.link.isOpen) return;
      const last = i > o.controlRepeats;
      this.text = '';
      // Last resort: the ST abort key, which its receiver takes from any state.
      await this.link.write(last ? Uint8Array.of(ST_ABORT_LOWER) : cans, sig);
      this.ctx.log(last ? `no answer to ${o.controlRepeats} cancels: sent 'a'` : `sent ${o.cancelBytes} × CAN (${i}/${o.controlRepeats})`);
      if (o.controlRepeats === 1 && !o.controlWhenListening) return;
      if (await this.waitCancelAnswer(o.controlGapMs, sig)) return;
    }
    this.ctx.log('warning: the loader did not confirm the cancel');
  }

  /** The loader's answer to a cancel: ACK, or its abort text / menu. Keeps the text for the menu scan. */
  private async waitCancelAnswer(ms: number, signal: AbortSignal): Promise<boolean> {
    const deadline = this.ctx.clock.now() + ms;
    for (;;) {
      const b = await this.nextByte(deadline - this.ctx.clock.now(), signal).catch(() => -1);
      if (b < 0) return false;
      if (b === ACK) return true;
      if (b >= 0x20 || b === 0x0a || b === 0x0d) {
        this.keepText(String.fromCharCode(b));
        if (b === 0x0a && /Aborted/.test(this.text)) return true;
      }
    }
  }
}

/**
 * ST AN4657's printed results (vendor-behaviour.md): success with the size it received, then the
 * failures. Index 0 must stay the success line (its group 1 is the size).
 */
const ST_RESULTS: RegExp[] = [
  /Programming Completed Successfully![\s\S]*?Size:\s*(\d+)\s*Bytes/,
  /The image size is higher than the allowed space memory!/,
  /Verification failed!/,
  /Aborted by user\./,
  /Failed to receive the file!/,
];

function stResultError(index: number, detail: { unitId: string }, cause?: unknown): StationError {
  const opts = cause === undefined ? undefined : { cause };
  switch (index) {
    case 1:
      return new StationError('DEVICE_NO_SPACE', 'the loader says the image is larger than its flash', { ...detail, deviceCode: 'COM_LIMIT' }, opts);
    case 2:
      return new StationError('DEVICE_FLASH_WRITE_FAILED', 'the loader says "Verification failed!" (flash write)', { ...detail, deviceCode: 'COM_DATA' }, opts);
    case 3:
      return new StationError('PROTOCOL_CANCELLED_BY_DEVICE', 'the loader says "Aborted by user."', { ...detail, deviceCode: 'COM_ABORT' }, opts);
    default:
      return new StationError('DEVICE_ERROR', 'the loader says "Failed to receive the file!"', { ...detail, deviceCode: 'COM_ERROR' }, opts);
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
