/**
 * The station-side mqtt-ota session for one device and one job (mqtt-ota.md §9), both dialects:
 * wait for the version report, push at the moment it can land (Tencent: right after a report;
 * Aliyun: once the device is subscribed), follow the download through the firmware server and the
 * device's progress, map device codes, time out stalls, and count success only when the device
 * reports the target version (or `done`, per product). Talks only to an MqttLink.
 */
import type { HashView } from '../../../contract/dto.js';
import { StationError, type StationErrorCode } from '../../errors.js';
import { isMqttLink, type MqttLink, type NetDeviceEvent, type VersionReport } from '../../transport/net/mqtt-link.js';
import type { Link } from '../../transport/types.js';
import type { DeviceIdentity, ProtocolSession, SessionContext } from '../types.js';
import { aliyunGetReply, aliyunPush, aliyunPushData, mapAliyunStep, mapTencentCode, parseUplink, tencentPush, topics, type Dialect, type MappedFailure, type PushInfo, type Uplink } from './messages.js';
import { resolveMqttOtaOptions, type MqttOtaOptions } from './options.js';

/** What negotiate reports as the chunk size: the firmware server's body chunk. */
const HTTP_CHUNK_BYTES = 16 * 1024;

type Next = { kind: 'event'; e: NetDeviceEvent } | { kind: 'timeout' };

/** Events of one link in arrival order, awaited with deadlines. */
class EventQueue {
  private items: NetDeviceEvent[] = [];
  private wake: (() => void) | null = null;
  constructor(link: MqttLink) {
    link.onEvent((e) => {
      this.items.push(e);
      this.wake?.();
    });
  }
  async next(timeoutMs: number, signal: AbortSignal): Promise<Next> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const e = this.items.shift();
      if (e) return { kind: 'event', e };
      const left = deadline - performance.now();
      if (left <= 0) return { kind: 'timeout' };
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        }
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
      this.wake = null;
    }
  }
}

export class MqttOtaSession implements ProtocolSession {
  readonly options: MqttOtaOptions;
  private readonly link: MqttLink;
  private readonly q: EventQueue;
  private report: VersionReport | undefined;
  private push: PushInfo | null = null;
  private pushId = Date.now();
  /** Set once the device has shown it verified and started installing (burning/done/new version). */
  private verdict: 'burning' | 'done' | 'version' | 'rebooting' | null = null;
  private reportedAfter: string | undefined;
  private lastHttpStatus = 0;

  constructor(private readonly ctx: SessionContext, readonly dialect: Dialect) {
    if (!isMqttLink(ctx.link)) throw new StationError('PROTOCOL_UNSUPPORTED_MODE', `mqtt-ota needs an MQTT link, got ${ctx.link.kind}`, { retryable: false });
    this.link = ctx.link;
    this.options = resolveMqttOtaOptions(ctx.options);
    this.q = new EventQueue(this.link);
  }

  private get target(): string {
    return this.ctx.image.info.version;
  }

  private uplinkOf(e: NetDeviceEvent): Uplink | null {
    return e.type === 'uplink' ? parseUplink(this.dialect, e.topic, e.payload) : null;
  }

  private fail(m: MappedFailure, acked?: number): StationError {
    // §3.6 + §5.2: a 403 shows as −3 then −5; keep the station's own observation too.
    if (m.code === 'DEVICE_ERROR' && this.lastHttpStatus === 403) m = mapTencentCode(-3);
    if (m.code === 'DEVICE_ERROR' && this.lastHttpStatus === 404) m = mapTencentCode(-2);
    return new StationError(m.code, m.why, { unitId: this.ctx.unit.unitId, deviceCode: m.deviceCode, ackedBytes: acked });
  }

  private error(code: StationErrorCode, why: string): StationError {
    return new StationError(code, why, { unitId: this.ctx.unit.unitId });
  }

  async identify(signal: AbortSignal): Promise<DeviceIdentity> {
    // §9: the report may have come before the job (devices report right after CONNECT).
    let r = this.link.pendingReport();
    while (!r) {
      const n = await this.q.next(this.options.reportTimeoutMs, signal);
      if (n.kind === 'timeout') {
        throw this.link.isOnline()
          ? this.error('NET_NO_VERSION_REPORT', `no version report within ${this.options.reportTimeoutMs} ms`)
          : this.error('NET_DEVICE_OFFLINE', 'the unit went offline before reporting its version');
      }
      if (this.uplinkOf(n.e)?.kind === 'version') r = this.link.pendingReport();
    }
    this.report = r;
    this.ctx.log(`device reports version ${r.version}`);
    return { version: r.version };
  }

  async negotiate(): Promise<{ resumeAtBytes: number; chunkBytes: number }> {
    // The device decides resume from its own record and shows it in its Range header (§5.4).
    return { resumeAtBytes: 0, chunkBytes: HTTP_CHUNK_BYTES };
  }

  private async sendPush(signal: AbortSignal): Promise<void> {
    const { info, bytes } = this.ctx.image;
    if (this.report) this.link.consumeReport(this.report.seq);
    const url = this.link.offerFirmware({ version: info.version, bytes, md5: info.md5 }, this.options.urlTtlMs);
    this.push = { version: info.version, url, md5: info.md5, sizeBytes: bytes.length, module: this.options.module ?? undefined };
    const { product: p, device: d } = this.link;
    if (this.dialect === 'tencent') {
      await this.link.publish(topics.tencentUpdate(p, d), tencentPush(this.push));
    } else {
      const upgrade = topics.aliyunUpgrade(p, d);
      if (this.link.attached) {
        await sleep(this.options.attachedAliyunPushDelayMs, signal);
      } else if (!this.options.aliyunPushWithoutSubscribe && !this.link.isSubscribedTo(upgrade)) {
        // §9 P2: v3 reports before it subscribes; hold the push until the SUBSCRIBE.
        this.ctx.log('push pending until the device subscribes to its upgrade topic');
        while (!this.link.isSubscribedTo(upgrade)) {
          const n = await this.q.next(this.options.startTimeoutMs, signal);
          if (n.kind === 'timeout') throw this.error('NET_PUSH_IGNORED', 'the device never subscribed to its upgrade topic');
          this.handleSideEvent(n.e);
        }
      }
      await this.link.publish(upgrade, aliyunPush(this.push, this.pushId++, this.options.aliyunSignMethod));
    }
    this.ctx.log(`pushed ${info.version} ${url}`);
  }

  /** Events that need an answer whatever the phase: Aliyun pulls (§9 P2). */
  private handleSideEvent(e: NetDeviceEvent): void {
    const up = this.uplinkOf(e);
    if (up?.kind === 'pull' && this.dialect === 'aliyun') {
      const data = this.push ? aliyunPushData(this.push, this.options.aliyunSignMethod) : {};
      void this.link.publish(topics.aliyunGetReply(this.link.product, this.link.device), aliyunGetReply(up.id, data)).catch(() => undefined);
    }
  }

  async transfer(_from: number, onAck: (ackedBytes: number) => void, signal: AbortSignal): Promise<void> {
    await this.sendPush(signal);
    let started = false;
    let repushed = false;
    let acked = 0;
    for (;;) {
      const n = await this.q.next(started ? this.options.stallTimeoutMs : this.options.startTimeoutMs, signal);
      if (n.kind === 'timeout') {
        if (!started && !repushed && this.link.isOnline()) {
          // §9 T_start: a push can be dropped (e.g. a declining IoT Video app): re-push once.
          repushed = true;
          this.ctx.log('no download started: re-pushing once');
          await this.sendPush(signal);
          continue;
        }
        if (!started) throw this.error('NET_PUSH_IGNORED', `no download within ${this.options.startTimeoutMs} ms of the push`);
        this.link.abortDownloads();
        throw new StationError('NET_DOWNLOAD_STALLED', `no bytes for ${this.options.stallTimeoutMs} ms`, { unitId: this.ctx.unit.unitId, deviceCode: '-1', ackedBytes: acked });
      }
      const e = n.e;
      this.handleSideEvent(e);
      if (e.type === 'http-request') {
        started = true;
        this.lastHttpStatus = e.status;
        if (e.status === 200 || e.status === 206) {
          if (e.start > 0) this.ctx.log(`device resumes at ${e.start} (${e.range})`);
          acked = e.start;
          onAck(acked);
        } else {
          this.ctx.log(`firmware server answered ${e.status}`);
        }
        continue;
      }
      if (e.type === 'http-progress') {
        acked = e.sentTo;
        onAck(acked);
        continue;
      }
      if (e.type === 'http-end') {
        if (e.complete) {
          onAck(e.size);
          return;
        }
        continue; // a cut: the device's own report tells what it makes of it
      }
      const up = this.uplinkOf(e);
      if (!up) continue;
      if (up.kind === 'progress') {
        started = true;
        if (up.state === 'burning' || up.state === 'done') {
          this.verdict = up.state; // §5.2: `done` may arrive with nothing left to fetch
          return;
        }
      } else if (up.kind === 'fail') {
        throw this.fail(mapTencentCode(up.code), acked);
      } else if (up.kind === 'step') {
        started = true;
        if (up.step < 0) throw this.fail(mapAliyunStep(up.step), acked);
        if (up.step === 100) return;
      } else if (up.kind === 'version') {
        if (this.versionSeen(up.version)) return;
        // The device restarted its OTA layer without finishing: the report stays pending so
        // the retry pushes right after it (§5.3, P3).
        throw new StationError('DEVICE_ERROR', `device re-reported ${up.version} during the download`, { unitId: this.ctx.unit.unitId, ackedBytes: acked });
      }
    }
  }

  private versionSeen(version: string): boolean {
    if (version !== this.target) return false;
    this.verdict = 'version';
    this.reportedAfter = version;
    return true;
  }

  async verify(signal: AbortSignal): Promise<HashView> {
    // The device installs only after its own MD5 check passes (§5.5, §8.4): its verdict confirms the MD5 pushed.
    const confirmed = { md5: this.ctx.image.info.md5 };
    while (!this.verdict) {
      const n = await this.q.next(this.options.installTimeoutMs, signal);
      if (n.kind === 'timeout') throw this.error('PROTOCOL_TIMEOUT', `no verdict within ${this.options.installTimeoutMs} ms of the download`);
      const e = n.e;
      this.handleSideEvent(e);
      if (e.type === 'offline' && this.dialect === 'aliyun') this.verdict = 'rebooting';
      const up = this.uplinkOf(e);
      if (!up) continue;
      if (up.kind === 'progress' && (up.state === 'burning' || up.state === 'done')) this.verdict = up.state;
      else if (up.kind === 'fail') throw this.fail(mapTencentCode(up.code));
      else if (up.kind === 'step' && up.step < 0) throw this.fail(mapAliyunStep(up.step));
      else if (up.kind === 'version' && !this.versionSeen(up.version)) {
        throw new StationError('DEVICE_ERROR', `device re-reported ${up.version} instead of installing`, { unitId: this.ctx.unit.unitId });
      }
    }
    this.ctx.log(`device verdict: ${this.verdict}`);
    return confirmed;
  }

  async activate(signal: AbortSignal): Promise<void> {
    if (this.dialect !== 'tencent' || this.options.successPolicy !== 'done') return;
    // Policy A: Tencent `done` is final.
    while (this.verdict !== 'done') {
      const n = await this.q.next(this.options.installTimeoutMs, signal);
      if (n.kind === 'timeout') throw this.error('REBOOT_TIMEOUT', `no done within ${this.options.installTimeoutMs} ms`);
      const up = this.uplinkOf(n.e);
      if (up?.kind === 'progress' && up.state === 'done') this.verdict = 'done';
      else if (up?.kind === 'fail') throw this.fail(mapTencentCode(up.code));
    }
  }

  async confirm(_link: Link, signal: AbortSignal): Promise<string | undefined> {
    if (this.dialect === 'tencent' && this.options.successPolicy === 'done') return undefined;
    // Policy B: the unit passes only when it reports the target after rebooting (§9).
    if (this.reportedAfter !== undefined) return this.reportedAfter;
    for (;;) {
      const n = await this.q.next(this.options.rebootTimeoutMs, signal);
      if (n.kind === 'timeout') throw this.error('REBOOT_TIMEOUT', `no version report within ${this.options.rebootTimeoutMs} ms of installing`);
      const up = this.uplinkOf(n.e);
      if (up?.kind === 'fail') throw this.fail(mapTencentCode(up.code));
      if (up?.kind === 'step' && up.step < 0) throw this.fail(mapAliyunStep(up.step));
      if (up?.kind === 'version') {
        this.ctx.log(`device reports ${up.version} after installing`);
        return up.version;
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
