/**
 * A virtual LLSync device (llsync-ota.md §12): the device side of SDK 1.4.1 — auth check,
 * request parsing, go-back-N loops with its own replies and idle timer, a 4 KB RAM buffer,
 * a persisted resume record rounded to the flash page, CRC-32 of what it stored, reboot into
 * the new image. Talks only to a PeripheralPort (the simulated radio); owns no link model.
 */
import type { SimBehaviour } from '../../contract/dto.js';
import { crc32 } from '../codec/crc32.js';
import {
  EV_CONN_SIGNATURE,
  EV_DEVICE_INFO,
  EV_MTU_SYNC,
  EV_OTA_CHECK,
  EV_OTA_DATA_REPLY,
  EV_OTA_REPLY,
  HostMessageReassembler,
  LLSYNC_CHAR_DEVICE_INFO,
  LLSYNC_CHAR_OTA,
  deviceAuthSignature,
  encodeDataReply,
  encodeDeviceEvent,
  encodeDeviceInfo,
  encodeOtaReply,
  hostAuthSignature,
  parsePsk,
} from '../protocol/llsync-ota/frames.js';
import { encodeLlsyncBoundManufacturerData, encodeLlsyncManufacturerData } from '../protocol/llsync-ota/advertising.js';
import { UNKNOWN_VERSION, findAppVersion } from './app-descriptor.js';
import type { DeviceMemory } from './device-memory.js';

export interface LlsyncDeviceConfig {
  productId: string;
  deviceName: string;
  mac: string;
  pskHex: string;
  /** §6.2 bind record: set when a host bound the unit (it then advertises "bound" with its identity). */
  bindIdHex?: string;
  packetsPerLoop: number;
  /** Whole data write length (payload + 3), §7.2. */
  packageBytes: number;
  retryPeriodSec: number;
  rebootTimeSec: number;
  intervalMs: number;
  bufferBytes: number;
  pageBytes: number;
  /** ble_get_user_data_mtu_size(): the MTU field of event 0x08. */
  userDataMtu: number;
  eventBufferBytes: number;
  supportsResume: boolean;
  /** §11.1: SDK 1.4.1 counts from a stale record of another image. */
  staleResumeQuirk: boolean;
  /** Time from the reboot to advertising again. */
  bootMs: number;
  behaviour: SimBehaviour;
  /** Drop the link once this many bytes are stored (first attempt only). */
  disconnectAtOffset?: number;
  /** slow_flash: a flush blocks the device this long; packets arriving meanwhile are lost. */
  slowFlashMs: number;
  /** Test knob: a device that misbehaves on the air. */
  hostile?: 'garbled' | 'oversized' | 'flood' | 'wrong-seq';
  /**
   * Vendor behaviour (vendor-behaviour.md): after a passed check the application keeps running,
   * advertising and answering with the OLD version this long, then reboots. Default: at once.
   */
  rebootDelayMs?: number;
  /** When the device's stack sees an ATT MTU exchange: right after connecting, after login, or never. */
  mtuExchange?: 'on-connect' | 'after-login' | 'never';
  /**
   * One data write lost on the air (first session only): `inside-loop` = the 4th packet of the first
   * loop (the next one makes the device ask for a resend at once); `last-of-loop` = the last packet of
   * the first loop (noticed only when the device's retry timer fires).
   */
  loseDataWrite?: 'inside-loop' | 'last-of-loop';
}

/**
 * Device profiles (issue 9 §10): behaviours of real LLSync units, selectable per virtual unit.
 * `sdk-1.4.1-esp32` is the vendor's SDK with an esp32-style application.
 */
export const LLSYNC_DEVICE_PROFILES: Readonly<Record<string, Partial<LlsyncDeviceConfig>>> = Object.freeze({
  'sdk-1.4.1-esp32': { rebootDelayMs: 5000, mtuExchange: 'after-login', packageBytes: 115, userDataMtu: 128 },
  'reboot-after-5s': { rebootDelayMs: 5000 },
  'mtu-after-login': { mtuExchange: 'after-login' },
  'no-mtu-report': { mtuExchange: 'never' },
  'lost-write-in-loop': { loseDataWrite: 'inside-loop', packetsPerLoop: 16 },
  'lost-last-write': { loseDataWrite: 'last-of-loop', packetsPerLoop: 16 },
});

/** SDK 1.4.1 defaults (§7.9) with the 244-byte package of trace f (ATT_MTU 247). */
export const LLSYNC_DEVICE_DEFAULTS: Omit<LlsyncDeviceConfig, 'productId' | 'deviceName' | 'mac' | 'behaviour'> = {
  pskHex: '00000000',
  packetsPerLoop: 255,
  packageBytes: 244,
  retryPeriodSec: 2,
  rebootTimeSec: 20,
  intervalMs: 5,
  bufferBytes: 4096,
  pageBytes: 4096,
  userDataMtu: 244,
  eventBufferBytes: 128,
  supportsResume: true,
  staleResumeQuirk: true,
  bootMs: 600,
  slowFlashMs: 40,
};

/** The SDK's compiled-in defaults exactly (16-byte payload, 23-byte event buffer). */
export const LLSYNC_SDK_DEFAULTS: Partial<LlsyncDeviceConfig> = { packageBytes: 19, userDataMtu: 23, eventBufferBytes: 23 };

export interface PeripheralPort {
  notify(value: Uint8Array): void;
  /** The device drops the link (reboot, fault). */
  drop(reason: string): void;
  /** LLSync login succeeded on this link (the radio may run a late MTU exchange now). */
  loggedIn?(): void;
}

const IDLE_TICKS_TO_ABANDON = 5; // §7.4 fixed in the SDK
const REFUSE_LOW_BATTERY = 2;
const REFUSE_VERSION = 3;
const CHECK_PASS = 0x80;
const CHECK_CRC = 0x00;
/** Default gap between the check result and the reboot (the link drops then). */
const REBOOT_DELAY_MS = 20;
/** Packet index inside the first loop lost by `loseDataWrite: 'inside-loop'`. */
const LOST_PACKET_INSIDE_LOOP = 3;
const COUNTER_LOST_WRITE = 'llsync.lostWrite';
/** `disconnect` behaviour without an offset: drop at 30 % of the image. */
const DISCONNECT_FRACTION = 0.3;
const COUNTER_DISCONNECTS = 'llsync.disconnects';
const COUNTER_CRC_FAULTS = 'llsync.crcFaults';
const COUNTER_REBOOT_HANG = 'llsync.rebootHang';

interface OtaState {
  size: number;
  crc: number;
  version: string;
  received: number;
  expectedSeq: number;
  acceptedInSession: boolean;
  windowRequested: boolean;
  inOrderSinceTick: boolean;
  bytesSinceReply: boolean;
  idleTicks: number;
  lastReply: { nextSeq: number; receivedBytes: number };
  abandoned: boolean;
  lastPct: number;
  buf: Uint8Array;
  bufStart: number;
  bufLen: number;
  timer: ReturnType<typeof setInterval> | null;
}

export class LlsyncPeripheral {
  private port: PeripheralPort | null = null;
  private authed = false;
  private pendingTs: number | null = null;
  private attMtu = 23;
  private ota: OtaState | null = null;
  private readonly infoReasm = new HostMessageReassembler();
  private readonly otaReasm = new HostMessageReassembler();
  private bootTimer: ReturnType<typeof setTimeout> | null = null;
  private flashBusyUntil = 0;
  /** reboot_timeout / brick: the application never advertises again. */
  private hung = false;
  /** False while rebooting or dead. */
  advertising = true;
  /** A passed image waiting for the delayed reboot (the old application still runs). */
  private pendingReboot: ReturnType<typeof setTimeout> | null = null;
  readonly psk: Uint8Array;

  constructor(readonly config: LlsyncDeviceConfig, readonly memory: DeviceMemory) {
    const p = parsePsk(config.pskHex);
    if (!p.ok) throw new RangeError(p.error);
    this.psk = p.value;
    if (config.behaviour === 'brick' || (config.behaviour === 'reboot_timeout' && (memory.state.counters[COUNTER_REBOOT_HANG] ?? 0) > 0)) {
      this.advertising = false;
      this.hung = true;
    }
    memory.boot();
  }

  get version(): string {
    return this.memory.state.version;
  }

  manufacturerData(): Uint8Array {
    const c = this.config;
    if (c.bindIdHex !== undefined) return encodeLlsyncBoundManufacturerData({ protocolVersion: 2, productId: c.productId, deviceName: c.deviceName, bindIdHex: c.bindIdHex });
    return encodeLlsyncManufacturerData({ protocolVersion: 2, bindState: 'unbound', mac: c.mac, productId: c.productId });
  }

  // ---- radio events ---------------------------------------------------------------------

  connect(port: PeripheralPort, attMtu = 23): void {
    this.port = port;
    this.authed = false;
    this.attMtu = attMtu;
    this.advertising = false; // LLSync stops advertising while connected
  }

  /** §5: the device's stack reports an ATT MTU exchange. */
  onAttMtu(mtu: number): void {
    this.attMtu = mtu;
    if (this.authed) this.send(EV_MTU_SYNC, Uint8Array.of((mtu - 3) >> 8, (mtu - 3) & 0xff));
  }

  /** The link is gone (host disconnect or radio loss): flush and save the record (§7.8). */
  disconnected(): void {
    this.port = null;
    this.authed = false;
    if (this.ota && !this.ota.abandoned) {
      this.flush();
      this.saveRecord();
    }
    this.stopOta();
    if (!this.bootTimer && !this.hung && !this.rebooting) this.advertising = true;
  }

  /** Between the reboot's link drop and the new application advertising. */
  private rebooting = false;

  onWrite(charUuid: string, data: Uint8Array): void {
    if (!this.port) return;
    if (charUuid === LLSYNC_CHAR_DEVICE_INFO) this.onInfoWrite(data);
    else if (charUuid === LLSYNC_CHAR_OTA) this.onOtaWrite(data);
  }

  dispose(): void {
    this.stopOta();
    if (this.bootTimer) clearTimeout(this.bootTimer);
    this.bootTimer = null;
    if (this.pendingReboot) clearTimeout(this.pendingReboot);
    this.pendingReboot = null;
    this.port = null;
  }

  // ---- FFE1: connection auth (§6.1) -----------------------------------------------------

  private onInfoWrite(data: Uint8Array): void {
    const r = this.infoReasm.push(data);
    if (!r.ok || !r.value) return;
    const { type, data: body } = r.value;
    if (type === 0x01) {
      if (body.length !== 24) return;
      const ts = ((body[0]! << 24) | (body[1]! << 16) | (body[2]! << 8) | body[3]!) >>> 0;
      const expect = hostAuthSignature(this.psk, ts);
      // §6: a wrong signature gets no answer at all.
      if (Buffer.compare(Buffer.from(expect), Buffer.from(body.subarray(4))) !== 0) return;
      this.pendingTs = ts;
      const name = new TextEncoder().encode(this.config.deviceName);
      this.send(EV_CONN_SIGNATURE, Uint8Array.of(...deviceAuthSignature(this.psk, ts, this.config.productId, this.config.deviceName), ...name));
    } else if (type === 0x05 && this.pendingTs !== null) {
      this.authed = true;
      this.pendingTs = null;
      this.send(EV_DEVICE_INFO, encodeDeviceInfo({ protocolVersion: 2, wantsMtuSet: true, mtuHint: this.config.userDataMtu, version: this.version }));
      this.port?.loggedIn?.();
    } else if (type === 0x09) {
      // MTU result: 0 keep, 0xffff fall back to 20, else the ATT MTU the host obtained.
      const v = data.length >= 3 ? (data[1]! << 8) | data[2]! : 0;
      if (v === 0xffff) {
        this.attMtu = 23;
        this.send(EV_MTU_SYNC, Uint8Array.of(0x00, 0x14));
      } else if (v !== 0) this.attMtu = v;
    }
  }

  // ---- FFE4: OTA (§7) ------------------------------------------------------------------

  private onOtaWrite(data: Uint8Array): void {
    if (!this.authed) return; // §6: FFE4 is ignored until auth
    const type = data[0];
    if (type === 0x01) return this.onData(data);
    if (type === 0x02) return this.onEnd();
    if (type !== 0x00) return;
    const r = this.otaReasm.push(data);
    if (!r.ok || !r.value) return;
    this.onRequest(r.value.data);
  }

  private onRequest(d: Uint8Array): void {
    if (d.length < 10) return;
    const size = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
    const crc = ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0;
    const verLen = Math.min(d[8]!, 32);
    const version = new TextDecoder().decode(d.subarray(9, 9 + verLen));
    // Resending the request restarts the session: unflushed RAM data is discarded (§7.1).
    this.stopOta();
    const b = this.config.behaviour;
    if (b === 'refuse_version') return this.send(EV_OTA_REPLY, encodeOtaReply({ allowed: false, reason: REFUSE_VERSION }));
    if (b === 'low_battery') return this.send(EV_OTA_REPLY, encodeOtaReply({ allowed: false, reason: REFUSE_LOW_BATTERY }));
    const page = this.config.pageBytes;
    const rec = this.memory.state.resume;
    let offset = 0;
    let received = 0;
    if (this.config.supportsResume && rec && rec.size === size && rec.crc32 === crc.toString(16).padStart(8, '0')) {
      offset = Math.floor(rec.offset / page) * page;
      received = offset;
    } else if (this.config.supportsResume && rec && this.config.staleResumeQuirk) {
      received = Math.floor(rec.offset / page) * page; // §11.1: says 0, counts from the old page
    } else {
      this.memory.eraseStaging(size);
    }
    if (offset === 0 && received === 0) this.memory.eraseStaging(size);
    const timer = setInterval(() => this.tick(), this.config.retryPeriodSec * 1000);
    timer.unref?.();
    this.ota = {
      size,
      crc,
      version,
      received,
      expectedSeq: 0,
      acceptedInSession: false,
      windowRequested: false,
      inOrderSinceTick: false,
      bytesSinceReply: false,
      idleTicks: 0,
      lastReply: { nextSeq: 0, receivedBytes: received },
      abandoned: false,
      lastPct: Math.floor((received * 100) / Math.max(1, size)),
      buf: new Uint8Array(this.config.bufferBytes),
      bufStart: received,
      bufLen: 0,
      timer,
    };
    this.send(
      EV_OTA_REPLY,
      encodeOtaReply({
        allowed: true,
        grant: {
          supportsResume: this.config.supportsResume,
          packetsPerLoop: this.config.packetsPerLoop,
          packageBytes: this.config.packageBytes,
          retryPeriodSec: this.config.retryPeriodSec,
          rebootTimeSec: this.config.rebootTimeSec,
          resumeOffset: offset,
          intervalMs: this.config.intervalMs,
        },
      }),
    );
  }

  private onData(d: Uint8Array): void {
    const o = this.ota;
    if (!o || o.abandoned || d.length < 3) return;
    if (performance.now() < this.flashBusyUntil) return; // slow flash: the packet is lost
    const seq = d[2]!;
    const payload = d.subarray(3); // §7.3: the write length counts, not the length byte
    if (this.loseOnAir(o, seq, payload.length)) return;
    if (seq !== o.expectedSeq) {
      if (o.acceptedInSession && !o.windowRequested) {
        o.windowRequested = true;
        this.restartTimer();
        this.reply(o.expectedSeq, o.received);
      }
      return;
    }
    if (o.bufLen + payload.length > o.buf.length) this.flush();
    o.buf.set(payload, o.bufLen);
    o.bufLen += payload.length;
    o.received += payload.length;
    o.expectedSeq += 1;
    o.acceptedInSession = true;
    o.windowRequested = false;
    o.inOrderSinceTick = true;
    o.bytesSinceReply = true;
    const at = this.config.disconnectAtOffset ?? (this.config.behaviour === 'disconnect' ? Math.floor(o.size * DISCONNECT_FRACTION) : undefined);
    if (at !== undefined && o.received >= at && (this.memory.state.counters[COUNTER_DISCONNECTS] ?? 0) === 0) {
      this.memory.bump(COUNTER_DISCONNECTS);
      this.port?.drop('radio lost (disconnect fault)');
      return;
    }
    if (o.received >= o.size) {
      this.reply(o.expectedSeq, o.received);
    } else if (o.expectedSeq >= this.config.packetsPerLoop) {
      this.reply(o.expectedSeq, o.received);
      o.expectedSeq = 0;
    }
  }

  private onEnd(): void {
    const o = this.ota;
    const rec = this.memory.state.resume;
    const size = o?.size ?? rec?.size ?? 0;
    const crc = o ? o.crc : rec ? parseInt(rec.crc32, 16) : -1;
    if (o && !o.abandoned) this.flush();
    this.stopOta();
    const b = this.config.behaviour;
    if (b === 'crc_failure' || (b === 'crc_failure_once' && (this.memory.state.counters[COUNTER_CRC_FAULTS] ?? 0) === 0)) {
      this.memory.bump(COUNTER_CRC_FAULTS);
      this.memory.corruptStaging(Math.floor(size / 2)); // a flipped bit in flash
    }
    const stored = this.memory.readStaging(size);
    const ok = size > 0 && stored.length === size && crc32(stored) >>> 0 === crc >>> 0;
    this.memory.setResume(null); // §7.5: cleared whatever the outcome
    this.send(EV_OTA_CHECK, Uint8Array.of(ok ? CHECK_PASS : CHECK_CRC));
    if (ok) this.rebootInto(stored, o?.version);
  }

  /**
   * The application reboots into the stored image: after `rebootDelayMs` (the old application
   * keeps advertising and answering with the old version until then), the link drops, and the
   * new one boots. An image without a version descriptor boots the version of the OTA request
   * (what the station announced), like a real product's own firmware.
   */
  private rebootInto(image: Uint8Array, requestVersion: string | undefined): void {
    const found = findAppVersion(image);
    const version = found !== UNKNOWN_VERSION ? found : (requestVersion ?? UNKNOWN_VERSION);
    const hang = this.config.behaviour === 'reboot_timeout';
    const delayMs = this.config.rebootDelayMs ?? REBOOT_DELAY_MS;
    if (this.pendingReboot) clearTimeout(this.pendingReboot);
    this.pendingReboot = setTimeout(() => {
      this.pendingReboot = null;
      this.memory.install(version);
      if (hang) {
        this.memory.bump(COUNTER_REBOOT_HANG);
        this.hung = true;
      }
      this.rebooting = true;
      this.advertising = false;
      this.port?.drop('reboot');
      this.advertising = false;
      if (hang) return; // never comes back
      this.bootTimer = setTimeout(() => {
        this.bootTimer = null;
        this.rebooting = false;
        this.memory.boot();
        this.advertising = true;
      }, this.config.bootMs);
    }, delayMs);
    // A short delay is the reboot itself: stop advertising at once. A long one is the vendor's
    // application still running (it advertises and answers with the old version meanwhile).
    if (delayMs <= REBOOT_DELAY_MS) this.advertising = false;
  }

  /** `loseDataWrite`: one data write of the first session never reaches the device. */
  private loseOnAir(o: OtaState, seq: number, payloadBytes: number): boolean {
    const mode = this.config.loseDataWrite;
    if (!mode || (this.memory.state.counters[COUNTER_LOST_WRITE] ?? 0) > 0 || seq !== o.expectedSeq) return false;
    const N = this.config.packetsPerLoop;
    const isLastOfLoop = seq === N - 1 || o.received + payloadBytes >= o.size;
    const lose = mode === 'inside-loop' ? seq === LOST_PACKET_INSIDE_LOOP && !isLastOfLoop : isLastOfLoop;
    if (!lose) return false;
    this.memory.bump(COUNTER_LOST_WRITE);
    return true;
  }

  // ---- device internals ---------------------------------------------------------------------

  private reply(nextSeq: number, receivedBytes: number): void {
    const o = this.ota;
    if (!o) return;
    o.lastReply = { nextSeq, receivedBytes };
    o.bytesSinceReply = false;
    if (this.config.hostile === 'wrong-seq') return this.send(EV_OTA_DATA_REPLY, encodeDataReply({ nextSeq: (nextSeq + 77) & 0xff, receivedBytes }));
    this.send(EV_OTA_DATA_REPLY, encodeDataReply({ nextSeq, receivedBytes }));
  }

  /** §7.4 timer: re-announce when idle; abandon after 5 idle ticks. */
  private tick(): void {
    const o = this.ota;
    if (!o || o.abandoned) return;
    if (o.inOrderSinceTick) {
      o.inOrderSinceTick = false;
      o.idleTicks = 0;
      return;
    }
    o.idleTicks += 1;
    if (o.bytesSinceReply) this.reply(o.expectedSeq, o.received);
    else this.reply(o.lastReply.nextSeq, o.lastReply.receivedBytes);
    if (o.idleTicks >= IDLE_TICKS_TO_ABANDON) {
      o.abandoned = true; // RAM data lost, the record stays
      if (o.timer) clearInterval(o.timer);
      o.timer = null;
    }
  }

  private restartTimer(): void {
    const o = this.ota;
    if (!o) return;
    if (o.timer) clearInterval(o.timer);
    o.timer = setInterval(() => this.tick(), this.config.retryPeriodSec * 1000);
    o.timer.unref?.();
  }

  /** Write the RAM buffer to flash; record when the integer percentage went up (§7.8). */
  private flush(): void {
    const o = this.ota;
    if (!o || o.bufLen === 0) return;
    this.memory.writeStaging(o.bufStart, o.buf.subarray(0, o.bufLen));
    o.bufStart += o.bufLen;
    o.bufLen = 0;
    if (this.config.behaviour === 'slow_flash') this.flashBusyUntil = performance.now() + this.config.slowFlashMs;
    const pct = Math.floor((o.bufStart * 100) / Math.max(1, o.size));
    if (pct > o.lastPct) {
      o.lastPct = pct;
      this.saveRecord();
    }
  }

  private saveRecord(): void {
    const o = this.ota;
    if (!o || !this.config.supportsResume) return;
    this.memory.setResume({ offset: o.bufStart, size: o.size, crc32: o.crc.toString(16).padStart(8, '0'), version: o.version });
  }

  private stopOta(): void {
    if (this.ota?.timer) clearInterval(this.ota.timer);
    this.ota = null;
  }

  /** Notify an event, sliced by min(LLSync MTU, event buffer) (§4.1). */
  private send(type: number, value: Uint8Array): void {
    if (!this.port) return;
    const h = this.config.hostile;
    if ((type === EV_OTA_REPLY || type === EV_OTA_DATA_REPLY) && h && h !== 'wrong-seq') {
      if (h === 'garbled') return this.port.notify(Uint8Array.of(type, 0x00, 0x09, 0xde, 0xad));
      if (h === 'oversized') return this.port.notify(new Uint8Array(200).fill(type));
      for (let i = 0; i < 600; i++) this.port.notify(Uint8Array.of(0x00, 0x00, 0x01, i & 0xff)); // flood
    }
    const limit = Math.min(this.attMtu - 3, this.config.eventBufferBytes);
    for (const n of encodeDeviceEvent(type, value, limit)) this.port.notify(n);
  }
}
