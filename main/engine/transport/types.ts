/**
 * The link interfaces both layers depend on: Link (byte stream), GattLink (BLE GATT) and the
 * BLE pipe/advert spec a protocol hands the BLE transport. Owns types only; must not import any
 * transport implementation, protocol or virtual unit (only contract, errors and the trace type).
 */
import type { TransportKind, UnitRef } from '../../contract/dto.js';
import type { StationError } from '../errors.js';
import type { TraceRing } from './trace.js';

export interface Link {
  readonly kind: TransportKind;
  readonly unitId: string;
  /** Largest write the link carries in one piece (BLE ATT payload, sim MTU); serial: a large number. */
  readonly mtuBytes: number;
  /** Resolves once the bytes are handed to the wire (sim: once they are transmitted at the link rate). */
  write(data: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Subscribe to inbound bytes; returns unsubscribe. */
  onData(cb: (chunk: Uint8Array) => void): () => void;
  /** Subscribe to loss of the link (unplug, disconnect); returns unsubscribe. */
  onLost(cb: (err: StationError) => void): () => void;
  readonly isOpen: boolean;
  close(): Promise<void>;
  readonly trace: TraceRing;
}

/** Opens links to units of one transport kind. */
export interface Transport {
  readonly kind: TransportKind;
  open(unit: UnitRef, signal: AbortSignal): Promise<Link>;
  /** The resource a unit occupies exclusively or shares (serial port path, BLE adapter id), for scheduling caps. */
  resourceOf(unit: UnitRef): string;
  /** Capacity of a resource this transport names; undefined for resources it does not own (default 1: one job per port). */
  capacityOf?(resource: string): number | undefined;
  /** Release sockets, servers, adapters when the station closes. */
  dispose?(): void | Promise<void>;
}

/**
 * The device end of a byte pipe: what a virtual device talks to. Both the in-memory sim pair and
 * a pseudo-terminal expose it, so the same virtual device runs behind either.
 */
export interface DevicePort {
  write(data: Uint8Array): void;
  onData(cb: (chunk: Uint8Array) => void): () => void;
  /** Drop the connection from the device side (simulated unplug / reboot). */
  drop(): void;
  readonly isOpen: boolean;
}

// ---- BLE GATT -------------------------------------------------------------------------------

/** The GATT pipe a protocol needs on a BLE unit (service, write and notify characteristics). */
export interface BlePipeSpec {
  serviceUuid: string;
  /** Characteristics the session may write (noble form: lowercase, no dashes). */
  writeUuids: string[];
  notifyUuid: string;
  /** Service UUIDs to scan for (16-bit or 128-bit, noble form). */
  scanServiceUuids?: string[];
}

/**
 * A BLE Link with GATT detail: writes to a named characteristic with or without response, and
 * the ATT MTU the station's stack negotiated. Notifications of the pipe's notify characteristic
 * arrive through Link.onData, one ATT value per chunk.
 */
export interface GattLink extends Link {
  /** ATT_MTU as seen by the station's stack (23 until an exchange completes; may grow later). */
  readonly attMtu: number;
  /** Advertised manufacturer data of the peripheral when the link opened (company id first). */
  readonly manufacturerData?: Uint8Array;
  writeCharacteristic(uuid: string, data: Uint8Array, opts: { withoutResponse: boolean }, signal?: AbortSignal): Promise<void>;
}

export function isGattLink(link: Link): link is GattLink {
  return typeof (link as Partial<GattLink>).writeCharacteristic === 'function';
}

/** One advertisement as the BLE transport saw it. */
export interface BleSighting {
  id: string;
  address: string;
  rssiDbm: number;
  localName?: string;
  serviceUuids: string[];
  manufacturerData?: Uint8Array;
  seenAt: number;
}

export interface BleScanFilter {
  serviceUuids?: string[];
  /** Manufacturer company id (little-endian first two bytes of manufacturer data). */
  companyId?: number;
  namePrefix?: string;
  minRssiDbm?: number;
}

/** A decoded advertisement: plain fields for a scan row, or why it could not be decoded. */
export type BleAdvertFields = Record<string, string | number | undefined>;

/**
 * What a BLE protocol gives the BLE transport: the pipe to open, how its units advertise, and
 * how to decode their advertisements. The transport itself knows no dialect.
 */
export interface BleProtocolSpec {
  pipe: BlePipeSpec;
  scanFilter: BleScanFilter;
  decodeAdvert(manufacturerData: Uint8Array | undefined): { ok: true; fields: BleAdvertFields } | { ok: false; error: string };
}

// ---- pub/sub links of networked units (the `net` transport) and the hooks it takes ----------
// A cloud dialect (protocol/mqtt-ota) and the sim side (device/) plug into the station through
// these; the transport itself knows no topic.

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
