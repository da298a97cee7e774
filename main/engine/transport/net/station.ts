/**
 * The station as a local IoT cloud (mqtt-ota.md §1): an embedded aedes MQTT 3.1.1 broker (plain
 * TCP plus an optional TLS-PSK listener) with per-device authentication and topic ACL, or a
 * privileged client attached to an existing broker; the firmware HTTP server; the optional DNS
 * responder; a roster of devices (presence, subscriptions, last version report) that MqttLinks
 * read. Topics and replies come from the injected CloudDialect; it never decides an upgrade.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { StationError } from '../../errors.js';
import { CredentialStore, deviceKeyOf, mayPublish, mayReceive, maySubscribe, topicMatches, verifyConnect, type Dialect, type DeviceCredential } from './auth.js';
import { DnsResponder, type DnsResponderOptions } from './dns-responder.js';
import { FirmwareServer, type ServeEvent } from './firmware-server.js';
import type { MqttLinkHost } from './mqtt-link.js';
import type { CloudDialect, NetDeviceEvent, NetRosterEntry, VersionReport } from './types.js';

/** §4.3: the cipher suites the Tencent C SDK offers in its TLS-PSK build. */
const PSK_CIPHERS = 'PSK-AES128-CBC-SHA:PSK-AES256-CBC-SHA';
/** MQTT CONNACK return code 4 (bad user name or password), §4.2. */
const CONNACK_BAD_CREDENTIALS = 4;
/** Aliyun client ids are ~130 characters (§2.2). */
const MAX_CLIENT_ID_CHARS = 256;

export interface NetStationOptions {
  /** `embedded`: run aedes here. `attach`: join an existing broker (mosquitto, EMQX) as a privileged client. */
  mode: 'embedded' | 'attach';
  /** Bind address of every listener. Never 0.0.0.0 by default (§10 item 4: the line interface only). */
  host: string;
  mqttPort: number;
  /** TLS-PSK listener for Tencent key-auth TLS builds (§4.3); null = off. */
  pskPort: number | null;
  /** Firmware HTTP port: 80 on a line (the SDKs ignore URL ports, §3 item 1); 0 = any free port. */
  httpPort: number;
  /**
   * Port written into firmware URLs: undefined = the HTTP port (omitted when 80); null = never
   * (a port forward 80 → httpPort on the line, or virtual units built for the sim port).
   */
  urlPort?: number | null;
  /** Address written into firmware URLs (the station's address on the line). Default: host. */
  urlHost?: string;
  attachUrl?: string;
  attachUsername?: string;
  attachPassword?: string;
  /** Total firmware upload rate shared fairly between downloads; 0 = unlimited. */
  bandwidthBytesPerSec: number;
  credentials: CredentialStore;
  /** Name redirection (§10 item 1), off unless given. */
  dns?: DnsResponderOptions | null;
  /** The dialect side of the cloud (protocol/mqtt-ota): topics, replies, version reports. */
  cloud: CloudDialect;
}

interface DeviceRecord {
  key: string;
  dialect: Dialect;
  product: string;
  device: string;
  online: boolean;
  client: Client | null;
  subscriptions: Set<string>;
  report?: VersionReport;
  consumedSeq: number;
  listeners: Set<(e: NetDeviceEvent) => void>;
  authFailure?: string;
  firstSeenAt: string;
  lastSeenAt: string;
  /** Connected or reported at least once (listed in the roster). */
  seen: boolean;
}

export class NetStation implements MqttLinkHost {
  private broker: Aedes | null = null;
  private tcp: net.Server | null = null;
  private psk: tls.Server | null = null;
  private attachClient: MqttClient | null = null;
  private dns: DnsResponder | null = null;
  readonly firmware: FirmwareServer;
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly byClient = new WeakMap<Client, DeviceCredential>();
  private readonly pskIdentity = new WeakMap<object, string>();
  private readonly rosterCbs = new Set<(e: NetRosterEntry) => void>();
  private readonly sockets = new Set<net.Socket>();
  private starting: Promise<void> | null = null;
  private reportSeq = 0;
  mqttPort = 0;
  pskPort = 0;
  /** Station-side log for the trace of whoever listens (CLI --verbose, tests). */
  readonly notes: string[] = [];

  constructor(readonly opts: NetStationOptions) {
    this.firmware = new FirmwareServer({ host: opts.host, port: opts.httpPort, urlHost: opts.urlHost, urlPort: opts.urlPort, bytesPerSecond: opts.bandwidthBytesPerSec });
    this.firmware.on('serve', (e: ServeEvent) => this.onServe(e));
  }

  get attached(): boolean {
    return this.opts.mode === 'attach';
  }

  get mqttUrl(): string {
    return this.attached ? this.opts.attachUrl! : `mqtt://${this.opts.host}:${this.mqttPort}`;
  }

  /** Start everything once (lazily, on the first job that needs the network). */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private note(text: string): void {
    this.notes.push(text);
    if (this.notes.length > 1000) this.notes.splice(0, 500);
  }

  private async doStart(): Promise<void> {
    await this.firmware.start();
    if (this.opts.dns) {
      this.dns = new DnsResponder(this.opts.dns);
      await this.dns.start();
    }
    if (this.attached) return this.startAttached();
    const broker = await Aedes.createBroker({
      maxClientsIdLength: MAX_CLIENT_ID_CHARS,
      heartbeatInterval: 60_000,
      drainTimeout: 10_000,
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, cb) => {
        if (!client) return cb(null); // the station's own publishes
        const cred = this.byClient.get(client);
        const d = cred ? mayPublish(cred, packet.topic) : { ok: false as const, reason: 'unauthenticated' };
        if (!d.ok) this.note(`ACL: refused publish by ${client.id}: ${d.reason}`);
        cb(d.ok ? null : new Error(d.reason));
      },
      authorizeSubscribe: (client, sub, cb) => {
        const cred = this.byClient.get(client);
        const d = cred ? maySubscribe(cred, sub.topic) : { ok: false as const, reason: 'unauthenticated' };
        if (!d.ok) this.note(`ACL: refused subscribe by ${client.id}: ${d.reason}`);
        // A null subscription is answered with SUBACK 0x80 (failure) for that filter only.
        cb(null, d.ok ? sub : null);
      },
      authorizeForward: (client, packet) => {
        const cred = this.byClient.get(client);
        return cred && mayReceive(cred, packet.topic) ? packet : null;
      },
    });
    broker.on('clientReady', (client) => {
      const cred = this.byClient.get(client);
      if (!cred) return;
      const rec = this.record(cred.dialect, cred.product, cred.device);
      rec.client = client;
      rec.online = true;
      rec.subscriptions.clear();
      rec.authFailure = undefined;
      this.touch(rec);
      this.emitTo(rec, { type: 'online', clientId: client.id });
    });
    broker.on('clientDisconnect', (client) => {
      const cred = this.byClient.get(client);
      if (!cred) return;
      const rec = this.record(cred.dialect, cred.product, cred.device);
      if (rec.client !== client) return; // an older session of a device that already reconnected
      rec.client = null;
      rec.online = false;
      rec.subscriptions.clear();
      this.touch(rec);
      this.emitTo(rec, { type: 'offline' });
    });
    broker.on('subscribe', (subs, client) => {
      const cred = this.byClient.get(client);
      if (!cred) return;
      const rec = this.record(cred.dialect, cred.product, cred.device);
      const filters = subs.map((s) => s.topic);
      for (const f of filters) rec.subscriptions.add(f);
      this.emitTo(rec, { type: 'subscribed', filters });
    });
    broker.on('unsubscribe', (filters, client) => {
      const cred = this.byClient.get(client);
      if (!cred) return;
      const rec = this.record(cred.dialect, cred.product, cred.device);
      for (const f of filters) rec.subscriptions.delete(f);
    });
    broker.on('publish', (packet, client) => {
      if (!client) return;
      const cred = this.byClient.get(client);
      if (!cred) return;
      this.onUplink(this.record(cred.dialect, cred.product, cred.device), packet.topic, packet.payload.toString());
    });
    this.broker = broker;
    this.tcp = net.createServer((sock) => this.accept(sock));
    this.mqttPort = await listen(this.tcp, this.opts.mqttPort, this.opts.host);
    if (this.opts.pskPort !== null) {
      this.psk = tls.createServer(
        {
          ciphers: PSK_CIPHERS,
          maxVersion: 'TLSv1.2',
          // §4.3: identity = {pid}{dn}, key = base64-decoded device secret; a fast lookup in the handshake.
          pskCallback: (socket, identity) => {
            const cred = this.opts.credentials.byTencentClientId(identity);
            if (!cred) {
              this.note(`TLS-PSK: unknown identity ${identity}`);
              return null;
            }
            this.pskIdentity.set(socket, identity);
            return Buffer.from(cred.secret, 'base64');
          },
        },
        (sock) => this.accept(sock),
      );
      this.psk.on('tlsClientError', (err, socket) => {
        const identity = this.pskIdentity.get(socket);
        this.note(`TLS-PSK handshake failed${identity ? ` under identity ${identity}` : ''}: ${err.message}`);
        const cred = identity ? this.opts.credentials.byTencentClientId(identity) : undefined;
        // A known identity whose handshake fails has the wrong key (vendor-behaviour.md): fail it now.
        if (cred) this.authFailed(this.record(cred.dialect, cred.product, cred.device), `TLS-PSK handshake failed under identity ${identity} (wrong key?): ${err.message}`);
      });
      this.pskPort = await listen(this.psk, this.opts.pskPort, this.opts.host);
    }
  }

  private accept(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    this.broker!.handle(sock);
  }

  private authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (e: AuthenticateError | null, ok: boolean | null) => void): void {
    const identity = this.pskIdentity.get(client.conn as object);
    const v = verifyConnect(this.opts.credentials, client.id, username, password?.toString('utf8'), identity);
    if (!v.ok) {
      this.note(`CONNECT refused for ${client.id}: ${v.reason}`);
      if (v.credential) this.authFailed(this.record(v.credential.dialect, v.credential.product, v.credential.device), `CONNECT refused (CONNACK 4): ${v.reason}`);
      const e = new Error(v.reason) as AuthenticateError;
      e.returnCode = CONNACK_BAD_CREDENTIALS;
      return done(e, null);
    }
    if (v.note) this.note(`${client.id}: ${v.note}`);
    this.byClient.set(client, v.credential);
    done(null, true);
  }

  private async startAttached(): Promise<void> {
    const url = this.opts.attachUrl;
    if (!url) throw new StationError('CONFIG_INVALID', 'attach mode needs attachUrl (e.g. mqtt://127.0.0.1:1883)');
    const client = mqtt.connect(url, {
      clientId: `flashline-station-${process.pid}-${Date.now().toString(36)}`,
      username: this.opts.attachUsername,
      password: this.opts.attachPassword,
      clean: true,
      reconnectPeriod: 1000,
      protocolVersion: 4,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (e) => reject(new StationError('CONFIG_INVALID', `cannot attach to ${url}: ${e.message}`)));
    });
    const granted = await client.subscribeAsync([...this.opts.cloud.attachFilters], { qos: 1 });
    const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length) throw new StationError('CONFIG_INVALID', `the broker refused the station's subscriptions ${refused.join(', ')}: give the station's broker user read access to them`);
    client.on('message', (topic, payload) => {
      const who = this.opts.cloud.deviceOfTopic(topic);
      if (!who) return;
      const rec = this.record(who.dialect, who.product, who.device);
      // Attached, the station sees no CONNECT/SUBSCRIBE: a device that talks is online.
      if (!rec.online) {
        rec.online = true;
        this.touch(rec);
        this.emitTo(rec, { type: 'online', clientId: '' });
      }
      this.onUplink(rec, topic, payload.toString());
    });
    this.attachClient = client;
  }

  private record(dialect: Dialect, product: string, device: string): DeviceRecord {
    const key = deviceKeyOf({ dialect, product, device });
    let r = this.devices.get(key);
    if (!r) {
      const now = new Date().toISOString();
      r = { key, dialect, product, device, online: false, client: null, subscriptions: new Set(), consumedSeq: 0, listeners: new Set(), firstSeenAt: now, lastSeenAt: now, seen: false };
      this.devices.set(key, r);
    }
    return r;
  }

  recordFor(dialect: Dialect, product: string, device: string): { online: boolean; authFailure?: string } {
    const r = this.record(dialect, product, device);
    return { online: r.online, authFailure: r.authFailure };
  }

  private emitTo(rec: DeviceRecord, e: NetDeviceEvent): void {
    for (const cb of [...rec.listeners]) cb(e);
  }

  /** The cloud's always-on part: remember version reports, send the dialect's answers. */
  private onUplink(rec: DeviceRecord, topic: string, payload: string): void {
    const action = this.opts.cloud.onUplink(rec, topic, payload, rec.listeners.size > 0);
    if (action.report) rec.report = { seq: ++this.reportSeq, ...action.report, atMs: performance.now() };
    for (const r of action.replies) void this.deliver(rec.key, r.topic, r.payload).catch(() => undefined);
    this.touch(rec);
    this.emitTo(rec, { type: 'uplink', topic, payload });
  }

  private authFailed(rec: DeviceRecord, reason: string): void {
    rec.authFailure = reason;
    this.touch(rec);
    this.emitTo(rec, { type: 'auth-failed', reason });
  }

  /** The device showed up: roster bookkeeping and listeners. */
  private touch(rec: DeviceRecord): void {
    rec.seen = true;
    rec.lastSeenAt = new Date().toISOString();
    if (this.rosterCbs.size) {
      const e = this.rosterEntry(rec);
      for (const cb of this.rosterCbs) cb(e);
    }
  }

  private rosterEntry(r: DeviceRecord): NetRosterEntry {
    const reportedAt = r.report ? new Date(Date.now() - (performance.now() - r.report.atMs)).toISOString() : undefined;
    return { dialect: r.dialect, product: r.product, device: r.device, online: r.online, version: r.report?.version, reportedAt, firstSeenAt: r.firstSeenAt, lastSeenAt: r.lastSeenAt, authFailure: r.authFailure };
  }

  /** Units that connected, reported or were refused since the cloud started. */
  roster(): NetRosterEntry[] {
    return [...this.devices.values()].filter((r) => r.seen).map((r) => this.rosterEntry(r));
  }

  /** Roster changes as they happen (the `cloud` command's output). */
  onRoster(cb: (e: NetRosterEntry) => void): () => void {
    this.rosterCbs.add(cb);
    return () => this.rosterCbs.delete(cb);
  }

  private onServe(e: ServeEvent): void {
    const [d, product, device] = e.deviceTag.split('~');
    if (!product || !device) return;
    const rec = this.record(d === 't' ? 'tencent' : 'aliyun', product, device);
    if (e.type === 'request') this.emitTo(rec, { type: 'http-request', status: e.status, start: e.start, endExclusive: e.endExclusive, size: e.size, range: e.range });
    else if (e.type === 'progress') this.emitTo(rec, { type: 'http-progress', sentTo: e.sentTo, size: e.size });
    else this.emitTo(rec, { type: 'http-end', sentTo: e.sentTo, size: e.size, complete: e.complete });
  }

  // ---- MqttLinkHost --------------------------------------------------------------------

  /** Down-links go straight to the device's session (§2.5), not through topic routing. */
  async deliver(key: string, topic: string, payload: string): Promise<void> {
    const rec = this.devices.get(key);
    if (this.attachClient) {
      await this.attachClient.publishAsync(topic, payload, { qos: 1 });
      return;
    }
    const client = rec?.client;
    if (!client) throw new StationError('NET_DEVICE_OFFLINE', `${key} is not connected`);
    await new Promise<void>((resolve, reject) => {
      client.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  isOnline(key: string): boolean {
    return this.devices.get(key)?.online ?? false;
  }

  isSubscribedTo(key: string, topic: string): boolean {
    if (this.attached) return true; // not visible from a client: the session applies its attach delay
    const rec = this.devices.get(key);
    return !!rec && [...rec.subscriptions].some((f) => topicMatches(f, topic));
  }

  pendingReport(key: string): VersionReport | undefined {
    const rec = this.devices.get(key);
    return rec?.report && rec.report.seq > rec.consumedSeq ? rec.report : undefined;
  }

  lastReport(key: string): VersionReport | undefined {
    return this.devices.get(key)?.report;
  }

  consumeReport(key: string, seq: number): void {
    const rec = this.devices.get(key);
    if (rec) rec.consumedSeq = Math.max(rec.consumedSeq, seq);
  }

  offerFirmware(key: string, file: { version: string; bytes: Uint8Array; md5: string }, ttlMs: number): string {
    const rec = this.devices.get(key);
    if (!rec) throw new StationError('INTERNAL', `unknown device ${key}`);
    const fileId = this.firmware.register(file);
    return this.firmware.urlFor(fileId, deviceTagOf(rec.dialect, rec.product, rec.device), ttlMs);
  }

  abortDownloads(key: string): void {
    const rec = this.devices.get(key);
    if (rec) this.firmware.abortDevice(deviceTagOf(rec.dialect, rec.product, rec.device));
  }

  subscribe(key: string, cb: (e: NetDeviceEvent) => void): () => void {
    const [dialect, rest] = key.split(':') as [Dialect, string];
    const slash = rest.indexOf('/');
    const rec = this.record(dialect, rest.slice(0, slash), rest.slice(slash + 1));
    rec.listeners.add(cb);
    return () => rec.listeners.delete(cb);
  }

  get dnsPort(): number {
    return this.dns?.port ?? 0;
  }

  get running(): boolean {
    return this.starting !== null;
  }

  async stop(): Promise<void> {
    const started = this.starting;
    this.starting = null;
    if (started) await started.catch(() => undefined);
    await this.dns?.stop();
    this.dns = null;
    if (this.attachClient) await this.attachClient.endAsync(true).catch(() => undefined);
    this.attachClient = null;
    for (const s of this.sockets) s.destroy();
    if (this.tcp) await new Promise<void>((r) => this.tcp!.close(() => r()));
    if (this.psk) await new Promise<void>((r) => this.psk!.close(() => r()));
    this.tcp = null;
    this.psk = null;
    if (this.broker) await new Promise<void>((r) => this.broker!.close(() => r()));
    this.broker = null;
    await this.firmware.stop();
    this.rosterCbs.clear();
  }
}

/** The device's name inside firmware URLs: `t~PID~DN` / `a~PK~DN`. */
export function deviceTagOf(dialect: Dialect, product: string, device: string): string {
  return `${dialect === 'tencent' ? 't' : 'a'}~${product}~${device}`;
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
