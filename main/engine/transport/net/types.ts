/**
 * Types of the `net` transport that other layers may depend on: the generic pub/sub link a
 * session talks to, the events it sees, the hook a cloud dialect plugs into the station with,
 * and the hook the sim side uses to power virtual networked units. Types only (plus one guard);
 * no sockets, no broker, no dialect logic.
 */
import type { UnitRef } from '../../../contract/dto.js';
import type { Link } from '../types.js';

export type NetDialect = 'tencent' | 'aliyun';

/** One networked device as the station files it. */
export interface NetDeviceId {
  dialect: NetDialect;
  product: string;
  device: string;
}

/** What happens to one device, in arrival order. */
export type NetDeviceEvent =
  | { type: 'online'; clientId: string }
  | { type: 'offline' }
  /** A refused CONNECT or a failed TLS-PSK handshake under this device's identity. */
  | { type: 'auth-failed'; reason: string }
  | { type: 'subscribed'; filters: string[] }
  | { type: 'uplink'; topic: string; payload: string }
  | { type: 'http-request'; status: number; start: number; endExclusive: number; size: number; range: string | null }
  /** Bytes handed to the socket (not what the device read): trace only. */
  | { type: 'http-progress'; sentTo: number; size: number }
  | { type: 'http-end'; sentTo: number; size: number; complete: boolean };

/** The last version report the cloud saw from a device, and whether a push has used it. */
export interface VersionReport {
  seq: number;
  version: string;
  /** Aliyun: the report's `id`, module. */
  id?: string | number;
  module?: string;
  atMs: number;
}

/** The generic pub/sub link of one networked unit (STYLE.md: "mqtt-ota gets an MqttLink"). */
export interface MqttLink extends Link {
  readonly dialect: NetDialect;
  readonly product: string;
  readonly device: string;
  /** True when the station sits on an existing broker (no presence or SUBSCRIBE visibility). */
  readonly attached: boolean;
  publish(topic: string, payload: string): Promise<void>;
  onEvent(cb: (e: NetDeviceEvent) => void): () => void;
  isOnline(): boolean;
  isSubscribedTo(topic: string): boolean;
  /** The last version report no push has used yet. */
  pendingReport(): VersionReport | undefined;
  /** The last version report, used or not (units that report once). */
  lastReport(): VersionReport | undefined;
  consumeReport(seq: number): void;
  /** Put the image on the firmware server and get a signed URL for this device. */
  offerFirmware(file: { version: string; bytes: Uint8Array; md5: string }, ttlMs: number): string;
  abortDownloads(): void;
}

export function isMqttLink(link: Link): link is MqttLink {
  return typeof (link as Partial<MqttLink>).publish === 'function' && typeof (link as Partial<MqttLink>).onEvent === 'function';
}

/** What the cloud dialect wants done with one uplink, whatever job runs. */
export interface CloudUplinkAction {
  /** A version report to remember (pending for the next push, listed in the roster). */
  report?: { version: string; id?: string | number; module?: string };
  /** Answers the cloud sends at once (e.g. Tencent `report_version_rsp`). */
  replies: { topic: string; payload: string }[];
}

/**
 * The dialect side of the local cloud (topics, replies, pushes live in protocol/mqtt-ota): the
 * station calls it for every uplink; the transport itself knows no topic.
 */
export interface CloudDialect {
  /** Uplink filters a station attached to an existing broker subscribes to. */
  readonly attachFilters: readonly string[];
  /** Which device a topic belongs to (attach mode sees no CONNECT). */
  deviceOfTopic(topic: string): NetDeviceId | null;
  /** `jobListening`: a session currently follows this device (it answers pulls itself). */
  onUplink(dev: NetDeviceId, topic: string, payload: string, jobListening: boolean): CloudUplinkAction;
}

/** One unit the cloud has seen (the roster). */
export interface NetRosterEntry extends NetDeviceId {
  online: boolean;
  version?: string;
  reportedAt?: string;
  firstSeenAt: string;
  lastSeenAt: string;
  authFailure?: string;
}

/** What a sim-unit provider may use of the sim station. */
export interface SimCloudAccess {
  /** Plain MQTT URL of the broker. */
  readonly mqttUrl: string;
  /** TLS-PSK port, or 0 when the listener is off. */
  readonly pskPort: number;
  readonly host: string;
  /** The firmware server's port: what a virtual unit's HTTP client is "built" to connect to. */
  readonly httpPort: number;
  addCredential(c: NetDeviceId & { secret: string }): void;
}

/** Virtual networked units (real MQTT/HTTP clients) behind the sim flavour of the transport. */
export interface SimNetUnits {
  /** Create and power the virtual unit behind `unit` once; resolves when it connected or was refused. */
  ensure(unit: UnitRef, id: NetDeviceId, cloud: SimCloudAccess): Promise<void>;
  dispose(): Promise<void>;
}
