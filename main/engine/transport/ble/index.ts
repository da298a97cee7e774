/**
 * The `ble` transport folder: the station's noble transport (noble loaded on first use, so a
 * machine without an adapter fails BLE units with NO_BLE_ADAPTER and nothing else).
 * Owns noble, the adapter and GATT links. Must not import protocols or virtual units: the pipe
 * for a unit comes from the protocol that asks for the link (`pipeFor`, wired by the engine).
 */
import type { ProtocolId } from '../../../contract/dto.js';
import type { BlePipeSpec } from '../types.js';
import { BleTransport, type NobleApi } from './ble-transport.js';
import { loadNoble } from './noble-loader.js';

export const STATION_ADAPTER_ID = 'hci0';

export function createStationBleTransport(pipeFor: (protocol: ProtocolId) => BlePipeSpec | undefined): BleTransport {
  return new BleTransport({
    adapterId: process.env.NOBLE_HCI_DEVICE_ID ? `hci${process.env.NOBLE_HCI_DEVICE_ID}` : STATION_ADAPTER_ID,
    pipeFor,
    loadNoble: () => {
      const r = loadNoble();
      return 'error' in r ? r : { noble: r.noble as unknown as NobleApi };
    },
  });
}

export { BleTransport };
