/**
 * The MqttLink (STYLE.md §2 "mqtt-ota gets an MqttLink"): one networked unit as the station sees
 * it — its uplink messages, presence and subscriptions, down-link publishes delivered straight
 * to its session, and what the firmware server served it. It outlives the device's TCP
 * connections (a reboot is an offline/online pair on the same link). Owns no sockets.
 */
import type { TransportKind } from '../../../contract/dto.js';
import { StationError } from '../../errors.js';
import { TraceRing } from '../trace.js';
import type { Link } from '../types.js';
import type { MqttLink, NetDeviceEvent, NetDialect as Dialect, VersionReport } from './types.js';

export type { MqttLink, NetDeviceEvent, VersionReport } from './types.js';
export { isMqttLink } from './types.js';

/** Station services a link forwards to (implemented by NetStation). */
export interface MqttLinkHost {
  deliver(key: string, topic: string, payload: string): Promise<void>;
  isOnline(key: string): boolean;
  isSubscribedTo(key: string, topic: string): boolean;
  /** Last unconsumed version report (§9 P2: Tencent pushes only right after one). */
  pendingReport(key: string): VersionReport | undefined;
  lastReport(key: string): VersionReport | undefined;
  consumeReport(key: string, seq: number): void;
  offerFirmware(key: string, file: { version: string; bytes: Uint8Array; md5: string }, ttlMs: number): string;
  abortDownloads(key: string): void;
  subscribe(key: string, cb: (e: NetDeviceEvent) => void): () => void;
  readonly attached: boolean;
}

/** Device uplinks appear as bytes to byte-level observers (trace, generic tooling). */
const encoder = new TextEncoder();

export class NetMqttLink implements MqttLink {
  readonly kind: TransportKind = 'net';
  /** The device SDKs' receive buffer (§5.3: C SDK default 2048 bytes per PUBLISH). */
  readonly mtuBytes = 2048;
  readonly trace = new TraceRing();
  private open = true;
  private readonly unsub: () => void;
  private readonly dataCbs = new Set<(chunk: Uint8Array) => void>();
  private readonly eventCbs = new Set<(e: NetDeviceEvent) => void>();
  private readonly lostCbs = new Set<(err: StationError) => void>();

  constructor(
    readonly unitId: string,
    readonly key: string,
    readonly dialect: Dialect,
    readonly product: string,
    readonly device: string,
    private readonly host: MqttLinkHost,
  ) {
    this.unsub = host.subscribe(key, (e) => {
      if (!this.open) return;
      if (e.type === 'uplink') {
        this.trace.note(`rx ${e.topic} ${e.payload.length > 200 ? e.payload.slice(0, 200) + '…' : e.payload}`);
        const bytes = encoder.encode(e.payload);
        for (const cb of this.dataCbs) cb(bytes);
      } else if (e.type !== 'http-progress') {
        this.trace.note(`${e.type} ${JSON.stringify({ ...e, type: undefined })}`);
      }
      for (const cb of this.eventCbs) cb(e);
    });
  }

  get attached(): boolean {
    return this.host.attached;
  }
  get isOpen(): boolean {
    return this.open;
  }

  /** MQTT carries messages, not a byte stream: sessions use publish(). */
  async write(): Promise<void> {
    throw new StationError('PROTOCOL_UNSUPPORTED_MODE', 'an MQTT link carries messages: use publish()', { unitId: this.unitId, retryable: false });
  }

  async publish(topic: string, payload: string): Promise<void> {
    if (!this.open) throw new StationError('TRANSPORT_LOST', 'link closed', { unitId: this.unitId });
    this.trace.note(`tx ${topic} ${payload}`);
    await this.host.deliver(this.key, topic, payload);
  }

  onData(cb: (chunk: Uint8Array) => void): () => void {
    this.dataCbs.add(cb);
    return () => this.dataCbs.delete(cb);
  }
  onEvent(cb: (e: NetDeviceEvent) => void): () => void {
    this.eventCbs.add(cb);
    return () => this.eventCbs.delete(cb);
  }
  onLost(cb: (err: StationError) => void): () => void {
    this.lostCbs.add(cb);
    return () => this.lostCbs.delete(cb);
  }
  /** Called by the station when it shuts down under a running job. */
  lose(err: StationError): void {
    for (const cb of this.lostCbs) cb(err);
  }
  isOnline(): boolean {
    return this.host.isOnline(this.key);
  }
  isSubscribedTo(topic: string): boolean {
    return this.host.isSubscribedTo(this.key, topic);
  }
  pendingReport(): VersionReport | undefined {
    return this.host.pendingReport(this.key);
  }
  lastReport(): VersionReport | undefined {
    return this.host.lastReport(this.key);
  }
  consumeReport(seq: number): void {
    this.host.consumeReport(this.key, seq);
  }
  offerFirmware(file: { version: string; bytes: Uint8Array; md5: string }, ttlMs: number): string {
    return this.host.offerFirmware(this.key, file, ttlMs);
  }
  abortDownloads(): void {
    this.host.abortDownloads(this.key);
  }
  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.unsub();
    this.dataCbs.clear();
    this.eventCbs.clear();
    this.lostCbs.clear();
  }
}
