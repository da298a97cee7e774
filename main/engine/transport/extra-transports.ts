/**
 * Where the BLE and network transports plug into the engine. Each transport issue adds its line
 * here: station transports by kind (real hardware/network) and sim delegates by protocol
 * (virtual units that sit behind a real transport stack).
 */
import type { ProtocolId, TransportKind } from '../../contract/dto.js';
import type { Transport } from './types.js';

export interface TransportContext {
  dataDir: string;
}

/** Real transports beyond serial and sim: `ble` (noble), `net` (MQTT + HTTP). */
export function createStationTransports(_ctx: TransportContext): Partial<Record<TransportKind, Transport>> {
  return {};
}

/** Virtual units of these protocols are reached through a real transport stack. */
export function createSimDelegates(_ctx: TransportContext): Partial<Record<ProtocolId, Transport>> {
  return {};
}
