/**
 * A virtual ST AN4657-style IAP loader (vendor-behaviour.md "ST IAP YMODEM loader", ymodem.md
 * §8/§8.1): banner and numbered menu, key `1` starts a YMODEM receive, results printed as text.
 * Its quirks are selectable device profiles: key lost while the menu prints, one-byte receive
 * register (bytes arriving while it writes flash are lost), CAN CAN every second once a session
 * is abandoned, 64-byte file-name buffer overflow, shipped vs fixed size check. Stores into
 * DeviceMemory; works behind any DevicePort (sim link pair or a PTY).
 */
import type { SimBehaviour } from '../../contract/dto.js';
import { ACK, CAN, CRC_START, EOT, NAK, SOH, STX, ST_ABORT_LOWER, ST_ABORT_UPPER, decodeBlock, frameLength } from '../protocol/ymodem/frames.js';
import type { DevicePort } from '../transport/types.js';
import { findAppVersion } from './app-descriptor.js';
import type { DeviceMemory } from './device-memory.js';
import type { VirtualDevice } from './virtual-device.js';

/** The loader's quirks; `ST_IAP_AS_SHIPPED` is the vendor's code unchanged. */
export interface StIapQuirks {
  /** A key that arrives while the menu prints is lost (the loader flushes its register before reading the key). */
  discardKeyWhilePrinting: boolean;
  /** One-byte receive register: while it writes flash only the first arriving byte survives. */
  singleByteRegister: boolean;
  /** After the session began, more than maxErrors timeouts → CAN CAN every interval, until CAN CAN or `a` (shipped). Off: give up once and print "Failed to receive the file!". */
  abandonedCan: boolean;
  /** File-name buffer (shipped 64): a name of this length or more overflows into the size it prints. null = no overflow. */
  nameBufferBytes: number | null;
  /** The commonly applied fix: CAN CAN after a header whose size exceeds the flash. Shipped: compares the previous download's size. */
  sizeCheckFix: boolean;
  /** Print the result as text (shipped). Off: a silent loader. */
  textResults: boolean;
}

export const ST_IAP_AS_SHIPPED: Readonly<StIapQuirks> = Object.freeze({
  discardKeyWhilePrinting: true,
  singleByteRegister: true,
  abandonedCan: true,
  nameBufferBytes: 64,
  sizeCheckFix: false,
  textResults: true,
});

export interface StIapLoaderOptions extends Partial<StIapQuirks> {
  behaviour?: SimBehaviour;
  /** Receive timeout of the loader (ST: 1 s); each one without a packet sends `C`. */
  cIntervalMs?: number;
  /** Application area (STM32F091 example: 240 KiB). */
  flashBytes?: number;
  /** Time the banner and menu take to print (key lost meanwhile). */
  menuPrintMs?: number;
  /** Flash write per data block, before its ACK (slow_flash: ×10). */
  flashWriteMs?: number;
  /** Erase after the header, before its ACK. */
  eraseMs?: number;
  /** Consecutive errors tolerated (ST MAX_ERRORS 5: CAN CAN on the 6th). */
  maxErrors?: number;
  /** disconnect: drop the link once this many bytes are stored (default 30 % of the image). */
  disconnectAtOffset?: number;
}

const BANNER_LINE = '======================================================================';
export const ST_BANNER =
  `\r\n${BANNER_LINE}\r\n=              (C) COPYRIGHT 2024 Flashline Devices                   =\r\n` +
  '=                                                                    =\r\n' +
  '=          STM32F0xx-style In-Application Programming (virtual)      =\r\n' +
  `${BANNER_LINE}\r\n\r\n`;
const MENU_HEAD =
  '\r\n=================== Main Menu ============================\r\n\n' +
  '  Download image to the internal Flash ----------------- 1\r\n\n' +
  '  Upload image from the internal Flash ----------------- 2\r\n\n' +
  '  Execute the loaded application ----------------------- 3\r\n\n' +
  '  Enable the write protection -------------------------- 4\r\n\n';
/** The menu's closing line: the prompt after which the loader reads its key. */
export const ST_MENU_END = '==========================================================\r\n\n';
const WAITING = "Waiting for the file to be sent ... (press 'a' to abort)\n\r";
const INVALID_KEY = 'Invalid Number ! ==> The number should be either 1, 2, 3 or 4\r';

const COUNTER_MID_SESSION = 'st.midSession';
const COUNTER_CRC_FAILURES = 'st.crcFailures';
const COUNTER_DISCONNECTS = 'st.disconnects';
const DEFAULT_DISCONNECT_FRACTION = 0.3;
/** ST's size field: up to 16 characters, ended by a space (ymodem.md §4). */
const FILE_SIZE_CHARS = 16;

type Mode = 'printing' | 'menu' | 'receiving' | 'app';
type Result = 'ok' | 'limit' | 'data' | 'abort' | 'error';

export class VirtualStIapLoader implements VirtualDevice {
  private port: DevicePort | null = null;
  private offPort: (() => void)[] = [];
  private mode: Mode = 'menu';
  private poweredOn = false;
  private rx: number[] = [];
  /** The one-byte register's content while the loader is busy (null = empty). */
  private register: number | null = null;
  private busy = false;
  private busyTimer: ReturnType<typeof setTimeout> | null = null;
  private rxTimer: ReturnType<typeof setTimeout> | null = null;
  // Ymodem_Receive's variables.
  private packetsReceived = 0;
  private sessionBegin = false;
  private errors = 0;
  private fileName = '';
  private fileSize = 0;
  /** The shipped size check reads this: the previous download's size. */
  private lastSize = 0;
  private stored = 0;
  private disconnectAt = 0;
  /** Bytes lost to the one-byte register (tests read it). */
  dropped = 0;
  /** Text the loader printed, for tests. */
  printed = '';
  private readonly q: StIapQuirks;
  private readonly behaviour: SimBehaviour;
  private readonly o: Required<Omit<StIapLoaderOptions, keyof StIapQuirks | 'behaviour' | 'disconnectAtOffset'>> & { disconnectAtOffset?: number };

  constructor(readonly memory: DeviceMemory, options: StIapLoaderOptions = {}) {
    this.behaviour = options.behaviour ?? 'accept';
    this.q = {
      discardKeyWhilePrinting: options.discardKeyWhilePrinting ?? ST_IAP_AS_SHIPPED.discardKeyWhilePrinting,
      singleByteRegister: options.singleByteRegister ?? ST_IAP_AS_SHIPPED.singleByteRegister,
      abandonedCan: options.abandonedCan ?? ST_IAP_AS_SHIPPED.abandonedCan,
      nameBufferBytes: options.nameBufferBytes === undefined ? ST_IAP_AS_SHIPPED.nameBufferBytes : options.nameBufferBytes,
      sizeCheckFix: options.sizeCheckFix ?? ST_IAP_AS_SHIPPED.sizeCheckFix,
      textResults: options.textResults ?? ST_IAP_AS_SHIPPED.textResults,
    };
    this.o = {
      cIntervalMs: options.cIntervalMs ?? 1000,
      flashBytes: options.flashBytes ?? 245_760,
      menuPrintMs: options.menuPrintMs ?? 60,
      flashWriteMs: (options.flashWriteMs ?? 3) * (this.behaviour === 'slow_flash' ? 10 : 1),
      eraseMs: options.eraseMs ?? 20,
      maxErrors: options.maxErrors ?? 5,
      disconnectAtOffset: options.disconnectAtOffset,
    };
    // The unit kept running while the station was away: a session it was in is abandoned by now.
    if (memory.state.counters[COUNTER_MID_SESSION]) {
      this.poweredOn = true;
      this.mode = 'receiving';
      this.sessionBegin = true;
      this.errors = this.o.maxErrors;
      this.armRx();
    }
  }

  /** Where the loader is: for tests. */
  get state(): { mode: Mode; errors: number; sessionBegin: boolean; packetsReceived: number } {
    return { mode: this.mode, errors: this.errors, sessionBegin: this.sessionBegin, packetsReceived: this.packetsReceived };
  }

  /** A (new) cable: the MCU does not notice it; on the very first one it powers on. */
  attach(port: DevicePort): void {
    this.detach();
    this.port = port;
    this.offPort.push(port.onData((c) => this.onData(c)));
    if (!this.poweredOn) {
      this.poweredOn = true;
      this.memory.boot();
      this.printMenu(ST_BANNER);
    }
  }

  dispose(): void {
    this.detach();
    for (const t of [this.busyTimer, this.rxTimer]) if (t) clearTimeout(t);
    this.busyTimer = this.rxTimer = null;
  }

  private detach(): void {
    this.offPort.forEach((off) => off());
    this.offPort = [];
    this.port = null;
  }

  private send(bytes: Uint8Array | string): void {
    if (typeof bytes === 'string') {
      this.printed += bytes;
      if (this.printed.length > 16_384) this.printed = this.printed.slice(-8192);
    }
    if (!this.port?.isOpen) return; // nobody listening: the UART sends into the void
    this.port.write(typeof bytes === 'string' ? Uint8Array.from(bytes, (c) => c.charCodeAt(0) & 0xff) : bytes);
  }

  // ---- input: the UART with its one-byte register ------------------------------------------

  /** Byte by byte, as a UART delivers them: a byte that arrives once the loader got busy meets the register. */
  private onData(chunk: Uint8Array): void {
    for (const b of chunk) {
      if (this.busy) {
        // Printing or writing flash: the CPU does not read the UART.
        if (this.q.singleByteRegister || this.mode === 'printing') {
          if (this.register === null) this.register = b;
          else this.dropped++;
        } else this.rx.push(b);
        continue;
      }
      this.rx.push(b);
      this.pump();
    }
  }

  /** Busy for `ms` (printing, erasing, writing); then `then`, then input resumes. */
  private beBusy(ms: number, then: () => void): void {
    this.busy = true;
    this.busyTimer = setTimeout(() => {
      this.busyTimer = null;
      this.busy = false;
      then();
      if (this.register !== null) {
        this.rx.unshift(this.register);
        this.register = null;
      }
      this.pump();
    }, ms);
  }

  private pump(): void {
    while (!this.busy && this.rx.length > 0) {
      if (this.mode === 'menu') this.onKey(this.rx.shift()!);
      else if (this.mode === 'receiving') {
        if (!this.receiveStep()) return;
      } else this.rx = []; // printing (flushed after) or the application: not ours
    }
  }

  // ---- menu ----------------------------------------------------------------------------------

  /** Print (banner +) menu; the key register is flushed before the key is read. */
  private printMenu(prefix = ''): void {
    this.clearRx();
    this.mode = 'printing';
    this.send(prefix + MENU_HEAD);
    this.beBusy(this.o.menuPrintMs, () => {
      this.send(ST_MENU_END);
      if (this.q.discardKeyWhilePrinting) {
        if (this.register !== null || this.rx.length) this.dropped += (this.register !== null ? 1 : 0) + this.rx.length;
        this.register = null;
        this.rx = [];
      }
      this.mode = 'menu';
    });
  }

  private onKey(key: number): void {
    const k = String.fromCharCode(key);
    if (k === '1') {
      this.send(WAITING);
      this.startReceive();
    } else if (k === '3') {
      this.mode = 'app';
      this.send(`APP ${this.memory.state.version} READY\r\n`);
    } else if (k === '2' || k === '4') {
      this.printMenu(); // upload / write protection: not modelled
    } else {
      this.send(INVALID_KEY);
      this.printMenu();
    }
  }

  // ---- Ymodem_Receive ------------------------------------------------------------------------

  private startReceive(): void {
    this.clearRx();
    this.mode = 'receiving';
    this.packetsReceived = 0;
    this.sessionBegin = false;
    this.errors = 0;
    this.armRx();
  }

  private clearRx(): void {
    this.rx = [];
    if (this.rxTimer) clearTimeout(this.rxTimer);
    this.rxTimer = null;
  }

  /** ReceivePacket's timeout: no (complete) packet within the interval is an error. */
  private armRx(): void {
    if (this.rxTimer) clearTimeout(this.rxTimer);
    this.rxTimer = setTimeout(() => {
      this.rxTimer = null;
      if (this.mode !== 'receiving' || this.busy) return this.armRx();
      this.rx = [];
      this.packetError();
    }, this.o.cIntervalMs);
  }

  /** ST's default branch: count the error once the session began; `C`, or CAN CAN past the limit. */
  private packetError(): void {
    if (this.sessionBegin) this.errors++;
    if (this.errors > this.o.maxErrors) {
      this.send(Uint8Array.of(CAN, CAN));
      if (!this.q.abandonedCan) return this.endSession('error');
    } else {
      this.send(Uint8Array.of(CRC_START));
    }
    this.armRx();
  }

  /** Consume one packet (or control byte) from rx; false when more bytes are needed. */
  private receiveStep(): boolean {
    const b = this.rx[0]!;
    if (b === SOH || b === STX) {
      const len = frameLength(b, 'crc')!;
      if (this.rx.length < len) return false; // the receive timeout catches a truncated frame
      const frame = Uint8Array.from(this.rx.splice(0, len));
      this.armRx();
      this.onPacket(frame);
      return true;
    }
    this.rx.shift();
    if (b === EOT) {
      this.errors = 0;
      this.send(Uint8Array.of(ACK));
      this.packetsReceived = 0; // next file's header (or the empty one)
      this.armRx();
      return true;
    }
    if (b === CAN) {
      if (this.rx.length === 0) {
        // ReceivePacket waits for the second CAN; none in time → an error.
        this.rx.unshift(b);
        return false;
      }
      if (this.rx[0] === CAN) {
        this.rx.shift();
        this.send(Uint8Array.of(ACK)); // abort by the sender
        this.endSession('abort');
        return false;
      }
      this.packetError();
      return true;
    }
    if (b === ST_ABORT_LOWER || b === ST_ABORT_UPPER) {
      this.send(Uint8Array.of(CAN, CAN));
      this.endSession('abort');
      return false;
    }
    this.packetError(); // anything else is a bad packet start
    return true;
  }

  private onPacket(frame: Uint8Array): void {
    const d = decodeBlock(frame, 'crc');
    if (!d.ok) return this.packetError();
    this.errors = 0;
    // The block number is compared with a 32-bit counter: block 256 never matches (§8.1.2).
    if (d.seq !== this.packetsReceived) return void this.send(Uint8Array.of(NAK));
    if (this.packetsReceived === 0) return this.onHeader(d.payload);
    this.onData1(d.payload);
  }

  private onHeader(payload: Uint8Array): void {
    if (payload[0] === 0) {
      // Empty header: end of the batch.
      this.send(Uint8Array.of(ACK));
      return this.endSession('ok');
    }
    // File name into a fixed buffer (ST copies while i < FILE_NAME_LENGTH, then writes its NUL).
    let i = 0;
    let name = '';
    while (i < payload.length && payload[i] !== 0 && (this.q.nameBufferBytes === null || i < this.q.nameBufferBytes)) name += String.fromCharCode(payload[i++]!);
    const overflow = this.q.nameBufferBytes !== null && name.length >= this.q.nameBufferBytes;
    while (i < payload.length && payload[i] !== 0) i++;
    i++;
    let sizeText = '';
    while (i < payload.length && payload[i] !== 0x20 && payload[i] !== 0 && sizeText.length < FILE_SIZE_CHARS) sizeText += String.fromCharCode(payload[i++]!);
    // The overflowing terminator lands on the size it keeps (modelled: the size reads 0).
    const size = overflow ? 0 : Number.parseInt(sizeText, 10) || 0;
    this.fileName = name;
    const tooBig = this.q.sizeCheckFix ? size > this.o.flashBytes : this.lastSize > this.o.flashBytes + 1;
    if (tooBig) {
      this.send(Uint8Array.of(CAN, CAN));
      if (this.q.sizeCheckFix) return this.endSession('limit');
      // Shipped: the check fires on the previous size, and it goes on to erase and ACK anyway.
    }
    this.fileSize = size;
    this.lastSize = size;
    this.stored = 0;
    this.memory.eraseStaging(Math.min(size, this.o.flashBytes));
    this.memory.bump(COUNTER_MID_SESSION);
    this.disconnectAt = this.o.disconnectAtOffset ?? Math.floor(size * DEFAULT_DISCONNECT_FRACTION);
    this.beBusy(this.o.eraseMs, () => {
      this.packetsReceived++;
      this.sessionBegin = true;
      this.send(Uint8Array.of(ACK, CRC_START));
      if (tooBig) this.endSession('limit');
      else this.armRx();
    });
  }

  private onData1(payload: Uint8Array): void {
    const verifyFails =
      this.stored < this.fileSize / 2 &&
      this.stored + payload.length >= this.fileSize / 2 &&
      (this.behaviour === 'crc_failure' || (this.behaviour === 'crc_failure_once' && this.memory.bump(COUNTER_CRC_FAILURES) === 1));
    // Writes stop silently at the end of the application area (the shipped truncation, §8.1.1).
    const room = Math.max(0, this.o.flashBytes - this.stored);
    if (room > 0) this.memory.writeStaging(this.stored, payload.subarray(0, Math.min(room, payload.length)));
    this.stored += payload.length;
    if (this.behaviour === 'disconnect' && this.stored >= this.disconnectAt && !this.memory.state.counters[COUNTER_DISCONNECTS]) {
      this.memory.bump(COUNTER_DISCONNECTS);
      const port = this.port;
      this.detach();
      port?.drop(); // the cable goes; the loader carries on alone
    }
    this.beBusy(this.o.flashWriteMs, () => {
      if (verifyFails) {
        this.send(Uint8Array.of(CAN, CAN));
        return this.endSession('data');
      }
      this.packetsReceived++;
      this.send(Uint8Array.of(ACK));
      this.armRx();
    });
  }

  /** SerialDownload's result text, then back to the menu. */
  private endSession(result: Result): void {
    this.clearRx();
    if (this.memory.state.counters[COUNTER_MID_SESSION]) {
      this.memory.state.counters[COUNTER_MID_SESSION] = 0;
      this.memory.persistState();
    }
    if (result === 'ok') {
      const image = this.memory.readStaging(Math.min(this.fileSize, this.o.flashBytes));
      this.memory.install(findAppVersion(image));
    }
    if (this.q.textResults) this.send(resultText(result, this.fileName, this.fileSize));
    this.printMenu();
  }
}

function resultText(r: Result, name: string, size: number): string {
  switch (r) {
    case 'ok':
      return `\n\n\r Programming Completed Successfully!\n\r--------------------------------\r\n Name: ${name}\n\r Size: ${size} Bytes\r\n-------------------\n`;
    case 'limit':
      return '\n\n\rThe image size is higher than the allowed space memory!\n\r';
    case 'data':
      return '\n\n\rVerification failed!\n\r';
    case 'abort':
      return '\r\n\nAborted by user.\n\r';
    default:
      return '\n\rFailed to receive the file!\n\r';
  }
}
