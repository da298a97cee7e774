/**
 * Which virtual device stands behind a sim unit of each protocol, and the link model it sits
 * on by default. Protocols whose virtual devices have not landed are absent (their units fail
 * with a clear per-unit message).
 */
import type { ProtocolId, SimLinkModel } from '../../contract/dto.js';
import type { VirtualDeviceFactory } from './sim-transport.js';
import { createYmodemSimDevice } from './ymodem-unit.js';
import { createQuecthingMcu } from './quecthing-mcu.js';

export const simDeviceFactories: Partial<Record<ProtocolId, VirtualDeviceFactory>> = {
  ymodem: (unit, memory) => createYmodemSimDevice(unit, memory),
  'quecthing-sota': (unit, memory) => createQuecthingMcu(unit, memory),
};

/** ymodem: a 921600-baud serial line (92160 B/s of 8N1 payload), USB-UART latency of ~1 ms. */
export const simLinkDefaults: Partial<Record<ProtocolId, Partial<SimLinkModel>>> = {
  ymodem: { bytesPerSecond: 92_160, latencyMs: 1, mtuBytes: 4096 },
  // quecthing-sota: an MCU UART at 115200 baud 8N1 (quecthing-sota.md §1), ~1 ms USB-UART latency.
  'quecthing-sota': { bytesPerSecond: 11_520, latencyMs: 1, mtuBytes: 4096 },
};
