/**
 * The host side of Tencent LLSync OTA (llsync-ota.md): connection auth, device info and version,
 * OTA request/reply, paced go-back-N data loops (§7.4), end of file and check result, reboot
 * wait and re-auth to confirm. Runs over a GattLink; knows nothing of noble. Never invents a
 * resume point: every offset comes from the device.
 */
import type { HashView } from '../../../contract/dto.js';
import { StationError } from '../../errors.js';
import { isGattLink, type GattLink } from '../../transport/types.js';
import type { Link } from '../../transport/types.js';
import type { DeviceIdentity, ProtocolSession, SessionContext } from '../types.js';
import {
  ATT_DEFAULT_MTU,
  ATT_HEADER_BYTES,
  END_OF_FILE,
  EV_CONN_SIGNATURE,
  EV_DEVICE_INFO,
  EV_MTU_SYNC,
  EV_OTA_CHECK,
  EV_OTA_DATA_REPLY,
  EV_OTA_REPLY,
  EventReassembler,
  HOST_CONN_SUCCEEDED,
  LLSYNC_CHAR_DEVICE_INFO,
  LLSYNC_CHAR_OTA,
  deviceAuthSignature,
  encodeConnAuth,
  encodeDataPacket,
  encodeMtuResult,
  encodeOtaRequest,
  isValidVersion,
  parseCheckResult,
  parseConnSignature,
  parseDataReply,
  parseDeviceInfo,
  parseOtaReply,
  parsePsk,
  type DeviceEvent,
  type OtaGrant,
} from './frames.js';
import { resolveLlsyncOptions, unitPskFor, type LlsyncOptions } from './options.js';
import { decodeLlsyncManufacturerData, llsyncDeviceIdentity, type LlsyncAdvertisement } from './advertising.js';

/** §7.2 refusal reasons. */
const REFUSE_LOW_BATTERY = 2;
const REFUSE_VERSION = 3;
const MTU_RESULT_OK = 0x0000;
const MAX_QUEUED_EVENTS = 512;

type Waiter = { types: number[]; resolve: (e: DeviceEvent) => void; reject: (e: unknown) => void };

/** Events from FFE3, reassembled and queued by type, with deadline-bound waits. */
class Inbox {
  private queue: DeviceEvent[] = [];
  private waiter: Waiter | null = null;
  private fatal: StationError | null = null;
  private readonly reasm = new EventReassembler();
  private readonly offs: (() => void)[] = [];
  mtuSyncPending = false;

  constructor(readonly link: Link, private readonly log: (s: string) => void, private readonly acked: () => number) {
    this.offs.push(link.onData((chunk) => this.onNotification(chunk)));
    this.offs.push(link.onLost((err) => this.fail(new StationError('TRANSPORT_LOST', err.message, { ...err.detail, ackedBytes: this.acked() }))));
  }

  detach(): void {
    this.offs.forEach((off) => off());
    this.offs.length = 0;
  }

  private onNotification(chunk: Uint8Array): void {
    const r = this.reasm.push(chunk);
    if (!r.ok) return this.fail(new StationError('PROTOCOL_BAD_FRAME', `garbled notification: ${r.error}`, { ackedBytes: this.acked() }));
    const ev = r.value;
    if (!ev) return;
    if (ev.type === EV_MTU_SYNC) {
      this.mtuSyncPending = true; // §5: answered with `09 0000` at the next step boundary
      this.log(`device LLSync MTU sync: ${Buffer.from(ev.value).toString('hex')}`);
      return;
    }
    if (this.waiter && this.waiter.types.includes(ev.type)) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(ev);
      return;
    }
    this.queue.push(ev);
    if (this.queue.length > MAX_QUEUED_EVENTS) this.fail(new StationError('PROTOCOL_BAD_FRAME', 'the unit floods notifications', { ackedBytes: this.acked() }));
  }

  private fail(err: StationError): void {
    this.fatal ??= err;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(this.fatal);
  }

  /** True when an event of these types is queued (arrived while nobody waited). */
  has(types: number[]): boolean {
    return this.queue.some((e) => types.includes(e.type));
  }

  /** Drop queued events of these types (replies that describe a state before what we do next). */
  drain(types: number[]): void {
    this.queue = this.queue.filter((e) => !types.includes(e.type));
  }

  wait(types: number[], timeoutMs: number, what: string, signal: AbortSignal): Promise<DeviceEvent> {
    // Events that arrived before a loss still count (the check result comes right before the reboot).
    const i = this.queue.findIndex((e) => types.includes(e.type));
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    if (this.fatal) return Promise.reject(this.fatal);
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<DeviceEvent>((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', onAbort);
      };
      const t = setTimeout(() => {
        this.waiter = null;
        done();
        reject(new StationError('PROTOCOL_TIMEOUT', `no ${what} within ${timeoutMs} ms`, { ackedBytes: this.acked() }));
      }, timeoutMs);
      const onAbort = () => {
        this.waiter = null;
        done();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        types,
        resolve: (e) => {
          done();
          resolve(e);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
    });
  }
}

export class LlsyncSession implements ProtocolSession {
  private readonly opts: LlsyncOptions;
  private link: GattLink;
  private inbox: Inbox;
  private grant: OtaGrant | null = null;
  private ackedBytes = 0;
  private staleRecoveryDone = false;
  private deviceName: string | undefined;

  constructor(private readonly ctx: SessionContext) {
    this.opts = resolveLlsyncOptions(ctx.options);
    this.link = requireGatt(ctx.link);
    this.inbox = new Inbox(this.link, ctx.log, () => this.ackedBytes);
  }

  private get maxWriteBytes(): number {
    return Math.max(ATT_DEFAULT_MTU, this.link.attMtu) - ATT_HEADER_BYTES;
  }

  private async writeInfo(data: Uint8Array, signal: AbortSignal): Promise<void> {
    await this.link.writeCharacteristic(LLSYNC_CHAR_DEVICE_INFO, data, { withoutResponse: false }, signal);
  }
  private async writeOta(data: Uint8Array, signal: AbortSignal): Promise<void> {
    await this.link.writeCharacteristic(LLSYNC_CHAR_OTA, data, { withoutResponse: true }, signal);
  }

  /** §6.1: sign the timestamp, check the device's signature, "connection succeeded", read 0x08. */
  private async authenticate(signal: AbortSignal): Promise<string> {
    const { pskHex, fromUnitList } = this.pskForUnit();
    const psk = parsePsk(pskHex);
    if (!psk.ok) throw new StationError('CONFIG_INVALID', psk.error);
    const ts = this.opts.unixTimeSec() >>> 0;
    this.inbox.drain([EV_CONN_SIGNATURE, EV_DEVICE_INFO]);
    for (const w of encodeConnAuth(psk.value, ts, this.maxWriteBytes)) await this.writeInfo(w, signal);
    let sigEv: DeviceEvent;
    try {
      sigEv = await this.inbox.wait([EV_CONN_SIGNATURE], this.opts.replyTimeoutMs, 'connection signature', signal);
    } catch (e) {
      // §6: a wrong signature gets no answer at all, only this timeout.
      if (e instanceof StationError && e.code === 'PROTOCOL_TIMEOUT') {
        // §6.2: a bound unit has the PSK its binder chose; retrying the profile's key cannot help.
        if (!fromUnitList && this.advertisement()?.bindState === 'bound') {
          throw new StationError('LLSYNC_PSK_UNKNOWN', `${e.message}: the unit advertises "bound" and no per-unit PSK matches it (unit ${this.ctx.unit.unitId}, address ${this.ctx.unit.address})`);
        }
        throw new StationError('LLSYNC_AUTH_NO_REPLY', `${e.message} (local PSK ${fromUnitList ? 'from the per-unit list' : pskHex === '00000000' ? 'zeros' : 'from the profile'})`);
      }
      throw e;
    }
    const sig = parseConnSignature(sigEv.value);
    if (!sig.ok) throw new StationError('PROTOCOL_BAD_FRAME', sig.error);
    this.deviceName = sig.value.deviceName;
    const productId = this.opts.productId ?? this.advertisedProductId();
    if (this.opts.verifyDeviceSignature && productId) {
      const expect = deviceAuthSignature(psk.value, ts, productId, sig.value.deviceName);
      if (Buffer.compare(Buffer.from(expect), Buffer.from(sig.value.signature)) !== 0) {
        await this.link.writeCharacteristic(LLSYNC_CHAR_DEVICE_INFO, Uint8Array.of(0x06), { withoutResponse: false }, signal).catch(() => undefined);
        throw new StationError('LLSYNC_AUTH_SIGNATURE', `device ${sig.value.deviceName} signed with another key or product than ${productId}`);
      }
    }
    await this.writeInfo(Uint8Array.of(HOST_CONN_SUCCEEDED), signal);
    const infoEv = await this.inbox.wait([EV_DEVICE_INFO], this.opts.replyTimeoutMs, 'device info', signal);
    const info = parseDeviceInfo(infoEv.value);
    if (!info.ok) throw new StationError('PROTOCOL_BAD_FRAME', info.error);
    this.ctx.log(`LLSync connected: ${sig.value.deviceName}, protocol ${info.value.protocolVersion}, version ${info.value.version}, MTU hint ${info.value.mtuHint}${info.value.wantsMtuSet ? ' (set)' : ''}, ATT MTU ${this.link.attMtu}`);
    if (this.opts.mtuResult === 'always') this.inbox.mtuSyncPending = true;
    return info.value.version;
  }

  private advertisement(): LlsyncAdvertisement | null {
    const md = this.link.manufacturerData;
    if (!md) return null;
    const adv = decodeLlsyncManufacturerData(md);
    return adv.ok ? adv.value : null;
  }

  private advertisedProductId(): string | null {
    const adv = this.advertisement();
    return adv && 'productId' in adv ? adv.productId : null;
  }

  /**
   * §6.1/§6.2: a per-unit PSK (settings or CSV) keyed by unit id, address/MAC, serial number,
   * name, device name, or — for a bound unit, which advertises only its identity — the advertised
   * device identity or a device name whose identity (with the profile's product id) matches it.
   */
  private pskForUnit(): { pskHex: string; fromUnitList: boolean } {
    const unit = this.ctx.unit;
    const adv = this.advertisement();
    const keys = [unit.unitId, unit.address, unit.serialNumber, unit.name, this.deviceName];
    if (adv?.bindState === 'bound') {
      keys.push(adv.deviceIdentity);
      const productId = this.opts.productId;
      if (productId) keys.push(Object.keys(this.opts.pskByUnit).find((name) => llsyncDeviceIdentity(productId, name) === adv.deviceIdentity));
    }
    const fromList = unitPskFor(this.opts, keys);
    return fromList ? { pskHex: fromList, fromUnitList: true } : { pskHex: this.opts.localPsk, fromUnitList: false };
  }

  /** §5: answer the device's MTU sync (traces: `09 0000` right after `0c`). */
  private async answerMtuSync(signal: AbortSignal): Promise<void> {
    if (!this.inbox.mtuSyncPending || this.opts.mtuResult === 'never') return;
    this.inbox.mtuSyncPending = false;
    await this.writeInfo(encodeMtuResult(MTU_RESULT_OK), signal);
  }

  async identify(signal: AbortSignal): Promise<DeviceIdentity> {
    const version = await this.authenticate(signal);
    return { version };
  }

  /** §7.1/§7.2: the request; the device answers with its parameters and resume offset. */
  private async request(signal: AbortSignal): Promise<OtaGrant> {
    const { info, bytes } = this.ctx.image;
    if (!isValidVersion(info.version)) throw new StationError('IMAGE_VERSION_INVALID', `version "${info.version}" cannot be sent over LLSync`);
    await this.answerMtuSync(signal);
    this.inbox.drain([EV_OTA_REPLY, EV_OTA_DATA_REPLY, EV_OTA_CHECK]);
    const crc = parseInt(info.crc32, 16) >>> 0;
    for (const w of encodeOtaRequest(bytes.length, crc, info.version, this.maxWriteBytes)) await this.writeOta(w, signal);
    const ev = await this.inbox.wait([EV_OTA_REPLY], this.opts.replyTimeoutMs, 'OTA request reply', signal);
    const reply = parseOtaReply(ev.value);
    if (!reply.ok) throw new StationError('PROTOCOL_BAD_FRAME', reply.error);
    if (!reply.value.allowed) {
      const reason = reply.value.reason;
      const deviceCode = `llsync:refused:${reason}`;
      if (reason === REFUSE_VERSION) throw new StationError('DEVICE_REJECTED_VERSION', `the unit refused version ${info.version} (reason 3)`, { deviceCode });
      if (reason === REFUSE_LOW_BATTERY) throw new StationError('DEVICE_LOW_BATTERY', 'the unit refused the OTA: battery too low (reason 2)', { deviceCode });
      throw new StationError('DEVICE_ERROR', `the unit refused the OTA with application reason ${reason}`, { deviceCode, retryable: false });
    }
    const g = reply.value.grant;
    if (g.resumeOffset > bytes.length) throw new StationError('PROTOCOL_BAD_FRAME', `resume offset ${g.resumeOffset} beyond the ${bytes.length}-byte image`);
    this.grant = g;
    this.ctx.log(`OTA granted: ${g.packetsPerLoop} packets/loop, package ${g.packageBytes} B, retry ${g.retryPeriodSec} s, reboot ${g.rebootTimeSec} s, resume ${g.resumeOffset}, interval ${g.intervalMs} ms`);
    return g;
  }

  async negotiate(signal: AbortSignal): Promise<{ resumeAtBytes: number; chunkBytes: number }> {
    const g = await this.request(signal);
    return { resumeAtBytes: g.resumeOffset, chunkBytes: this.payloadBytes(g) };
  }

  /** §5 sizing rule: payload = min(package size, ATT_MTU − 3) − 3. */
  private payloadBytes(g: OtaGrant): number {
    return Math.min(g.packageBytes, this.maxWriteBytes) - 3;
  }

  async transfer(fromBytes: number, onAck: (ackedBytes: number) => void, signal: AbortSignal): Promise<void> {
    let g = this.grant;
    if (!g) throw new StationError('INTERNAL', 'transfer before negotiate');
    const image = this.ctx.image.bytes;
    const size = image.length;
    const clock = this.ctx.clock;
    let n = this.payloadBytes(g);
    if (n < 1) throw new StationError('PROTOCOL_BAD_FRAME', `package size ${g.packageBytes} leaves no payload`);
    let loopStart = fromBytes;
    let seq = 0;
    let rounds = 0;
    this.ackedBytes = fromBytes;
    const ack = (b: number) => {
      if (b > this.ackedBytes || b < this.ackedBytes) onAck(b);
      this.ackedBytes = b;
    };
    let intervalMs = g.intervalMs === 0 ? this.opts.zeroIntervalMs : g.intervalMs;
    let nextAt = clock.now();
    while (loopStart + seq * n < size) {
      const N = g.packetsPerLoop;
      const count = Math.min(N, Math.ceil((size - loopStart) / n));
      this.inbox.drain([EV_OTA_DATA_REPLY]);
      for (let s = seq; s < count; s++) {
        const off = loopStart + s * n;
        if (off >= size) break; // §7.3: never send past file_size
        // The device asked for a resend (a write was lost): everything after it would be dropped,
        // so stop the loop at once and answer the request (vendor-behaviour.md, §7.4 go-back-N).
        if (s > seq && this.inbox.has([EV_OTA_DATA_REPLY])) {
          this.ctx.log(`data reply during the loop at seq ${s}: the device wants a resend, stopping the loop`);
          break;
        }
        // §10: honour the device's interval on average; catch up at most one interval after a stall.
        nextAt = Math.max(nextAt + intervalMs, clock.now() - intervalMs);
        const waitMs = nextAt - clock.now();
        if (waitMs > 0.5) await clock.sleep(waitMs, signal);
        await this.writeOta(encodeDataPacket(s, image.subarray(off, Math.min(off + n, size))), signal);
      }
      const loopEnd = Math.min(loopStart + count * n, size);
      const reply = await this.nextDataReply(loopStart, g, signal);
      if (reply.receivedBytes > loopEnd) {
        // §11.1: the device counts from a stale record of another image.
        if (!this.opts.recoverStaleResume || this.staleRecoveryDone) {
          throw new StationError('DEVICE_ERROR', `unit reports ${reply.receivedBytes} bytes received after ${loopEnd} were sent (stale resume state)`, { deviceCode: 'llsync:stale-resume' });
        }
        this.staleRecoveryDone = true;
        this.ctx.log(`stale resume state (device says ${reply.receivedBytes}, sent up to ${loopEnd}): END to clear it, then request again (§11.1)`);
        await this.writeOta(END_OF_FILE, signal);
        await this.inbox.wait([EV_OTA_CHECK], this.checkTimeoutMs(), 'check result after the stale-state END', signal);
        g = await this.request(signal);
        n = this.payloadBytes(g);
        intervalMs = g.intervalMs === 0 ? this.opts.zeroIntervalMs : g.intervalMs;
        loopStart = g.resumeOffset;
        seq = 0;
        rounds = 0;
        ack(loopStart);
        continue;
      }
      if (reply.receivedBytes === loopEnd && (reply.nextSeq === count || reply.nextSeq === N)) {
        ack(loopEnd);
        loopStart = loopEnd;
        seq = 0;
        rounds = 0;
        continue;
      }
      // Retransmission request (§7.4 go-back-N): resume from the device's expected seq. Only
      // §7.4 counts every retransmission request of a loop; a product profile may count only
      // requests that gained nothing (a slow flash loses packets at every page write).
      const progressed = reply.receivedBytes > this.ackedBytes;
      rounds = this.opts.retransmitRoundsCount === 'no-progress' && progressed ? 1 : rounds + 1;
      if (rounds > this.opts.maxRetransmitRounds) {
        throw new StationError('PROTOCOL_TOO_MANY_RETRIES', `${rounds - 1} retransmission rounds (${this.opts.retransmitRoundsCount === 'any' ? 'in this loop' : 'without progress'}) at ${reply.receivedBytes} bytes`, { ackedBytes: this.ackedBytes });
      }
      if (reply.nextSeq >= N) {
        loopStart = reply.receivedBytes;
        seq = 0;
      } else {
        const start = reply.receivedBytes - reply.nextSeq * n;
        if (start < 0 || reply.nextSeq > count) {
          throw new StationError('PROTOCOL_BAD_FRAME', `data reply for another sequence (next ${reply.nextSeq}, ${reply.receivedBytes} bytes) in a loop of ${count} from ${loopStart}`);
        }
        loopStart = start;
        seq = reply.nextSeq;
      }
      ack(reply.receivedBytes);
      this.ctx.log(`retransmit from seq ${seq} (byte ${reply.receivedBytes}), round ${rounds}`);
    }
    if (this.ackedBytes !== size) ack(size);
  }

  /** A data reply for this loop: ignores stale ones (§7.4), waits retry × 5 s. */
  private async nextDataReply(loopStart: number, g: OtaGrant, signal: AbortSignal): Promise<{ nextSeq: number; receivedBytes: number }> {
    const timeoutMs = Math.max(1, g.retryPeriodSec) * 1000 * this.opts.dataReplyTimeoutFactor;
    for (;;) {
      const ev = await this.inbox.wait([EV_OTA_DATA_REPLY], timeoutMs, 'data reply', signal);
      const r = parseDataReply(ev.value);
      if (!r.ok) throw new StationError('PROTOCOL_BAD_FRAME', r.error);
      if (r.value.receivedBytes < loopStart) continue;
      return r.value;
    }
  }

  private checkTimeoutMs(): number {
    const g = this.grant;
    const base = Math.max(this.opts.checkTimeoutMs, g ? g.retryPeriodSec * 1000 * this.opts.dataReplyTimeoutFactor : 0);
    return base + Math.ceil(this.ctx.image.bytes.length / 1024) * this.opts.checkMsPerKiB;
  }

  async verify(signal: AbortSignal): Promise<HashView> {
    this.inbox.drain([EV_OTA_CHECK, EV_OTA_DATA_REPLY]);
    await this.writeOta(END_OF_FILE, signal);
    const ev = await this.inbox.wait([EV_OTA_CHECK], this.checkTimeoutMs(), 'check result', signal);
    const r = parseCheckResult(ev.value);
    if (!r.ok) throw new StationError('PROTOCOL_BAD_FRAME', r.error);
    if (r.value.passed) {
      // The device compared its CRC-32 of the stored bytes with the one we sent in the request
      // (§7.5/§7.6): it confirms that value. The version after reboot is the runner's to add.
      return { crc32: this.ctx.image.info.crc32, confirmedBy: ['device-crc32'] };
    }
    const deviceCode = `llsync:check:0x${r.value.raw.toString(16).padStart(2, '0')}`;
    if (r.value.reason === 'crc') throw new StationError('PROTOCOL_CRC_MISMATCH', 'the unit computed another CRC-32 over the stored image', { deviceCode });
    if (r.value.reason === 'file-rejected') throw new StationError('DEVICE_REJECTED_FILE', 'the unit’s application rejected the file', { deviceCode });
    throw new StationError('DEVICE_ERROR', `check failed with reason 0x${r.value.raw.toString(16)}`, { deviceCode });
  }

  /** §7.7: the application reboots into the new image and drops the link. */
  async activate(signal: AbortSignal): Promise<void> {
    if (!this.link.isOpen) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(finish, this.opts.rebootDropWaitMs);
      const off = this.link.onLost(() => finish());
      const onAbort = () => {
        finish();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      function finish() {
        clearTimeout(t);
        off();
        signal.removeEventListener('abort', onAbort);
        resolve();
      }
    });
  }

  /**
   * §7.7: reconnect within the reboot time the device gave in its OTA reply, plus a margin for its
   * flash CRC and boot (§14). Undefined before a grant or when the device reports 0: the engine's default.
   */
  get confirmTimeoutMs(): number | undefined {
    const sec = this.grant?.rebootTimeSec ?? 0;
    return sec > 0 ? sec * 1000 + this.opts.rebootMarginMs : undefined;
  }

  /** §7.7: on the new link, authenticate again and read the version from 0x08. */
  async confirm(link: Link, signal: AbortSignal): Promise<string | undefined> {
    this.inbox.detach();
    this.link = requireGatt(link);
    this.inbox = new Inbox(this.link, this.ctx.log, () => this.ackedBytes);
    return this.authenticate(signal);
  }
}

function requireGatt(link: Link): GattLink {
  if (!isGattLink(link)) throw new StationError('CONFIG_INVALID', `llsync-ota needs a BLE (GATT) link, got ${link.kind}`);
  return link;
}
