/**
 * The station-side mqtt-ota session for one device and one job (mqtt-ota.md §9), both dialects:
 * wait for the version report (or use the one the unit sent before the batch), push at the
 * moment it can land, follow the download by what the *device* confirms (Tencent percent, Aliyun
 * step, the Range offset it asks for — never bytes written into a socket), time out stalls on
 * device progress, and pass only on what the device said (MD5 checked, `done`, the new version).
 * Talks only to an MqttLink (transport/net/types.ts).
 */
import type { ConfirmedBy, HashView } from '../../../contract/dto.js';
import { StationError, type StationErrorCode } from '../../errors.js';
import { isMqttLink, type MqttLink, type NetDeviceEvent, type VersionReport } from '../../transport/types.js';
import type { Link } from '../../transport/types.js';
import type { DeviceIdentity, ProtocolSession, SessionContext } from '../types.js';
import { aliyunGetReply, aliyunPush, aliyunPushData, mapAliyunStep, mapTencentCode, parseUplink, tencentPush, topics, type Dialect, type MappedFailure, type PushInfo, type Uplink } from './messages.js';
import { resolveMqttOtaOptions, type MqttOtaOptions } from './options.js';

/** What negotiate reports as the chunk size: the firmware server's body chunk. */
const HTTP_CHUNK_BYTES = 16 * 1024;
/** §3.8: the Tencent SDK computes percent in 32 bits; above this size its percent is garbage. */
const TENCENT_PERCENT_MAX_BYTES = Math.floor(0xffffffff / 100);

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
  /** The runner waits for the new version as long as the product's T_reboot (no hidden cap). */
  readonly confirmTimeoutMs: number;
  private readonly link: MqttLink;
  private readonly q: EventQueue;
  private report: VersionReport | undefined;
  private push: PushInfo | null = null;
  private pushId = Date.now();
  /** What the device has shown after the download: MD5 checked and installing (burning), done, the new version, or a reboot. */
  private verdict: 'burning' | 'done' | 'version' | 'rebooting' | null = null;
  private reportedAfter: string | undefined;
  private lastHttpStatus = 0;
  /** The firmware server saw the download connection end before the last byte. */
  private httpCut = false;

  constructor(private readonly ctx: SessionContext, readonly dialect: Dialect) {
    if (!isMqttLink(ctx.link)) throw new StationError('PROTOCOL_UNSUPPORTED_MODE', `mqtt-ota needs an MQTT link, got ${ctx.link.kind}`, { retryable: false });
    this.link = ctx.link;
    this.options = resolveMqttOtaOptions(ctx.options, dialect);
    this.confirmTimeoutMs = this.options.rebootTimeoutMs;
    this.q = new EventQueue(this.link);
  }

  private get target(): string {
    return this.ctx.image.info.version;
  }

  private get size(): number {
    return this.ctx.image.bytes.length;
  }

  private uplinkOf(e: NetDeviceEvent): Uplink | null {
    return e.type === 'uplink' ? parseUplink(this.dialect, e.topic, e.payload) : null;
  }

  private fail(m: MappedFailure, acked?: number, downloading = false): StationError {
    // §3.6 + §5.2: a 403 shows as −3 then −5; keep the station's own observation too.
    if (m.code === 'DEVICE_ERROR' && this.lastHttpStatus === 403) m = mapTencentCode(-3);
    if (m.code === 'DEVICE_ERROR' && this.lastHttpStatus === 404) m = mapTencentCode(-2);
    // A generic −5 before the device had the whole image: its download failed (resumable, §5.4).
    if (m.code === 'DEVICE_ERROR' && m.deviceCode === '-5' && downloading) {
      m = { code: 'NET_DOWNLOAD_FAILED', deviceCode: '-5', why: `device: download failed (−5)${this.httpCut ? ' after its connection broke' : ''}; it resumes from its saved offset on the next push` };
    }
    return new StationError(m.code, m.why, { unitId: this.ctx.unit.unitId, deviceCode: m.deviceCode, ackedBytes: acked });
  }

  private error(code: StationErrorCode, why: string, detail: { ackedBytes?: number; retryable?: boolean } = {}): StationError {
    return new StationError(code, why, { unitId: this.ctx.unit.unitId, ...detail });
  }

  async identify(signal: AbortSignal): Promise<DeviceIdentity> {
    // §9: the report may have come before the job (devices report right after CONNECT).
    let r = this.link.pendingReport();
    const started = performance.now();
    while (!r) {
      const last = this.link.lastReport();
      const waited = performance.now() - started;
      // Units that report once (the SDK samples): an online unit whose report a push already
      // used gets a short wait for a fresh one, then the push rests on what it said last.
      const budget = last && this.link.isOnline() ? Math.min(this.options.freshReportWaitMs, this.options.reportTimeoutMs) : this.options.reportTimeoutMs;
      const n = await this.q.next(Math.max(0, budget - waited), signal);
      if (n.kind === 'timeout') {
        if (last && this.link.isOnline()) {
          this.ctx.log(`no fresh version report: using ${last.version}, reported ${Math.round((performance.now() - last.atMs) / 1000)} s ago`);
          r = last;
          break;
        }
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
    const url = this.link.offerFirmware({ version: info.version, bytes, md5: info.md5 }, this.options.urlTtlMs);
    if (new URL(url).port !== '' && !this.options.urlPortAllowed) {
      // vendor-behaviour.md: the Tencent C SDK (and iotkit 3.x) pass "host:port" to getaddrinfo and fail.
      throw this.error(
        'CONFIG_INVALID',
        `the firmware URL ${url} carries a port, which ${this.dialect === 'tencent' ? 'Tencent C SDK' : 'Aliyun iotkit 3.x'} units cannot use (they connect to port 80 and fail to resolve "host:port"): serve firmware on port 80 (httpPort 80, or urlPort null behind a port forward), or set ${this.ctx.unit.protocol}.urlPortAllowed=true for units whose HTTP client honours URL ports`,
        { retryable: false },
      );
    }
    if (this.report) this.link.consumeReport(this.report.seq);
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

  /**
   * Push, then follow the download until the device says it has the whole image (Tencent 100 %
   * or burning/done; Aliyun step 100). Progress is what the device confirmed; the stall timer
   * runs on it. A unit that goes offline or restarts mid-download is a resumable download failure.
   */
  async transfer(_from: number, onAck: (ackedBytes: number) => void, signal: AbortSignal): Promise<void> {
    await this.sendPush(signal);
    const size = this.size;
    const percentUsable = this.dialect === 'aliyun' || size <= TENCENT_PERCENT_MAX_BYTES;
    let started = false;
    let repushed = false;
    let acked = 0;
    let lastAdvanceMs = performance.now();
    let lastPercent = -1;
    let offlineSinceMs: number | null = null;
    const advance = (bytes: number) => {
      lastAdvanceMs = performance.now();
      if (bytes > acked) {
        acked = Math.min(bytes, size);
        onAck(acked);
      }
    };
    const fromPercent = (p: number): void => {
      if (p === lastPercent) return;
      lastPercent = p;
      if (percentUsable) advance(Math.floor((Math.max(0, Math.min(100, p)) * size) / 100));
      else lastAdvanceMs = performance.now(); // a changing figure still shows the device moves on
    };
    const wholeImage = () => {
      this.httpCut = false;
      onAck(size);
    };
    for (;;) {
      const now = performance.now();
      const wait = offlineSinceMs !== null ? this.options.stallTimeoutMs - (now - offlineSinceMs) : started ? this.options.stallTimeoutMs - (now - lastAdvanceMs) : this.options.startTimeoutMs - (now - lastAdvanceMs);
      const n = await this.q.next(Math.max(0, wait), signal);
      if (n.kind === 'timeout') {
        if (offlineSinceMs !== null) {
          this.link.abortDownloads();
          throw this.error('NET_DOWNLOAD_FAILED', `the unit went offline mid-download and did not come back within ${this.options.stallTimeoutMs} ms (power cut?); it resumes from its saved offset on the next push`, { ackedBytes: acked });
        }
        if (!started && !repushed && this.link.isOnline()) {
          // §9 T_start: a push can be dropped (e.g. a declining IoT Video app): re-push once.
          repushed = true;
          lastAdvanceMs = performance.now();
          this.ctx.log('no download started: re-pushing once');
          await this.sendPush(signal);
          continue;
        }
        if (!started) throw this.error('NET_PUSH_IGNORED', `no download within ${this.options.startTimeoutMs} ms of the push`);
        this.link.abortDownloads();
        throw new StationError('NET_DOWNLOAD_STALLED', `the device confirmed no progress for ${this.options.stallTimeoutMs} ms`, { unitId: this.ctx.unit.unitId, deviceCode: '-1', ackedBytes: acked });
      }
      const e = n.e;
      this.handleSideEvent(e);
      if (e.type === 'offline') {
        offlineSinceMs ??= performance.now();
        this.ctx.log('the unit went offline during the download');
        continue;
      }
      if (e.type === 'online') {
        offlineSinceMs = null;
        lastAdvanceMs = performance.now();
        continue;
      }
      if (e.type === 'http-request') {
        if (!started) lastAdvanceMs = performance.now();
        started = true;
        this.lastHttpStatus = e.status;
        if (e.status === 200 || e.status === 206) {
          this.httpCut = false;
          // The Range start is what the device says it already holds (§5.4).
          if (e.start > 0) this.ctx.log(`device resumes at ${e.start} (${e.range})`);
          advance(e.start);
        } else {
          this.ctx.log(`firmware server answered ${e.status}`);
        }
        continue;
      }
      if (e.type === 'http-end') {
        // Bytes written into a socket are not bytes delivered: only note a broken connection.
        if (!e.complete) {
          this.httpCut = true;
          this.ctx.log(`download connection closed at ${e.sentTo} of ${e.size} bytes sent`);
        }
        continue;
      }
      const up = this.uplinkOf(e);
      if (!up) continue;
      if (up.kind === 'progress') {
        if (!started) lastAdvanceMs = performance.now();
        started = true;
        if (up.state === 'downloading') {
          fromPercent(up.percent);
          if (up.percent >= 100 && percentUsable) return wholeImage();
        } else if (up.state === 'burning' || up.state === 'done') {
          // §5.2: the MD5 check passed (`done` may come with nothing left to fetch).
          this.verdict = up.state;
          return wholeImage();
        }
      } else if (up.kind === 'fail') {
        throw this.fail(mapTencentCode(up.code), acked, true);
      } else if (up.kind === 'step') {
        if (!started) lastAdvanceMs = performance.now();
        started = true;
        if (up.step < 0) throw this.fail(mapAliyunStep(up.step), acked);
        fromPercent(up.step);
        if (up.step >= 100) return wholeImage();
      } else if (up.kind === 'version') {
        if (this.versionSeen(up.version)) return wholeImage();
        // The unit restarted (power cut, reset) without finishing: its report stays pending, so
        // the retry pushes right after it and the device resumes from its record (§5.3, §5.4).
        throw this.error('NET_DOWNLOAD_FAILED', `the unit restarted mid-download (it reports ${up.version} again); it resumes from its saved offset on the next push`, { ackedBytes: acked });
      }
    }
  }

  private versionSeen(version: string): boolean {
    if (version !== this.target) return false;
    this.verdict = 'version';
    this.reportedAfter = version;
    return true;
  }

  /**
   * The device's verdict on the image. Tencent: `burning`/`done` come only after the device's
   * MD5 of the file equals the `md5sum` we pushed (§5.5) → device-md5; under the "done" policy
   * also wait for `done` → device-done. Aliyun reports no positive MD5 result: its MD5 stays
   * unconfirmed and the pass rests on the version after reboot.
   */
  async verify(signal: AbortSignal): Promise<HashView> {
    const wantDone = this.dialect === 'tencent' && this.options.successPolicy === 'done';
    let md5Checked = this.verdict === 'burning' || this.verdict === 'done';
    const settled = () => (wantDone ? this.verdict === 'done' : this.verdict !== null);
    while (!settled()) {
      const n = await this.q.next(this.options.installTimeoutMs, signal);
      if (n.kind === 'timeout') {
        if (this.dialect === 'aliyun') throw this.error('REBOOT_TIMEOUT', `the unit neither rebooted nor reported ${this.target} within ${this.options.installTimeoutMs} ms of its download`);
        throw this.error('PROTOCOL_TIMEOUT', `no ${wantDone ? 'done' : 'verdict'} within ${this.options.installTimeoutMs} ms of the download`);
      }
      const e = n.e;
      this.handleSideEvent(e);
      if (e.type === 'offline' && this.dialect === 'aliyun') this.verdict = 'rebooting';
      const up = this.uplinkOf(e);
      if (!up) continue;
      if (up.kind === 'progress' && (up.state === 'burning' || up.state === 'done')) {
        this.verdict = up.state;
        md5Checked = true;
      } else if (up.kind === 'fail') throw this.fail(mapTencentCode(up.code));
      else if (up.kind === 'step' && up.step < 0) throw this.fail(mapAliyunStep(up.step));
      else if (up.kind === 'version' && !this.versionSeen(up.version)) {
        if (!md5Checked && this.verdict === null) {
          // Restarted before it checked the image (power cut after the last byte): it resumes with `Range: bytes=SIZE-SIZE`.
          throw this.error('NET_DOWNLOAD_FAILED', `the unit restarted before checking the downloaded image (it reports ${up.version} again); it resumes on the next push`, { ackedBytes: this.size });
        }
        throw this.error('DEVICE_ERROR', `device re-reported ${up.version} instead of installing`);
      }
      if (wantDone && this.verdict === 'version') break;
    }
    this.ctx.log(`device verdict: ${this.verdict}`);
    const confirmedBy: ConfirmedBy[] = [];
    const view: HashView = { confirmedBy };
    if (md5Checked) {
      view.md5 = this.ctx.image.info.md5;
      confirmedBy.push('device-md5');
    }
    if (wantDone && this.verdict === 'done') confirmedBy.push('device-done');
    return view;
  }

  async activate(): Promise<void> {
    // Nothing to send: the device installs on its own once its MD5 check passed.
  }

  async confirm(_link: Link, signal: AbortSignal): Promise<string | undefined> {
    // Policy A: the device's `done` (verify) is final.
    if (this.dialect === 'tencent' && this.options.successPolicy === 'done') return this.reportedAfter;
    // Policy B: the unit passes only when it reports the target after rebooting (§9).
    if (this.reportedAfter !== undefined) return this.reportedAfter;
    for (;;) {
      const n = await this.q.next(this.options.rebootTimeoutMs, signal);
      if (n.kind === 'timeout') throw this.error('REBOOT_TIMEOUT', `no version report within ${this.options.rebootTimeoutMs} ms of installing`);
      // Back from its reboot but refused at CONNECT (e.g. the new image carries other credentials).
      if (n.e.type === 'auth-failed') throw this.error('NET_AUTH_FAILED', `after installing: ${n.e.reason}`, { retryable: false });
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
