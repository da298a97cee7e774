/**
 * The Link: a duplex byte pipe to one unit, owned by a transport. Knows nothing about OTA.
 * Protocol sessions only see this interface (and the trace), never serialport/noble/sockets.
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
