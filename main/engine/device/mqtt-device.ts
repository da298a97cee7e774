/**
 * A virtual networked unit that behaves like a product built on the Tencent IoT Hub C SDK (3.x) or
 * Aliyun iotkit v3 (mqtt-ota.md §4–§8, vendor-behaviour.md): a real mqtt.js client (plain or
 * TLS-PSK) that signs its CONNECT, reports its version, downloads with real HTTP Range requests
 * from the port its HTTP client is built for, keeps a persistent resume record, checks MD5,
 * reports progress/fail codes, "reboots" into the image's version (or the announced one when the
 * image carries no descriptor) and reports it. Device profiles reproduce the vendors' samples
 * (`tencent-sample`, `aliyun-example`); fault knobs are device faults, never station behaviour.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import mqtt, { type MqttClient } from 'mqtt';
import { aliyunClientId, aliyunPassword, tencentClientId, tencentPassword, tencentUsername, type Dialect, type TencentSignMethod } from '../transport/net/auth.js';
import { topics } from '../protocol/mqtt-ota/messages.js';
import { findAppVersion, UNKNOWN_VERSION } from './app-descriptor.js';
import type { DeviceMemory } from './device-memory.js';

/** The Tencent sample reports download progress about once per second (§5.2b). */
const DEFAULT_PROGRESS_INTERVAL_MS = 1000;
/** The sample re-reports its version ~2–4 s after a failure (§5.4); the sim is faster. */
const DEFAULT_REPORT_AFTER_FAIL_MS = 300;
const DEFAULT_BOOT_MS = 200;
/** The resume record is kept per flash page: a device resumes from whole pages it stored. */
const DEFAULT_RESUME_GRANULE_BYTES = 4096;
/** §4.2: the C SDK's "never expires" value on 64-bit builds. */
const NEVER_EXPIRES = '9223372036854775807';
const COUNTER_CUTS = 'mqtt.cuts';
const COUNTER_CORRUPTIONS = 'mqtt.corruptions';

export interface MqttDeviceFaults {
  /** Drop the download connection once this many bytes of the image are stored (first `cutTimes` attempts). */
  cutAtBytes?: number;
  /** Same as cutAtBytes, as a fraction of the pushed image's size. */
  cutFraction?: number;
  cutTimes?: number;
  /** Flip a bit of the byte at this offset as it is stored (every attempt, or the first `corruptTimes`). */
  corruptByteAt?: number;
  corruptTimes?: number;
  /** Sign CONNECT with a wrong secret (the broker must refuse it). */
  wrongSecret?: boolean;
  /** Never come back after the reboot. */
  rebootNever?: boolean;
  /** Delay between `burning` and the reboot (slow flash). */
  burnMs?: number;
  /** Lose power once this many bytes are stored (first `powerCutTimes` attempts): no report, links drop. */
  powerCutAtBytes?: number;
  /** Same as powerCutAtBytes, as a fraction of the pushed image's size (1 = after the last byte, before the MD5 check). */
  powerCutFraction?: number;
  powerCutTimes?: number;
  /** Power comes back this long after a cut (then the unit boots, connects and reports as at power-on). */
  powerOffMs?: number;
  /** TLS-PSK build: handshake with a wrong key (the station must fail the unit at once). */
  pskWrongKey?: boolean;
  /** Stop reading the download (connection kept open, no more reports) once this many bytes are stored. */
  stallAtBytes?: number;
}

/**
 * What the unit's application does around the SDK (vendor-behaviour.md):
 * - `product`: a real product — reports its version at connect and after a failure, flashes,
 *   reboots and reports the new version (Tencent: then `done`).
 * - `tencent-sample`: `ota_mqtt_sample` — reports once, downloads, checks MD5, reports `done` and
 *   exits without rebooting: it never reports the new version.
 * - `aliyun-example`: iotkit 3.0.1 `ota-example-mqtt` — informs once, downloads, checks MD5,
 *   reports step 100 and stops (disconnects): no version report follows.
 */
export type MqttDeviceProfile = 'product' | 'tencent-sample' | 'aliyun-example';

export interface MqttDeviceOptions {
  dialect: Dialect;
  product: string;
  device: string;
  secret: string;
  brokerUrl: string;
  memory: DeviceMemory;
  /**
   * The port the unit's HTTP client is built for. Given: SDK behaviour — it always connects there
   * and a URL carrying a port fails (the C SDK passes "host:port" to getaddrinfo, §3.1). Absent:
   * the unit honours the URL's port (Aliyun 4.x-like; tests on free ports).
   */
  httpPort?: number;
  /** Connect over TLS-PSK to this port instead of plain MQTT (Tencent key-auth TLS build, §4.3). */
  pskPort?: number;
  profile?: MqttDeviceProfile;
  tencentSignMethod?: TencentSignMethod;
  faults?: MqttDeviceFaults;
  progressIntervalMs?: number;
  reportAfterFailMs?: number;
  bootMs?: number;
  resumeGranuleBytes?: number;
  /** Aliyun: v3 never sends Range (§8.4); `4x` resumes in-task with `bytes=N-`. */
  aliyunSdk?: 'v3' | '4x';
}

interface PushOrder {
  version: string;
  url: string;
  md5: string;
  size: number;
}

type DeviceState = 'off' | 'connecting' | 'idle' | 'downloading' | 'burning' | 'rebooting' | 'refused' | 'exited';
const COUNTER_POWER_CUTS = 'mqtt.powerCuts';
/** A power cut lasts this long by default (then the unit boots as at power-on). */
const DEFAULT_POWER_OFF_MS = 300;

type DownloadResult = { kind: 'ok' } | { kind: 'fail'; codes: number[] } | { kind: 'power-cut' };

export class MqttVirtualDevice {
  private client: MqttClient | null = null;
  private state: DeviceState = 'off';
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private req: http.ClientRequest | null = null;
  private stopped = false;
  private msgId = 100;
  /** CONNACK return codes the broker answered (tests read the refusal). */
  readonly connackCodes: number[] = [];
  /** What the rogue probes saw (tests). */
  readonly received: { topic: string; payload: string; atMs: number }[] = [];
  /** When each version report left (benchmarks pair it with the station's answer). */
  readonly reportedAtMs: number[] = [];
  readonly log: string[] = [];

  constructor(readonly opts: MqttDeviceOptions) {}

  get memory(): DeviceMemory {
    return this.opts.memory;
  }
  get version(): string {
    return this.opts.memory.state.version;
  }
  get deviceState(): DeviceState {
    return this.state;
  }
  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  private get pid(): string {
    return this.opts.product;
  }
  private get dn(): string {
    return this.opts.device;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  /** Power on: connect, subscribe, report (order per SDK, §9 P2). Resolves at CONNACK (or refusal). */
  async start(): Promise<void> {
    this.stopped = false;
    this.memory.boot();
    await this.connect();
  }

  private get profile(): MqttDeviceProfile {
    return this.opts.profile ?? 'product';
  }

  private connectOptions(): mqtt.IClientOptions {
    const secret = this.opts.faults?.wrongSecret ? wrongSecretOf(this.opts.dialect, this.opts.secret) : this.opts.secret;
    if (this.opts.dialect === 'tencent') {
      const username = tencentUsername(this.pid, this.dn, crypto.randomBytes(4).toString('base64url').slice(0, 5), NEVER_EXPIRES);
      const base = { clientId: tencentClientId(this.pid, this.dn), username, clean: true, keepalive: 240 };
      if (this.opts.pskPort !== undefined) {
        // §4.3: identity {pid}{dn}, key = the decoded secret; CONNECT carries no password.
        const key = this.opts.faults?.pskWrongKey ? Buffer.from(wrongSecretOf('tencent', this.opts.secret), 'base64') : Buffer.from(secret, 'base64');
        const url = new URL(this.opts.brokerUrl);
        return {
          ...base,
          protocol: 'mqtts',
          host: url.hostname,
          port: this.opts.pskPort,
          ciphers: 'PSK-AES128-CBC-SHA:PSK-AES256-CBC-SHA',
          maxVersion: 'TLSv1.2',
          checkServerIdentity: () => undefined,
          pskCallback: () => ({ identity: tencentClientId(this.pid, this.dn), psk: key }),
        } as mqtt.IClientOptions;
      }
      return { ...base, password: tencentPassword(username, secret, this.opts.tencentSignMethod ?? 'hmacsha1') };
    }
    const clientId = aliyunClientId(this.pid, this.dn);
    return { clientId, username: `${this.dn}&${this.pid}`, password: aliyunPassword(clientId, this.pid, this.dn, secret), clean: false, keepalive: 120 };
  }

  private connect(): Promise<void> {
    this.state = 'connecting';
    const o = this.connectOptions();
    const client = o.protocol === 'mqtts' ? mqtt.connect({ ...o, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 }) : mqtt.connect(this.opts.brokerUrl, { ...o, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload.toString()));
    client.on('error', () => undefined);
    return new Promise<void>((resolve) => {
      client.once('connect', (connack) => {
        this.connackCodes.push(connack.returnCode ?? 0);
        this.state = 'idle';
        void this.afterConnect().then(resolve, resolve);
      });
      client.once('error', (err: Error & { code?: number | string }) => {
        // mqtt.js reports a refused CONNACK as an error carrying the return code. Like the SDK
        // samples, the unit gives up (it exits) after a refused or failed first connect.
        if (typeof err.code === 'number') this.connackCodes.push(err.code);
        this.state = 'refused';
        this.log.push(`connect refused: ${err.message}`);
        client.end(true);
        resolve();
      });
      client.once('close', () => {
        if (this.state === 'connecting') this.state = 'refused';
        resolve();
      });
    });
  }

  private async afterConnect(): Promise<void> {
    const c = this.client!;
    if (this.opts.dialect === 'tencent') {
      // The OTA module subscribes first (it waits ~2 s for the SUBACK, §2.4), then reports.
      await c.subscribeAsync(topics.tencentUpdate(this.pid, this.dn), { qos: 1 });
      this.reportVersion();
    } else {
      // v3 publishes deviceinfo and the version *before* subscribing (§8.2, trace aliyun-full).
      await c.publishAsync(`/sys/${this.pid}/${this.dn}/thing/deviceinfo/update`, JSON.stringify({ id: '1', version: '1.0', params: [{ attrKey: 'SYS_SDK_LANGUAGE', attrValue: 'C', domain: 'SYSTEM' }], method: 'thing.deviceinfo.update' }), { qos: 0 });
      this.reportVersion();
      await c.subscribeAsync(
        {
          [topics.aliyunRequest(this.pid, this.dn)]: { qos: 1 },
          [topics.aliyunUpgrade(this.pid, this.dn)]: { qos: 1 },
          [`/sys/${this.pid}/${this.dn}/thing/config/get_reply`]: { qos: 0 },
          [`/sys/${this.pid}/${this.dn}/thing/config/push`]: { qos: 0 },
        },
      );
    }
  }

  private reportVersion(): void {
    const c = this.client;
    if (this.state === 'exited') return;
    if (!c?.connected) return;
    this.reportedAtMs.push(performance.now());
    if (this.opts.dialect === 'tencent') {
      void c.publishAsync(topics.tencentReport(this.pid, this.dn), JSON.stringify({ type: 'report_version', report: { version: this.version } }), { qos: 1 }).catch(() => undefined);
    } else {
      void c.publishAsync(topics.aliyunInform(this.pid, this.dn), JSON.stringify({ id: String(this.msgId++), params: { version: this.version } }), { qos: 1 }).catch(() => undefined);
    }
  }

  private progress(state: 'downloading' | 'burning' | 'done' | 'fail', version: string, percent?: number, code?: number): void {
    const c = this.client;
    if (!c?.connected) return;
    if (this.opts.dialect === 'tencent') {
      const progress: Record<string, string> = { state, result_code: String(code ?? 0), result_msg: code ? 'time_out' : '' };
      if (state === 'downloading') progress.percent = String(percent ?? 0);
      // §5.1: downloading is QoS 0, the rest QoS 1.
      void c.publishAsync(topics.tencentReport(this.pid, this.dn), JSON.stringify({ type: 'report_progress', report: { progress, version } }), { qos: state === 'downloading' ? 0 : 1 }).catch(() => undefined);
    } else {
      const step = state === 'fail' ? code ?? -1 : state === 'downloading' ? percent ?? 0 : 100;
      const desc = step === 0 ? 'Enter in downloading state' : '';
      void c.publishAsync(topics.aliyunProgress(this.pid, this.dn), JSON.stringify({ id: this.msgId++, params: { step: String(step), desc } }), { qos: 0 }).catch(() => undefined);
    }
  }

  private onMessage(topic: string, payload: string): void {
    this.received.push({ topic, payload, atMs: performance.now() });
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(payload) as Record<string, unknown>;
    } catch {
      return;
    }
    let order: PushOrder | null = null;
    if (this.opts.dialect === 'tencent' && topic === topics.tencentUpdate(this.pid, this.dn) && o.type === 'update_firmware') {
      order = { version: String(o.version), url: String(o.url), md5: String(o.md5sum), size: Number(o.file_size) };
    }
    if (this.opts.dialect === 'aliyun' && (topic === topics.aliyunUpgrade(this.pid, this.dn) || topic.endsWith('/firmware/get_reply'))) {
      const d = (o.data ?? {}) as Record<string, unknown>;
      // v3 acts only when message is exactly "success" and a url is present (§8.3).
      if ((o.message === 'success' || topic.endsWith('get_reply')) && typeof d.url === 'string') {
        order = { version: String(d.version), url: d.url, md5: String(d.md5 ?? d.sign), size: Number(d.size) };
      }
    }
    if (!order) return;
    // §5.3: once a push is accepted, further pushes are ignored until the OTA layer resets.
    if (this.state !== 'idle') return;
    void this.runOta(order);
  }

  private async runOta(order: PushOrder): Promise<void> {
    this.state = 'downloading';
    const mem = this.memory;
    const rec = mem.state.resume;
    // §5.4: resume only when the record's version equals the pushed one; else start over.
    let offset = 0;
    const rangeCapable = this.opts.dialect === 'tencent' || this.opts.aliyunSdk === '4x';
    if (rangeCapable && rec && rec.version === order.version && rec.size === order.size && rec.offset <= order.size) {
      offset = rec.offset;
    } else {
      mem.eraseStaging(order.size);
      mem.setResume({ offset: 0, size: order.size, crc32: '', version: order.version });
    }
    this.log.push(`push ${order.version} from ${offset}`);
    const result = await this.download(order, offset, rangeCapable);
    if (this.stopped) return;
    if (result.kind === 'power-cut') return this.powerCut();
    if (result.kind === 'fail') return this.fail(order, result.codes);
    // §5.5: MD5 over the whole staged image (the saved prefix is re-hashed).
    const image = mem.readStaging(order.size);
    const md5 = crypto.createHash('md5').update(image).digest('hex');
    if (md5 !== order.md5) {
      mem.setResume(null);
      return this.fail(order, this.opts.dialect === 'tencent' ? [-4] : [-3]);
    }
    if (this.profile === 'tencent-sample' && this.opts.dialect === 'tencent') {
      // ota_mqtt_sample: `done` right after the MD5 check, then the program exits (no reboot).
      mem.setResume(null);
      this.progress('done', order.version);
      return this.exit('done reported; the sample exits without rebooting');
    }
    if (this.profile === 'aliyun-example' && this.opts.dialect === 'aliyun') {
      // ota-example-mqtt: step 100 after the MD5 check, then the example stops.
      mem.setResume(null);
      this.progress('downloading', order.version, 100);
      return this.exit('download verified; the example stops without a version report');
    }
    if (this.opts.dialect === 'tencent') this.progress('burning', order.version);
    else this.progress('downloading', order.version, 100);
    this.state = 'burning';
    this.later(this.opts.faults?.burnMs ?? 0, () => this.reboot(order, image));
  }

  /** The program ends: its MQTT connection closes and nothing more comes from this unit. */
  private exit(why: string): void {
    this.log.push(why);
    this.state = 'exited';
    const c = this.client;
    this.client = null;
    // Let the last QoS 1 report leave before the socket closes.
    if (c) void c.endAsync(false).catch(() => undefined);
  }

  private powerCutAt(order: PushOrder): number | undefined {
    const f = this.opts.faults ?? {};
    return f.powerCutAtBytes ?? (f.powerCutFraction !== undefined ? Math.floor(order.size * f.powerCutFraction) : undefined);
  }

  private powerCutArmed(order: PushOrder, stored: number): boolean {
    const at = this.powerCutAt(order);
    return at !== undefined && stored >= at && (this.memory.state.counters[COUNTER_POWER_CUTS] ?? 0) < (this.opts.faults?.powerCutTimes ?? 1);
  }

  /** Power lost: links drop without a word; the resume record survives; power returns later. */
  private powerCut(): void {
    this.memory.bump(COUNTER_POWER_CUTS);
    this.log.push(`power cut with ${this.memory.state.resume?.offset ?? 0} bytes saved`);
    this.req?.destroy();
    this.req = null;
    const c = this.client;
    this.client = null;
    this.state = 'off';
    // An abrupt close: no DISCONNECT packet, the broker sees the socket die.
    (c as unknown as { stream?: { destroy(): void } } | null)?.stream?.destroy();
    c?.end(true);
    this.later(this.opts.faults?.powerOffMs ?? DEFAULT_POWER_OFF_MS, () => void this.start());
  }

  private reboot(order: PushOrder, image: Uint8Array): void {
    // Real firmware carries no Flashline descriptor: the unit then boots the version it was told.
    const described = findAppVersion(image);
    const booted = described === UNKNOWN_VERSION ? order.version : described;
    this.memory.install(booted);
    this.state = 'rebooting';
    this.log.push(`reboot into ${booted}`);
    const c = this.client;
    this.client = null;
    c?.end(true);
    if (this.opts.faults?.rebootNever) return;
    this.later(this.opts.bootMs ?? DEFAULT_BOOT_MS, () => {
      this.memory.boot();
      void this.connect().then(() => {
        // Real products report the new version after the reboot, then `done` (§5.2).
        if (this.opts.dialect === 'tencent' && this.client?.connected) this.progress('done', order.version);
      });
    });
  }

  private fail(order: PushOrder, codes: number[]): void {
    // §5.2: a specific code (−2/−3) is followed by the application's generic −5.
    for (const code of codes) this.progress('fail', order.version, undefined, code);
    this.state = 'idle';
    this.later(this.opts.reportAfterFailMs ?? DEFAULT_REPORT_AFTER_FAIL_MS, () => this.reportVersion());
  }

  private download(order: PushOrder, from: number, withRange: boolean): Promise<DownloadResult> {
    const url = new URL(order.url);
    const errCodes = this.opts.dialect === 'tencent' ? [-5] : [-2];
    // The SDKs' HTTP clients connect to the port they are built for and take everything after
    // "http://" up to the path as the host: "host:8080" fails its name lookup (vendor-behaviour.md).
    if (this.opts.httpPort !== undefined && url.port !== '') {
      this.log.push(`getaddrinfo("${url.host}") failed: the URL carries a port`);
      return Promise.resolve({ kind: 'fail', codes: errCodes });
    }
    const port = this.opts.httpPort ?? Number(url.port || 80);
    const headers: Record<string, string> = { Accept: 'text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8' };
    if (withRange) {
      // §3.5: Tencent sends the file *size* as the end (one past the last index); 4.x sends an open end.
      headers.Range = this.opts.dialect === 'tencent' ? `bytes=${from}-${order.size}` : `bytes=${from}-`;
    }
    const faults = this.opts.faults ?? {};
    const mem = this.memory;
    const granule = this.opts.resumeGranuleBytes ?? DEFAULT_RESUME_GRANULE_BYTES;
    const cutAt = faults.cutAtBytes ?? (faults.cutFraction !== undefined ? Math.floor(order.size * faults.cutFraction) : undefined);
    const cutArmed = cutAt !== undefined && (mem.state.counters[COUNTER_CUTS] ?? 0) < (faults.cutTimes ?? 1);
    const powerAt = this.powerCutAt(order);
    const powerArmed = powerAt !== undefined && this.powerCutArmed(order, powerAt);
    const corruptArmed = faults.corruptByteAt !== undefined && (faults.corruptTimes === undefined || (mem.state.counters[COUNTER_CORRUPTIONS] ?? 0) < faults.corruptTimes);
    return new Promise((resolve) => {
      let stored = from;
      let settled = false;
      let lastProgress = 0;
      const done = (r: DownloadResult) => {
        if (settled) return;
        settled = true;
        this.req = null;
        resolve(r);
      };
      const req = http.get({ host: url.hostname, port, path: url.pathname + url.search, headers, agent: false }, (res) => {
        // §3.6: Tencent maps 404 → −2, 403 → −3 (then the application's −5); other statuses are data.
        if (this.opts.dialect === 'tencent' && (res.statusCode === 404 || res.statusCode === 403)) {
          res.resume();
          return done({ kind: 'fail', codes: [res.statusCode === 404 ? -2 : -3, -5] });
        }
        if (this.opts.dialect === 'aliyun' && res.statusCode !== 200 && res.statusCode !== 206) {
          res.resume();
          return done({ kind: 'fail', codes: [-2] });
        }
        const percent = () => Math.floor((stored * 100) / Math.max(1, order.size));
        // §5.2: with nothing left to fetch (Range SIZE-SIZE) the sample reports no `downloading`.
        if (from < order.size) this.progress('downloading', order.version, percent());
        lastProgress = performance.now();
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          let data = new Uint8Array(chunk.buffer, chunk.byteOffset, Math.min(chunk.length, order.size - stored));
          const stopAt = powerArmed ? powerAt : cutArmed ? cutAt : faults.stallAtBytes;
          if (stopAt !== undefined && stored + data.length >= stopAt) {
            data = data.subarray(0, Math.max(0, stopAt - stored));
          }
          if (corruptArmed && faults.corruptByteAt! >= stored && faults.corruptByteAt! < stored + data.length) {
            data = data.slice();
            data[faults.corruptByteAt! - stored]! ^= 0x01;
            mem.bump(COUNTER_CORRUPTIONS);
          }
          mem.writeStaging(stored, data);
          stored += data.length;
          // The record holds whole pages only (the sample drops its partial read, §5.4); a
          // finished file is recorded whole, so a later resume asks `bytes=SIZE-SIZE`.
          const saved = stored >= order.size ? order.size : Math.floor(stored / granule) * granule;
          mem.setResume({ offset: saved, size: order.size, crc32: '', version: order.version });
          if (faults.stallAtBytes !== undefined && stored >= faults.stallAtBytes) {
            // A hung application: the socket stays open, nothing more is read or reported.
            this.log.push(`stalled at ${stored}`);
            res.pause();
            settled = true;
            return;
          }
          if (powerArmed && stored >= powerAt!) {
            req.destroy();
            return done({ kind: 'power-cut' });
          }
          if (cutArmed && stored >= cutAt!) {
            mem.bump(COUNTER_CUTS);
            this.log.push(`cut at ${stored}`);
            req.destroy();
            return done({ kind: 'fail', codes: errCodes });
          }
          if (performance.now() - lastProgress >= (this.opts.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS)) {
            lastProgress = performance.now();
            this.progress('downloading', order.version, percent());
          }
          if (stored >= order.size) {
            res.destroy();
            this.progress('downloading', order.version, 100);
            done({ kind: 'ok' });
          }
        });
        res.on('end', () => {
          if (stored >= order.size) {
            if (from < order.size) this.progress('downloading', order.version, 100);
            return done({ kind: 'ok' });
          }
          done({ kind: 'fail', codes: errCodes });
        });
        res.on('error', () => done({ kind: 'fail', codes: errCodes }));
      });
      req.on('error', () => done({ kind: 'fail', codes: errCodes }));
      this.req = req;
    });
  }

  // ---- rogue probes (ACL tests) ---------------------------------------------------------

  /** Try to subscribe to another topic; returns the granted QoS (128 = refused). */
  async probeSubscribe(filter: string): Promise<number> {
    try {
      const g = await this.client!.subscribeAsync(filter, { qos: 1 });
      return g[0]?.qos ?? 128;
    } catch (e) {
      // mqtt.js rejects a SUBACK carrying 0x80 (failure) with ErrorWithSubackPacket.
      if ((e as Error).name === 'ErrorWithSubackPacket' || /Subscribe error/.test((e as Error).message)) return 128;
      throw e;
    }
  }

  /** Try to publish on another topic; resolves whether the connection survived. */
  async probePublish(topic: string, payload: string): Promise<boolean> {
    const c = this.client!;
    // A refused publish closes the connection, so its PUBACK may never come: do not wait on it.
    c.publish(topic, payload, { qos: 1 }, () => undefined);
    await new Promise((r) => setTimeout(r, 300));
    return c.connected;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.req?.destroy();
    const c = this.client;
    this.client = null;
    this.state = 'off';
    if (c) await c.endAsync(true).catch(() => undefined);
  }
}

/** A secret that differs from the real one but has the right shape. */
function wrongSecretOf(dialect: Dialect, secret: string): string {
  if (dialect === 'tencent') {
    const b = Buffer.from(secret, 'base64');
    b[0] = (b[0] ?? 0) ^ 0xff;
    return b.toString('base64');
  }
  return secret.split('').reverse().join('') + 'x';
}
