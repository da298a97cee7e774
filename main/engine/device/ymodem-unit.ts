/**
 * A virtual serial unit: an application console (ver / sn / bat / boot) and an ST-style YMODEM
 * receiver bootloader (ymodem.md §8) that stores into DeviceMemory, prints a verdict line and
 * "reboots" into the image's version. Works behind any DevicePort (sim link pair or a PTY).
 * Device behaviours (SimBehaviour) are faults of the device, never of the link.
 */
import type { SimBehaviour, UnitRef } from '../../contract/dto.js';
import { crc32Hex } from '../codec/crc32.js';
import { ACK, CAN, CRC_START, EOT, NAK, STX, SOH, ST_ABORT_LOWER, ST_ABORT_UPPER, decodeBlock, decodeHeader, frameLength } from '../protocol/ymodem/frames.js';
import type { DevicePort } from '../transport/types.js';
import { findAppVersion } from './app-descriptor.js';
import type { DeviceMemory } from './device-memory.js';
import type { VirtualDevice } from './virtual-device.js';
import { VirtualStIapLoader, type StIapLoaderOptions } from './st-iap-loader.js';

export interface YmodemUnitOptions {
  behaviour?: SimBehaviour;
  /** Battery the application reports (low_battery forces LOW_BATTERY_PCT). */
  batteryPct?: number;
  /** Idle `C` interval of the loader (ST: ~1 s, §8). Tests and the sim use ~100 ms. */
  cIntervalMs?: number;
  /** Receive timeout inside a transfer (ST: 1 s): a partial frame older than this is an error → `C`. */
  rxTimeoutMs?: number;
  /** Time from the verdict line to the application's boot line. */
  bootMs?: number;
  /** slow_flash: extra delay before each data ACK. */
  slowFlashMs?: number;
  /** Largest image the loader accepts (default: the memory's flash size); bigger → CAN CAN (§8). */
  flashBytes?: number;
  /** disconnect: drop the link once this many bytes are stored (default 30 % of the image). */
  disconnectAtOffset?: number;
  /** Consecutive errors before the loader gives up with CAN CAN (ST: 5, §8). */
  maxErrors?: number;
}

export const LOW_BATTERY_PCT = 5;
const DEFAULT_BATTERY_PCT = 87;
const DEFAULT_C_INTERVAL_MS = 1000;
const DEFAULT_RX_TIMEOUT_MS = 1000;
const DEFAULT_BOOT_MS = 200;
const DEFAULT_SLOW_FLASH_MS = 30;
const DEFAULT_MAX_ERRORS = 5;
const DEFAULT_DISCONNECT_FRACTION = 0.3;
/** §8.1.5: the banner carries two `C`s three bytes apart — the trap a naive sender falls into. */
export const LOADER_BANNER =
  '\r\n=== Flashline IAP bootloader v2.1 ===\r\n(C) COPYRIGHT 2024 Flashline Devices\r\nWaiting for the file to be sent ... (press \'a\' to abort)\r\n';

// Persistent counters (DeviceMemory.counters) so "first attempt only" faults survive re-attach and restarts.
const COUNTER_ATTEMPTS = 'ymodem.attempts';
const COUNTER_CRC_FAILURES = 'ymodem.crcFailures';
const COUNTER_DISCONNECTS = 'ymodem.disconnects';
const COUNTER_BRICKED = 'ymodem.brickApplied';

type Mode = 'app' | 'loader' | 'rebooting' | 'hung';
type LoaderState = 'await-header' | 'receiving' | 'await-eob';

export class VirtualYmodemUnit implements VirtualDevice {
  private port: DevicePort | null = null;
  private offPort: (() => void)[] = [];
  private mode: Mode = 'app';
  private loader: LoaderState = 'await-header';
  private rx: Uint8Array = new Uint8Array(0);
  private line = '';
  private timer: ReturnType<typeof setTimeout> | null = null;
  private bootTimer: ReturnType<typeof setTimeout> | null = null;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private busy = false;
  private errors = 0;
  private started = false; // ST does not count errors before the first packet (§8)
  private imageBytes = 0;
  private offset = 0;
  private expectSeq = 1;
  private disconnectAt = 0;
  private readonly behaviour: SimBehaviour;
  private readonly opts: Required<Omit<YmodemUnitOptions, 'disconnectAtOffset' | 'behaviour'>> & { disconnectAtOffset?: number };

  constructor(readonly memory: DeviceMemory, options: YmodemUnitOptions = {}) {
    this.behaviour = options.behaviour ?? 'accept';
    this.opts = {
      batteryPct: this.behaviour === 'low_battery' ? LOW_BATTERY_PCT : (options.batteryPct ?? DEFAULT_BATTERY_PCT),
      cIntervalMs: options.cIntervalMs ?? DEFAULT_C_INTERVAL_MS,
      rxTimeoutMs: options.rxTimeoutMs ?? Math.max(DEFAULT_RX_TIMEOUT_MS, options.cIntervalMs ?? 0),
      bootMs: options.bootMs ?? DEFAULT_BOOT_MS,
      slowFlashMs: options.slowFlashMs ?? DEFAULT_SLOW_FLASH_MS,
      flashBytes: options.flashBytes ?? memory.flashBytes,
      maxErrors: options.maxErrors ?? DEFAULT_MAX_ERRORS,
      disconnectAtOffset: options.disconnectAtOffset,
    };
    // brick: the application is dead once, until a flash through the loader installs a new one.
    if (this.behaviour === 'brick' && !memory.state.counters[COUNTER_BRICKED]) {
      memory.state.appDead = true;
      memory.bump(COUNTER_BRICKED);
    }
    this.mode = memory.state.appDead ? 'loader' : 'app';
  }

  attach(port: DevicePort): void {
    this.detach();
    this.port = port;
    this.offPort.push(port.onData((c) => this.onData(c)));
    const closable = port as DevicePort & { onClosedByHost?: (cb: () => void) => () => void };
    if (closable.onClosedByHost) this.offPort.push(closable.onClosedByHost(() => this.stopIdle()));
    this.rx = new Uint8Array(0);
    this.line = '';
    // A cable re-plugged into a unit that was mid-transfer finds its loader restarted (ST aborts
    // after its timeouts); an application stays where it was; a hung unit stays hung.
    if (this.mode === 'loader') this.enterLoader(false);
  }

  dispose(): void {
    this.detach();
    this.stopTimers();
  }

  /** A closed cable stops the loader's requests; a reboot in progress still completes. */
  private stopIdle(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private detach(): void {
    this.stopIdle();
    this.offPort.forEach((off) => off());
    this.offPort = [];
    this.port = null;
  }

  private stopTimers(): void {
    for (const t of [this.timer, this.bootTimer, this.ackTimer]) if (t) clearTimeout(t);
    this.timer = this.bootTimer = this.ackTimer = null;
    this.busy = false;
  }

  private send(bytes: Uint8Array | string): void {
    if (!this.port?.isOpen) return;
    this.port.write(typeof bytes === 'string' ? Uint8Array.from(bytes, (c) => c.charCodeAt(0) & 0xff) : bytes);
  }

  private onData(chunk: Uint8Array): void {
    if (this.mode === 'app') return this.onConsole(chunk);
    if (this.mode !== 'loader') return; // rebooting or hung: input is lost
    const merged = new Uint8Array(this.rx.length + chunk.length);
    merged.set(this.rx);
    merged.set(chunk, this.rx.length);
    this.rx = merged;
    this.armIdle();
    this.pump();
  }

  // ---- application console ----------------------------------------------------------------

  private onConsole(chunk: Uint8Array): void {
    for (const b of chunk) {
      if (b === 0x0d || b === 0x0a) {
        const cmd = this.line.trim().toLowerCase();
        this.line = '';
        if (cmd) this.command(cmd);
        if (this.mode !== 'app') return; // the rest of the chunk belongs to the loader
      } else if (this.line.length < 256) {
        this.line += String.fromCharCode(b);
      }
    }
  }

  private command(cmd: string): void {
    const s = this.memory.state;
    if (cmd === 'ver') this.send(`VER ${s.version}\r\n`);
    else if (cmd === 'sn') this.send(`SN ${s.serialNumber}\r\n`);
    else if (cmd === 'bat') this.send(`BAT ${this.opts.batteryPct}\r\n`);
    else if (cmd === 'boot') {
      this.send(LOADER_BANNER);
      this.enterLoader(true);
    } else this.send(`? unknown command '${cmd}'\r\n`);
  }

  // ---- bootloader (ST-style YMODEM receiver, §8) --------------------------------------------

  private enterLoader(afterPrompt: boolean): void {
    this.stopTimers();
    this.mode = 'loader';
    this.loader = 'await-header';
    this.rx = new Uint8Array(0);
    this.errors = 0;
    this.started = false;
    // §8.1.4: the first C comes one interval after the prompt; a bricked unit starts at once.
    if (!afterPrompt) this.send(Uint8Array.of(CRC_START));
    this.armIdle();
  }

  private idleMs(): number {
    return this.loader === 'receiving' ? this.opts.rxTimeoutMs : this.opts.cIntervalMs;
  }

  private armIdle(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onIdle(), this.idleMs());
  }

  /** ST: every receive timeout is an error answered with `C`; idle before the first packet is not counted. */
  private onIdle(): void {
    this.timer = null;
    if (this.mode !== 'loader' || this.busy) return;
    const partial = this.rx.length > 0;
    this.rx = new Uint8Array(0);
    if (this.started && (partial || this.loader === 'receiving')) {
      if (this.error()) return;
    } else {
      this.send(Uint8Array.of(CRC_START));
    }
    this.armIdle();
  }

  /** Counts one error: `C` (resend), or CAN CAN after maxErrors in a row. Returns true when aborted. */
  private error(): boolean {
    this.errors++;
    if (this.errors >= this.opts.maxErrors) {
      this.send(Uint8Array.of(CAN, CAN));
      this.leaveLoader();
      return true;
    }
    this.send(Uint8Array.of(CRC_START));
    return false;
  }

  private take(n: number): Uint8Array {
    const out = this.rx.subarray(0, n);
    this.rx = this.rx.subarray(n);
    return out;
  }

  private pump(): void {
    while (this.mode === 'loader' && !this.busy && this.rx.length > 0) {
      const b = this.rx[0]!;
      if (b === SOH || b === STX) {
        const len = frameLength(b, 'crc')!;
        if (this.rx.length < len) return; // wait for the rest; the rx timeout handles truncation
        this.onFrame(this.take(len));
      } else if (b === EOT) {
        this.take(1);
        this.onEot();
      } else if (b === CAN) {
        if (this.rx.length < 2) return;
        if (this.rx[1] === CAN) {
          // §8: two CANs from the sender → ACK and abort.
          this.rx = new Uint8Array(0);
          this.send(Uint8Array.of(ACK));
          this.leaveLoader();
          return;
        }
        this.take(1);
      } else if (b === ST_ABORT_UPPER || b === ST_ABORT_LOWER) {
        this.rx = new Uint8Array(0);
        this.leaveLoader();
        return;
      } else {
        this.take(1); // line noise or console text sent to the loader: skipped
      }
    }
  }

  private onFrame(frame: Uint8Array): void {
    const d = decodeBlock(frame, 'crc');
    if (!d.ok) {
      // §8: any framing/CRC error → `C`, not NAK.
      if (this.started) this.error();
      else this.send(Uint8Array.of(CRC_START));
      return;
    }
    if (this.loader === 'await-header' || this.loader === 'await-eob') {
      if (d.seq !== 0) return void this.send(Uint8Array.of(NAK));
      const h = decodeHeader(d.payload);
      if (!h.ok) return void this.error();
      if (h.endOfBatch || this.loader === 'await-eob') {
        this.send(Uint8Array.of(ACK));
        if (this.loader === 'await-eob') this.finish();
        else this.leaveLoader();
        return;
      }
      this.started = true;
      if (h.sizeBytes === null || h.sizeBytes > this.opts.flashBytes) {
        this.send(Uint8Array.of(CAN, CAN)); // §8: size check fails → CAN CAN
        this.leaveLoader();
        return;
      }
      this.memory.bump(COUNTER_ATTEMPTS);
      this.memory.eraseStaging(h.sizeBytes); // ST erases before the header ACK
      this.imageBytes = h.sizeBytes;
      this.offset = 0;
      this.expectSeq = 1;
      this.errors = 0;
      this.disconnectAt = this.opts.disconnectAtOffset ?? Math.floor(h.sizeBytes * DEFAULT_DISCONNECT_FRACTION);
      this.loader = 'receiving';
      this.armIdle();
      this.send(Uint8Array.of(ACK, CRC_START));
      return;
    }
    // receiving: §8 block-number mismatch (a duplicate too) → NAK, never ACK.
    if (d.seq !== this.expectSeq) return void this.send(Uint8Array.of(NAK));
    this.memory.writeStaging(this.offset, d.payload); // §8.1.6: padding is written as well
    this.offset += d.payload.length;
    this.expectSeq = (this.expectSeq + 1) & 0xff;
    this.errors = 0;
    if (this.behaviour === 'disconnect' && this.offset >= this.disconnectAt && !this.memory.state.counters[COUNTER_DISCONNECTS]) {
      this.memory.bump(COUNTER_DISCONNECTS);
      const port = this.port;
      this.detach();
      port?.drop();
      return;
    }
    if (this.behaviour === 'slow_flash') {
      this.busy = true;
      this.ackTimer = setTimeout(() => {
        this.ackTimer = null;
        this.busy = false;
        this.send(Uint8Array.of(ACK));
        this.armIdle();
        this.pump();
      }, this.opts.slowFlashMs);
      return;
    }
    this.send(Uint8Array.of(ACK));
  }

  private onEot(): void {
    if (this.loader === 'receiving' || this.loader === 'await-eob') {
      // ST ACKs EOT at once, then asks for the next header after its idle timeout.
      this.send(Uint8Array.of(ACK));
      this.loader = 'await-eob';
      this.armIdle();
    }
  }

  /** Leave the loader after an abort: back to the application, or idle again when it is dead. */
  private leaveLoader(): void {
    this.stopTimers();
    this.rx = new Uint8Array(0);
    if (this.memory.state.appDead) this.enterLoader(true);
    else this.mode = 'app';
  }

  /** After the end of batch: check the stored image, print the verdict, reboot. */
  private finish(): void {
    this.stopTimers();
    const size = this.imageBytes;
    const corrupt =
      this.behaviour === 'crc_failure' ||
      (this.behaviour === 'crc_failure_once' && this.memory.bump(COUNTER_CRC_FAILURES) === 1);
    if (corrupt) this.memory.corruptStaging(Math.floor(size / 2)); // a flash write fault
    const image = this.memory.readStaging(size);
    const crc = crc32Hex(image);
    if (corrupt) {
      this.send(`ERR crc32=${crc}\r\n`);
      return this.reboot(null);
    }
    // refuse_version: this loader refuses every image (documented simplification).
    if (this.behaviour === 'refuse_version') {
      this.send('ERR version\r\n');
      return this.reboot(null);
    }
    this.send(`OK crc32=${crc}\r\n`);
    this.reboot(findAppVersion(image));
  }

  /** Jump to the application after bootMs; `install` = the version of a freshly stored image. */
  private reboot(install: string | null): void {
    this.mode = 'rebooting';
    this.rx = new Uint8Array(0);
    this.bootTimer = setTimeout(() => {
      this.bootTimer = null;
      if (install !== null && this.behaviour === 'reboot_timeout') {
        this.mode = 'hung'; // stays silent until disposed (a power cycle)
        return;
      }
      if (install !== null) this.memory.install(install);
      this.memory.boot();
      if (this.memory.state.appDead) return this.enterLoader(false);
      this.mode = 'app';
      this.line = '';
      this.send(`APP ${this.memory.state.version} READY\r\n`);
    }, this.opts.bootMs);
  }
}

/** Sim behaviours that select the ST AN4657 loader model (issue 9 §5) instead of the console unit. */
export const ST_IAP_BEHAVIOURS = { st_iap: { sizeCheckFix: false }, st_iap_fixed: { sizeCheckFix: true } } as const satisfies Partial<Record<SimBehaviour, StIapLoaderOptions>>;

/**
 * The sim transport's ymodem device: `sim:ymodem:N:st_iap` / `st_iap_fixed` is ST's IAP loader as
 * shipped / with the size-check fix (issue 9 §5); every other behaviour is the console unit.
 */
export function createYmodemSimDevice(unit: UnitRef, memory: DeviceMemory): VirtualDevice {
  const b = unit.sim?.behaviour;
  if (b === 'st_iap' || b === 'st_iap_fixed') {
    // ST's 1 s receive timeout at 1/4: quick, with margin for a loaded station.
    return new VirtualStIapLoader(memory, { ...ST_IAP_BEHAVIOURS[b], cIntervalMs: 250, disconnectAtOffset: unit.sim?.link?.disconnectAtOffset });
  }
  return createYmodemUnit(unit, memory);
}

/** Factory for the console unit: behaviour, battery and disconnect point from the unit's sim options. */
export function createYmodemUnit(unit: UnitRef, memory: DeviceMemory, extra: YmodemUnitOptions = {}): VirtualYmodemUnit {
  const sim = unit.sim;
  return new VirtualYmodemUnit(memory, {
    behaviour: sim?.behaviour,
    batteryPct: sim?.batteryPct,
    disconnectAtOffset: sim?.link?.disconnectAtOffset,
    cIntervalMs: 100,
    ...extra,
  });
}
