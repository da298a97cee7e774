/**
 * Where the BLE and network transports plug into the engine: station transports by kind (real
 * hardware/network). Must not import protocols or virtual units: what a protocol needs from a
 * transport (the BLE pipe) comes in through the context; sim delegates live in device/.
 */
import type { ProtocolId, TransportKind } from '../../contract/dto.js';
import type { BlePipeSpec, Transport } from './types.js';
import type { CloudDialect } from './net/types.js';
import { createNetTransport } from './net/net-transport.js';
import { createStationBleTransport } from './ble/index.js';

export interface TransportContext {
  dataDir: string;
  /** The local cloud's dialect side (protocol/mqtt-ota), injected: the net transport knows no topic. */
  cloud: CloudDialect;
  /** The GATT pipe of a BLE protocol (from ProtocolDriver.ble), or undefined for other protocols. */
  blePipeFor?: (protocol: ProtocolId) => BlePipeSpec | undefined;
}

/** Real transports beyond serial and sim: `ble` (noble), `net` (MQTT + HTTP). */
export function createStationTransports(ctx: TransportContext): Partial<Record<TransportKind, Transport>> {
  // issue 5: the net transport starts its broker/HTTP lazily; issue 3: noble loads on first use
  return { net: createNetTransport(ctx.dataDir, ctx.cloud), ble: createStationBleTransport(ctx.blePipeFor ?? (() => undefined)) };
}
