/**
 * A virtual QuecThing MCU (quecthing-sota.md §7, §8.1): the AT *client* an MCU firmware runs
 * toward its Quectel module. It initialises the module, announces its version, requests a plan,
 * reads the image piece by piece into its own DeviceMemory, checks the MD5, "reboots" and
 * announces the version it then runs. Fault knobs are faults of the MCU, never of the link.
 * Works behind any DevicePort (sim link pair or a PTY).
 */
import { createHash } from 'node:crypto';
import type { SimBehaviour, UnitRef } from '../../contract/dto.js';
import { ModuleReplyParser, OTA_DOWNLOAD_START, OTA_FAILED, OTA_PIECE_READY, OTA_PLAN, OTA_SUCCESS, REG_OK, ascii, parseUrc, type AtParam } from '../protocol/quecthing-sota/frames.js';
import type { DevicePort } from '../transport/types.js';
import { findAppVersion } from './app-descriptor.js';
import type { DeviceMemory } from './device-memory.js';
import type { VirtualDevice } from './virtual-device.js';

/** Knobs of issue 4: each maps to a station result code in the tests. */
export type QuecthingMcuFault =
  | 'none'
  | 'refuse_plan' // answers 10700 with AT+QIOTUPDATE=0
  | 'read_outside' // asks for bytes past the offered piece, retrying on ERROR
  | 'stop_reading' // goes quiet half-way through the image
  | 'corrupt_copy' // a flash write fault: its MD5 check fails, it keeps the old version
  | 'corrupt_copy_once'
  | 'wrong_version' // boots and reports a version other than the image's
  | 'reannounce_old' // watchdog reset mid-download: re-announces the old version at boot, then resumes
  | 'garbage' // boot noise and binary junk lines on the line
  | 'skip_update3' // never sends AT+QIOTUPDATE=3 (vendor-minimum flow)
  | 'reboot_timeout' // never comes back after AT+QIOTUPDATE=3
  | 'silent' // application dead: no AT traffic at all
  | 'disconnect'; // drops the link at disconnectAtOffset (first attempt only)

export interface QuecthingMcuOptions {
  fault?: QuecthingMcuFault;
  /** Component name compiled into the MCU firmware (default "app", the package default). */
  component?: string;
  batteryPct?: number;
  /** Bytes per AT+QIOTOTARD (Quectel's simulator default 1024; try 974 for odd sizes). */
  readBytes?: number;
  /** AT+QIOTOTAREQ parameter; null = bare `AT+QIOTOTAREQ` as Quectel's simulator sends. */
  otaReqInfo?: 0 | 1 | null;
  /** Send ATE0 during init (§8.1: echo confuses naive parsers). */
  echoOff?: boolean;
  /** Power-on to first AT, and the re-init after a reboot. */
  bootMs?: number;
  /** Interval of `AT` probes until the module answers. */
  atRetryMs?: number;
  /** Per-command reply deadline; a command is retried MAX_COMMAND_TRIES times. */
  replyTimeoutMs?: number;
  /** Writing the image to flash after AT+QIOTUPDATE=3. */
  flashMs?: number;
  /** Application init between the module answering `AT` and the version report (slow peripherals, self-test). */
  initMs?: number;
  /** Pause between reads (slow flash). */
  readDelayMs?: number;
  disconnectAtOffset?: number;
  /** wrong_version: what it reports (default "<image version>-bad"). */
  wrongVersion?: string;
}

export const MCU_DEFAULT_COMPONENT = 'app';
const DEFAULT_READ_BYTES = 1024;
const DEFAULT_BOOT_MS = 50;
const DEFAULT_AT_RETRY_MS = 300;
const DEFAULT_REPLY_TIMEOUT_MS = 2000;
const DEFAULT_FLASH_MS = 100;
const DEFAULT_BATTERY_PCT = 87;
const LOW_BATTERY_PCT = 5;
const MAX_COMMAND_TRIES = 3;
/** read_outside: how often it retries a refused read before giving up on the piece. */
const READ_OUTSIDE_RETRIES = 10;
const READ_RETRY_DELAY_MS = 20;
const REG_WAIT_MS = 2000;
const BOOT_NOISE = Uint8Array.from([0x00, 0xff, 0x13, ...ascii('ROM boot v1.2 rst=0x3'), 0xfe, 0x0d, 0x0a]);
const JUNK_LINE = Uint8Array.from([0xaa, 0x55, 0x00, 0x1a, 0x7f, 0x80, 0x0d, 0x0a]);

const COUNTER_DISCONNECTS = 'qt.disconnects';
const COUNTER_CORRUPTS = 'qt.corrupts';
const COUNTER_WATCHDOG = 'qt.watchdogResets';

interface Pending {
  line: string;
  lines: string[];
  data: { start: number; bytes: Uint8Array } | null;
  resolve: (r: CommandResult) => void;
}

export interface CommandResult {
  final: 'OK' | 'ERROR' | 'timeout';
  lines: string[];
  data: { start: number; bytes: Uint8Array } | null;
}

/** What the MCU keeps about the upgrade in progress (RAM, mirrored to DeviceMemory.resume). */
interface OtaState {
  target: string;
  size: number;
  md5: string;
  pieceStart: number;
  pieceLength: number;
  offset: number;
  reading: boolean;
}

class Rebooted extends Error {}

export class VirtualQuecthingMcu implements VirtualDevice {
  private port: DevicePort | null = null;
  private offPort: (() => void)[] = [];
  private parser = new ModuleReplyParser();
  private pending: Pending | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private gen = 0;
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private ota: OtaState | null = null;
  private hung = false;
  private readsSinceJunk = 0;
  private readonly fault: QuecthingMcuFault;
  private readonly o: Required<Omit<QuecthingMcuOptions, 'fault' | 'disconnectAtOffset' | 'wrongVersion' | 'otaReqInfo'>> & Pick<QuecthingMcuOptions, 'disconnectAtOffset' | 'wrongVersion'> & { otaReqInfo: 0 | 1 | null };
  /** Every line the MCU saw from the module (tests read URCs and echo from here). */
  readonly heard: string[] = [];

  constructor(readonly memory: DeviceMemory, options: QuecthingMcuOptions = {}) {
    this.fault = options.fault ?? 'none';
    this.o = {
      component: options.component ?? MCU_DEFAULT_COMPONENT,
      batteryPct: options.batteryPct ?? DEFAULT_BATTERY_PCT,
      readBytes: options.readBytes ?? DEFAULT_READ_BYTES,
      otaReqInfo: options.otaReqInfo === undefined ? null : options.otaReqInfo,
      echoOff: options.echoOff ?? true,
      bootMs: options.bootMs ?? DEFAULT_BOOT_MS,
      atRetryMs: options.atRetryMs ?? DEFAULT_AT_RETRY_MS,
      replyTimeoutMs: options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS,
      flashMs: options.flashMs ?? DEFAULT_FLASH_MS,
      initMs: options.initMs ?? 0,
      readDelayMs: options.readDelayMs ?? 0,
      disconnectAtOffset: options.disconnectAtOffset,
      wrongVersion: options.wrongVersion,
    };
  }

  /** Power-on behind a (new) port: the firmware starts from reset. */
  attach(port: DevicePort): void {
    this.detach();
    this.port = port;
    this.offPort.push(port.onData((c) => this.onData(c)));
    this.hung = false;
    this.ota = null; // RAM is lost at power-on; only flash (DeviceMemory) survives
    this.reset();
  }

  dispose(): void {
    this.detach();
    this.gen++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private detach(): void {
    this.offPort.forEach((off) => off());
    this.offPort = [];
    this.port = null;
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private send(bytes: Uint8Array | string): void {
    if (!this.port?.isOpen || this.hung) return;
    this.port.write(typeof bytes === 'string' ? ascii(bytes) : bytes);
  }

  private sleep(ms: number, gen: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (gen !== this.gen) reject(new Rebooted());
        else resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private onData(chunk: Uint8Array): void {
    if (this.hung || this.fault === 'silent') return;
    for (const r of this.parser.feed(chunk)) {
      if (r.kind === 'data') {
        if (this.pending) this.pending.data = { start: r.start, bytes: r.bytes };
        continue;
      }
      const text = r.text.trim();
      this.heard.push(text);
      if (this.heard.length > 2000) this.heard.splice(0, 1000);
      const p = this.pending;
      if (p && text === p.line) continue; // the module's echo of our command
      if (text === 'OK' || text === 'ERROR') {
        if (p) {
          this.pending = null;
          p.resolve({ final: text, lines: p.lines, data: p.data });
        }
        continue;
      }
      const u = parseUrc(text);
      if (u) {
        this.onUrc(u.type, u.code, u.fields);
        continue;
      }
      p?.lines.push(text);
    }
  }

  /** One command at a time; no reply within the deadline → resend (MAX_COMMAND_TRIES). */
  private command(line: string, gen: number): Promise<CommandResult> {
    const run = async (): Promise<CommandResult> => {
      for (let attempt = 1; attempt <= MAX_COMMAND_TRIES; attempt++) {
        if (gen !== this.gen) throw new Rebooted();
        const r = await new Promise<CommandResult>((resolve) => {
          const t = setTimeout(() => {
            this.timers.delete(t);
            if (this.pending?.resolve === done) this.pending = null;
            resolve({ final: 'timeout', lines: [], data: null });
          }, this.o.replyTimeoutMs);
          this.timers.add(t);
          const done = (v: CommandResult) => {
            clearTimeout(t);
            this.timers.delete(t);
            resolve(v);
          };
          this.pending = { line, lines: [], data: null, resolve: done };
          this.send(`${line}\r\n`);
        });
        if (r.final !== 'timeout') return r;
      }
      return { final: 'timeout', lines: [], data: null };
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Start a firmware run; an earlier run (before the reset) stops at its next step. */
  private reset(): void {
    const gen = ++this.gen;
    this.pending = null;
    this.queue = Promise.resolve();
    this.parser = new ModuleReplyParser();
    if (this.fault === 'silent') return;
    this.firmware(gen).catch((e: unknown) => {
      if (!(e instanceof Rebooted)) throw e;
    });
  }

  // ---- the MCU firmware ------------------------------------------------------------------------

  private async firmware(gen: number): Promise<void> {
    this.memory.boot();
    await this.sleep(this.o.bootMs, gen);
    if (this.fault === 'garbage') this.send(BOOT_NOISE);
    // Wait for the module: `AT` until it says OK.
    for (;;) {
      const r = await this.command('AT', gen);
      if (r.final === 'OK') break;
      await this.sleep(this.o.atRetryMs, gen);
    }
    if (this.o.initMs > 0) await this.sleep(this.o.initMs, gen);
    if (this.o.echoOff) await this.command('ATE0', gen);
    await this.command('AT+QIOTCFG="productinfo","pk_flashline","ps_secret"', gen);
    await this.command(`AT+QIOTMCUVER="${this.o.component}","${this.memory.state.version}"`, gen);
    const registered = this.waitForHeard(`+QIOTEVT: 3,${REG_OK}`, gen);
    // A reboot during AT+QIOTREG rejects `registered` before anything awaits it: keep that
    // rejection handled, or it becomes an unhandled rejection that takes the station down.
    registered.catch(() => undefined);
    await this.command('AT+QIOTREG=1', gen);
    await Promise.race([registered, this.sleep(REG_WAIT_MS, gen)]);
    if (this.ota?.reading) {
      // A watchdog reset mid-download: the MCU kept its OTA record and picks up where it was.
      return this.readPiece(gen);
    }
    this.ota = null;
    await this.command(this.o.otaReqInfo === null ? 'AT+QIOTOTAREQ' : `AT+QIOTOTAREQ=${this.o.otaReqInfo}`, gen);
  }

  private waitForHeard(text: string, gen: number): Promise<void> {
    const from = this.heard.length;
    return new Promise((resolve, reject) => {
      const poll = () => {
        if (gen !== this.gen) return reject(new Rebooted());
        if (this.heard.slice(from).includes(text)) return resolve();
        const t = setTimeout(() => {
          this.timers.delete(t);
          poll();
        }, 10);
        this.timers.add(t);
      };
      poll();
    });
  }

  private onUrc(type: number, code: number, fields: AtParam[]): void {
    if (type !== 7) return;
    const gen = this.gen;
    const str = (i: number) => String(fields[i]?.value ?? '');
    const num = (i: number) => Number(fields[i]?.value ?? NaN);
    const run = (f: () => Promise<void>) =>
      void f().catch((e: unknown) => {
        if (!(e instanceof Rebooted)) throw e;
      });
    switch (code) {
      case OTA_PLAN: {
        if (str(0) !== this.o.component) return; // another component's plan: not ours
        const batteryLimit = num(3);
        const battery = this.fault === 'refuse_plan' ? -1 : this.o.batteryPct;
        const accept = this.fault !== 'refuse_plan' && !(batteryLimit > 0 && battery < batteryLimit);
        this.ota = { target: str(2), size: num(5), md5: '', pieceStart: 0, pieceLength: 0, offset: 0, reading: false };
        run(async () => void (await this.command(`AT+QIOTUPDATE=${accept ? 1 : 0}`, gen)));
        return;
      }
      case OTA_DOWNLOAD_START: {
        if (!this.ota || str(0) !== this.o.component) return;
        this.ota.size = num(1);
        this.ota.md5 = str(2);
        this.ota.offset = 0;
        this.memory.eraseStaging(this.ota.size);
        return;
      }
      case OTA_PIECE_READY: {
        if (!this.ota || str(0) !== this.o.component) return;
        this.ota.pieceStart = num(2);
        this.ota.pieceLength = num(3);
        this.ota.reading = true;
        run(() => this.readPiece(gen));
        return;
      }
      case OTA_FAILED:
        // The module ended the upgrade (timeout, cancel, wrong version): drop the OTA state.
        if (this.ota) this.ota.reading = false;
        this.ota = null;
        this.memory.setResume(null);
        return;
      case OTA_SUCCESS:
        this.ota = null;
        return;
      default:
    }
  }

  /** Quectel's simulator: read from its running offset until the piece end, then `=2` or `=3`. */
  private async readPiece(gen: number): Promise<void> {
    const ota = this.ota;
    if (!ota) return;
    const pieceEnd = ota.pieceStart + ota.pieceLength;
    let refused = 0;
    while (ota.offset < pieceEnd) {
      if (this.ota !== ota || !ota.reading) return;
      if (this.fault === 'stop_reading' && ota.offset >= ota.size / 2) return; // goes quiet
      if (this.fault === 'reannounce_old' && ota.offset >= ota.size / 2 && !this.memory.state.counters[COUNTER_WATCHDOG]) {
        this.memory.bump(COUNTER_WATCHDOG);
        this.memory.setResume({ offset: ota.offset, size: ota.size, crc32: '', version: ota.target });
        this.reset(); // watchdog: re-init from scratch, keeping the OTA record
        return;
      }
      if (this.fault === 'disconnect' && ota.offset >= (this.o.disconnectAtOffset ?? Math.floor(ota.size * 0.3)) && !this.memory.state.counters[COUNTER_DISCONNECTS]) {
        this.memory.bump(COUNTER_DISCONNECTS);
        const port = this.port;
        this.detach();
        this.gen++;
        port?.drop();
        return;
      }
      if (this.fault === 'garbage' && ++this.readsSinceJunk % 16 === 0) this.send(JUNK_LINE);
      const start = this.fault === 'read_outside' && ota.pieceStart + ota.pieceLength < ota.size ? pieceEnd + 100 : this.fault === 'read_outside' ? ota.size + 100 : ota.offset;
      const r = await this.command(`AT+QIOTOTARD=${start},${this.o.readBytes}`, gen);
      if (r.final !== 'OK' || !r.data) {
        if (++refused > READ_OUTSIDE_RETRIES) return;
        await this.sleep(READ_RETRY_DELAY_MS, gen);
        continue;
      }
      refused = 0;
      this.memory.writeStaging(r.data.start, r.data.bytes);
      ota.offset = r.data.start + r.data.bytes.length;
      if (this.o.readDelayMs > 0) await this.sleep(this.o.readDelayMs, gen);
    }
    if (ota.offset < ota.size) {
      ota.reading = false;
      await this.command('AT+QIOTUPDATE=2', gen);
      return;
    }
    ota.reading = false;
    if (this.fault !== 'skip_update3') await this.command('AT+QIOTUPDATE=3', gen);
    await this.flashAndReboot(ota, gen);
  }

  /** Check the MD5 of what it assembled (lowercase, §8.1), install when good, reboot. */
  private async flashAndReboot(ota: OtaState, gen: number): Promise<void> {
    await this.sleep(this.o.flashMs, gen);
    const corrupt = this.fault === 'corrupt_copy' || (this.fault === 'corrupt_copy_once' && this.memory.bump(COUNTER_CORRUPTS) === 1);
    if (corrupt) this.memory.corruptStaging(Math.floor(ota.size / 2)); // a flash write fault
    const image = this.memory.readStaging(ota.size);
    const md5 = createHash('md5').update(image).digest('hex');
    if (md5 === ota.md5) {
      const version = this.fault === 'wrong_version' ? (this.o.wrongVersion ?? `${findAppVersion(image)}-bad`) : findAppVersion(image);
      this.memory.install(version);
    } else {
      this.memory.setResume(null); // keeps the old application
    }
    this.ota = null;
    if (this.fault === 'reboot_timeout') {
      this.hung = true; // stays silent until power-cycled (re-attached)
      this.gen++;
      return;
    }
    this.reset();
  }
}

/** Sim behaviours (the CLI's sim targets) → MCU faults. */
export function faultOfBehaviour(b: SimBehaviour | undefined): QuecthingMcuFault {
  switch (b) {
    case 'refuse_version':
      return 'refuse_plan';
    case 'crc_failure':
      return 'corrupt_copy';
    case 'crc_failure_once':
      return 'corrupt_copy_once';
    case 'reboot_timeout':
      return 'reboot_timeout';
    case 'brick':
      return 'silent';
    case 'disconnect':
      return 'disconnect';
    // The MCU's own knobs (issue 4 §2), selectable as `sim:quecthing-sota:N:<knob>`.
    case 'read_outside':
    case 'stop_reading':
    case 'wrong_version':
    case 'reannounce_old':
    case 'garbage':
    case 'skip_update3':
      return b;
    default:
      // accept, low_battery and slow_flash are options of a healthy MCU (the factory sets them);
      // the engine refuses knobs this device does not implement before it gets here.
      return 'none';
  }
}

/** Factory for the sim transport: behaviour, battery and disconnect point from the unit's sim options. */
export function createQuecthingMcu(unit: UnitRef, memory: DeviceMemory, extra: QuecthingMcuOptions = {}): VirtualQuecthingMcu {
  const sim = unit.sim;
  return new VirtualQuecthingMcu(memory, {
    fault: faultOfBehaviour(sim?.behaviour),
    batteryPct: sim?.behaviour === 'low_battery' ? LOW_BATTERY_PCT : sim?.batteryPct,
    readDelayMs: sim?.behaviour === 'slow_flash' ? 20 : 0,
    disconnectAtOffset: sim?.link?.disconnectAtOffset,
    ...extra,
  });
}
