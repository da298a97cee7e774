/**
 * Which virtual device stands behind a sim unit of each protocol, and the link model it sits
 * on by default. Protocols whose virtual devices have not landed are absent (their units fail
 * with a clear per-unit message).
 */
import type { ProtocolId, SimLinkModel } from '../../contract/dto.js';
import type { VirtualDeviceFactory } from '../transport/sim/sim-transport.js';
import { createYmodemUnit } from './ymodem-unit.js';

export const simDeviceFactories: Partial<Record<ProtocolId, VirtualDeviceFactory>> = {
  ymodem: (unit, memory) => createYmodemUnit(unit, memory),
};

/** ymodem: a 921600-baud serial line (92160 B/s of 8N1 payload), USB-UART latency of ~1 ms. */
export const simLinkDefaults: Partial<Record<ProtocolId, Partial<SimLinkModel>>> = {
  ymodem: { bytesPerSecond: 92_160, latencyMs: 1, mtuBytes: 4096 },
};
