/**
 * Where the BLE and network transports plug into the engine: station transports by kind (real
 * hardware/network). Must not import protocols or virtual units: what a protocol needs from a
 * transport (the BLE pipe) comes in through the context; sim delegates live in device/.
 */
import type { ProtocolId, TransportKind } from '../../contract/dto.js';
import type { BlePipeSpec, Transport } from './types.js';
import { createNetTransport } from './net/net-transport.js';
import { createStationBleTransport } from './ble/index.js';

export interface TransportContext {
  dataDir: string;
  /** The GATT pipe of a BLE protocol (from ProtocolDriver.ble), or undefined for other protocols. */
  blePipeFor?: (protocol: ProtocolId) => BlePipeSpec | undefined;
}

/** Real transports beyond serial and sim: `ble` (noble), `net` (MQTT + HTTP). */
export function createStationTransports(_ctx: TransportContext): Partial<Record<TransportKind, Transport>> {
  return { net: createNetTransport(_ctx.dataDir), ble: createStationBleTransport(_ctx.blePipeFor ?? (() => undefined)) }; // issue 5: starts its broker/HTTP lazily; issue 3: noble loads on first use
}
