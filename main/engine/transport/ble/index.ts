/**
 * BLE wiring for the engine: the station's noble transport (noble loaded on first use, so a
 * machine without an adapter fails BLE units with NO_BLE_ADAPTER and nothing else) and the sim
 * delegate for virtual LLSync units.
 */
import { LLSYNC_PIPE } from '../../protocol/llsync-ota/index.js';
import { BleTransport, type NobleApi } from './ble-transport.js';
import { loadNoble } from './noble-loader.js';
import { LlsyncSimDelegate, type LlsyncSimOptions } from './sim-delegate.js';

export const STATION_ADAPTER_ID = 'hci0';

export function createStationBleTransport(): BleTransport {
  return new BleTransport({
    adapterId: process.env.NOBLE_HCI_DEVICE_ID ? `hci${process.env.NOBLE_HCI_DEVICE_ID}` : STATION_ADAPTER_ID,
    pipeFor: (p) => (p === 'llsync-ota' ? LLSYNC_PIPE : undefined),
    loadNoble: () => {
      const r = loadNoble();
      return 'error' in r ? r : { noble: r.noble as unknown as NobleApi };
    },
  });
}

export function createLlsyncSimDelegate(opts: LlsyncSimOptions = {}): LlsyncSimDelegate {
  return new LlsyncSimDelegate(opts);
}

export { BleTransport, LlsyncSimDelegate };
