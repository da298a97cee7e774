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
