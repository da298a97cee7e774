/**
 * `flashline scan` for BLE: a timed LLSync scan (service 0xFFE0 + Tencent manufacturer data,
 * llsync-ota.md §2) through the station's adapter, or through N virtual LLSync peripherals behind
 * the real noble over simulated bindings. Composes protocol (filter, decoder), transport and sim;
 * decodes each advertisement and never connects.
 */
import type { BindState } from '../protocol/llsync-ota/advertising.js';
import { LLSYNC_BLE } from '../protocol/llsync-ota/index.js';
import { parseTargets } from '../targets.js';
import { toStationError } from '../errors.js';
import type { BleScanFilter, BleSighting } from '../transport/types.js';
import { DEFAULT_SCAN_SECONDS, MAX_SCAN_SECONDS, describeSightingWith, scanWith } from '../transport/ble/ble-scan.js';
import { bleAdapterState, type BleAdapterState } from '../transport/ble/noble-loader.js';
import { createStationBleTransport } from '../transport/ble/index.js';
import { LlsyncSimDelegate } from '../device/llsync-sim-delegate.js';

export { DEFAULT_SCAN_SECONDS, MAX_SCAN_SECONDS };
export const MAX_SIM_SCAN_UNITS = 64;

/** §2: what identifies an LLSync unit on the air. */
export const LLSYNC_SCAN_FILTER: BleScanFilter = LLSYNC_BLE.scanFilter;

export interface LlsyncScanRow {
  id: string;
  address: string;
  name?: string;
  rssiDbm: number;
  /** Decoded LLSync advertisement, or why it could not be decoded. */
  bindState?: BindState;
  protocolVersion?: number;
  productId?: string;
  mac?: string;
  deviceIdentity?: string;
  bindId?: string;
  advError?: string;
}

export interface BleScanResult {
  /** `sim` when the sightings came from virtual peripherals. */
  source: 'adapter' | 'sim';
  ble: BleAdapterState;
  units: LlsyncScanRow[];
  error?: { code: string; message: string };
}

export function describeSighting(s: BleSighting): LlsyncScanRow {
  return describeSightingWith(LLSYNC_BLE, s) as LlsyncScanRow;
}

/**
 * Scan for LLSync units. `simUnits` > 0 puts that many virtual peripherals on a simulated
 * adapter instead of touching the station's one. Errors become the result's `error`, never a throw.
 */
export async function scanLlsyncUnits(opts: { seconds?: number; simUnits?: number } = {}): Promise<BleScanResult> {
  const seconds = Math.min(MAX_SCAN_SECONDS, Math.max(0.1, opts.seconds ?? DEFAULT_SCAN_SECONDS));
  if (opts.simUnits && opts.simUnits > 0) {
    const delegate = new LlsyncSimDelegate();
    try {
      for (const u of parseTargets([`sim:llsync-ota:${Math.min(opts.simUnits, MAX_SIM_SCAN_UNITS)}`])) delegate.device(u);
      return { source: 'sim', ble: { state: 'poweredOn' }, units: (await scanWith(delegate.ble, seconds, LLSYNC_BLE)) as LlsyncScanRow[] };
    } catch (e) {
      const err = toStationError(e);
      return { source: 'sim', ble: { state: 'unknown' }, units: [], error: { code: err.code, message: err.message } };
    } finally {
      await delegate.dispose();
    }
  }
  const state = bleAdapterState();
  if (state.state === 'no-adapter') return { source: 'adapter', ble: state, units: [] };
  const t = createStationBleTransport((p) => (p === 'llsync-ota' ? LLSYNC_BLE.pipe : undefined));
  try {
    const units = (await scanWith(t, seconds, LLSYNC_BLE)) as LlsyncScanRow[];
    return { source: 'adapter', ble: { state: 'poweredOn' }, units };
  } catch (e) {
    const err = toStationError(e);
    return { source: 'adapter', ble: bleAdapterState(), units: [], error: { code: err.code, message: err.message } };
  } finally {
    await t.dispose();
  }
}
