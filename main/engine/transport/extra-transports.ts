/**
 * Where the BLE and network transports plug into the engine. Each transport issue adds its line
 * here: station transports by kind (real hardware/network) and sim delegates by protocol
 * (virtual units that sit behind a real transport stack).
 */
import type { ProtocolId, TransportKind } from '../../contract/dto.js';
import type { Transport } from './types.js';
import type { CloudDialect, SimNetUnits } from './net/types.js';
import { createNetTransport, createSimNetTransport } from './net/net-transport.js';
import { createLlsyncSimDelegate, createStationBleTransport } from './ble/index.js';

export interface TransportContext {
  dataDir: string;
  /** The local cloud's dialect side (protocol/mqtt-ota), injected: the net transport knows no topic. */
  cloud: CloudDialect;
  /** Virtual networked units (device/), injected: no real transport imports a virtual unit. */
  simNetUnits: SimNetUnits;
}

/** Real transports beyond serial and sim: `ble` (noble), `net` (MQTT + HTTP). */
export function createStationTransports(_ctx: TransportContext): Partial<Record<TransportKind, Transport>> {
  return { net: createNetTransport(_ctx.dataDir, _ctx.cloud), ble: createStationBleTransport() }; // issue 5: starts its broker/HTTP lazily; issue 3: noble loads on first use
}

/** Virtual units of these protocols are reached through a real transport stack. */
export function createSimDelegates(_ctx: TransportContext): Partial<Record<ProtocolId, Transport>> {
  const simNet = createSimNetTransport(_ctx.cloud, _ctx.simNetUnits); // issue 5: virtual networked units as real MQTT clients
  return { 'mqtt-ota-tencent': simNet, 'mqtt-ota-aliyun': simNet, 'llsync-ota': createLlsyncSimDelegate({ dataDir: _ctx.dataDir }) }; // issue 3: virtual LLSync units through real noble
}
