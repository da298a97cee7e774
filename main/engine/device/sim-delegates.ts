/**
 * Virtual units of these protocols are reached through a real transport stack (the seams real
 * hardware uses): LLSync peripherals behind noble's bindings, networked units as real MQTT/HTTP
 * clients. Part of the virtual-device home; real transports never import this.
 */
import type { ProtocolId } from '../../contract/dto.js';
import type { Transport } from '../transport/types.js';
import type { CloudDialect, SimNetUnits } from '../transport/types.js';
import { createSimNetTransport } from '../transport/net/net-transport.js';
import { LlsyncSimDelegate } from './llsync-sim-delegate.js';

export function createSimDelegates(ctx: { dataDir: string; cloud: CloudDialect; simNetUnits: SimNetUnits }): Partial<Record<ProtocolId, Transport>> {
  const simNet = createSimNetTransport(ctx.cloud, ctx.simNetUnits); // issue 5: virtual networked units as real MQTT clients
  return { 'mqtt-ota-tencent': simNet, 'mqtt-ota-aliyun': simNet, 'llsync-ota': new LlsyncSimDelegate({ dataDir: ctx.dataDir }) }; // issue 3: virtual LLSync units through real noble
}
