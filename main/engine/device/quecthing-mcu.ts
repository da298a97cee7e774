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
import { UNKNOWN_VERSION, findAppVersion } from './app-descriptor.js';
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
  // Device profile of Quectel's QthTools MCU simulator (vendor-behaviour.md, issue 9 §6); QTHTOOLS_PROFILE sets them all.
  /** Register first (AT+QIOTREG=1 as its first command) and announce the version announceDelayMs later. */
  announceAfterRegister?: boolean;
  announceDelayMs?: number;
  /** Parse the receive buffer only after this much silence (QthTools: 200 ms); 0 = at once. */
  silenceBeforeParseMs?: number;
  /** Check the MD5 right after the reads: good → =3, flash, reboot; bad → report the old version again, no =3. */
  md5BeforeUpdate3?: boolean;
  /** Query AT+QIOTCFG="tsl" and stop unless a +QIOTCFG: line comes before OK. */
  queryCfg?: boolean;
  /** Send each command once and wait for its answer forever (no retries, no timeout). */
  sendOnce?: boolean;
  /** Signal strength it compares with the plan's minimum (10700), dBm. */
  signalDbm?: number;
}

/** Quectel's QthTools MCU simulator as measured (quecthing-sota.md §8.1, vendor-behaviour.md). */
export const QTHTOOLS_PROFILE: Readonly<QuecthingMcuOptions> = Object.freeze({
  component: 'MCU_A',
  announceAfterRegister: true,
  announceDelayMs: 2000,
  silenceBeforeParseMs: 200,
  md5BeforeUpdate3: true,
  queryCfg: true,
  sendOnce: true,
  otaReqInfo: null,
  echoOff: false,
  readBytes: 1024,
});

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
  /** Bytes waiting for the silence before parsing (silenceBeforeParseMs). */
  private unparsed: Uint8Array[] = [];
  private parseTimer: ReturnType<typeof setTimeout> | null = null;
  /** The last AT+QIOTCFG="tsl" query got its +QIOTCFG: line (queryCfg). */
  cfgAnswered: boolean | null = null;
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
      announceAfterRegister: options.announceAfterRegister ?? false,
      announceDelayMs: options.announceDelayMs ?? 2000,
      silenceBeforeParseMs: options.silenceBeforeParseMs ?? 0,
      md5BeforeUpdate3: options.md5BeforeUpdate3 ?? false,
      queryCfg: options.queryCfg ?? false,
      sendOnce: options.sendOnce ?? false,
      signalDbm: options.signalDbm ?? -63, // +CSQ: 25 → −113 + 2 × 25
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
    if (this.parseTimer) clearTimeout(this.parseTimer);
    this.parseTimer = null;
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
    if (this.o.silenceBeforeParseMs > 0) {
      // QthTools reads its buffer only after 200 ms without a byte: every turn costs that.
      this.unparsed.push(chunk);
      if (this.parseTimer) clearTimeout(this.parseTimer);
      this.parseTimer = setTimeout(() => {
        this.parseTimer = null;
        const parts = this.unparsed.splice(0);
        for (const p of parts) this.parse(p);
      }, this.o.silenceBeforeParseMs);
      return;
    }
    this.parse(chunk);
  }

  private parse(chunk: Uint8Array): void {
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
    const tries = this.o.sendOnce ? 1 : MAX_COMMAND_TRIES;
    const run = async (): Promise<CommandResult> => {
      for (let attempt = 1; attempt <= tries; attempt++) {
        if (gen !== this.gen) throw new Rebooted();
        const r = await new Promise<CommandResult>((resolve) => {
          // sendOnce: no deadline at all — a swallowed command stalls this MCU for good.
          const t = this.o.sendOnce
            ? null
            : setTimeout(() => {
                this.timers.delete(t!);
                if (this.pending?.resolve === done) this.pending = null;
                resolve({ final: 'timeout', lines: [], data: null });
              }, this.o.replyTimeoutMs);
          if (t) this.timers.add(t);
          const done = (v: CommandResult) => {
            if (t) {
              clearTimeout(t);
              this.timers.delete(t);
            }
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
    if (this.o.announceAfterRegister) return this.firmwareRegisterFirst(gen);
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

  /**
   * QthTools order (vendor-behaviour.md): AT+QIOTREG=1 is the first command, the configuration
   * query follows, the version comes seconds later, the OTA request only once registered.
   */
  private async firmwareRegisterFirst(gen: number): Promise<void> {
    const registered = this.waitForHeard(`+QIOTEVT: 3,${REG_OK}`, gen);
    registered.catch(() => undefined);
    await this.command('AT+QIOTREG=1', gen);
    await registered;
    if (this.o.echoOff) await this.command('ATE0', gen);
    if (this.o.queryCfg) {
      const r = await this.command('AT+QIOTCFG="tsl"', gen);
      this.cfgAnswered = r.final === 'OK' && r.lines.some((l) => l.startsWith('+QIOTCFG: "tsl"'));
      if (!this.cfgAnswered) return; // its configuration step never completes: the MCU goes no further
    }
    await this.sleep(this.o.announceDelayMs, gen);
    await this.command(`AT+QIOTMCUVER="${this.o.component}","${this.memory.state.version}"`, gen);
    if (this.ota?.reading) return this.readPiece(gen);
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
        const minSignal = num(4);
        const battery = this.fault === 'refuse_plan' ? -1 : this.o.batteryPct;
        // The plan's limits are the MCU's to enforce (issue 9 §8): below either → refuse.
        const accept = this.fault !== 'refuse_plan' && !(batteryLimit > 0 && battery < batteryLimit) && !(minSignal < 0 && this.o.signalDbm < minSignal);
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
    if (this.o.md5BeforeUpdate3) {
      // QthTools: the MD5 first; on a mismatch it reports its old version again and flashes nothing.
      const corrupt = this.fault === 'corrupt_copy' || (this.fault === 'corrupt_copy_once' && this.memory.bump(COUNTER_CORRUPTS) === 1);
      if (corrupt) this.memory.corruptStaging(Math.floor(ota.size / 2));
      const md5 = createHash('md5').update(this.memory.readStaging(ota.size)).digest('hex');
      if (md5 !== ota.md5) {
        this.ota = null;
        await this.command(`AT+QIOTMCUVER="${this.o.component}","${this.memory.state.version}"`, gen);
        return;
      }
      if (this.fault !== 'skip_update3') await this.command('AT+QIOTUPDATE=3', gen);
      return this.flashAndReboot(ota, gen, true);
    }
    if (this.fault !== 'skip_update3') await this.command('AT+QIOTUPDATE=3', gen);
    await this.flashAndReboot(ota, gen);
  }

  /** Check the MD5 of what it assembled (lowercase, §8.1), install when good, reboot. */
  private async flashAndReboot(ota: OtaState, gen: number, checked = false): Promise<void> {
    await this.sleep(this.o.flashMs, gen);
    const corrupt = !checked && (this.fault === 'corrupt_copy' || (this.fault === 'corrupt_copy_once' && this.memory.bump(COUNTER_CORRUPTS) === 1));
    if (corrupt) this.memory.corruptStaging(Math.floor(ota.size / 2)); // a flash write fault
    const image = this.memory.readStaging(ota.size);
    const md5 = createHash('md5').update(image).digest('hex');
    if (md5 === ota.md5) {
      // Issue 9 §10: an image without a version descriptor (the product's own firmware) boots as
      // the version the plan (10700) announced.
      const found = findAppVersion(image);
      const booted = found === UNKNOWN_VERSION ? ota.target : found;
      const version = this.fault === 'wrong_version' ? (this.o.wrongVersion ?? `${booted}-bad`) : booted;
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
    case 'qthtools':
    case 'announce_after_register':
      return 'none'; // device profiles of a healthy MCU (the factory sets them)
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
  const profile: QuecthingMcuOptions =
    sim?.behaviour === 'qthtools' ? QTHTOOLS_PROFILE : sim?.behaviour === 'announce_after_register' ? { announceAfterRegister: true, announceDelayMs: 1000 } : {};
  return new VirtualQuecthingMcu(memory, {
    ...profile,
    fault: faultOfBehaviour(sim?.behaviour),
    batteryPct: sim?.behaviour === 'low_battery' ? LOW_BATTERY_PCT : sim?.batteryPct,
    readDelayMs: sim?.behaviour === 'slow_flash' ? 20 : 0,
    disconnectAtOffset: sim?.link?.disconnectAtOffset,
    ...extra,
  });
}
