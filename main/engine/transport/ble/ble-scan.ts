/**
 * `flashline scan` for BLE: a timed LLSync scan (service 0xFFE0 + Tencent manufacturer data,
 * llsync-ota.md §2) through the station's adapter, or through N virtual LLSync peripherals behind
 * the real noble over simulated bindings. Decodes each advertisement; never connects.
 */
import { TENCENT_COMPANY_ID, LLSYNC_ADV_SERVICE_16 } from '../../protocol/llsync-ota/frames.js';
import { decodeLlsyncManufacturerData, type BindState } from '../../protocol/llsync-ota/advertising.js';
import { parseTargets } from '../../targets.js';
import { toStationError } from '../../errors.js';
import type { BleScanFilter, BleSighting, BleTransport } from './ble-transport.js';
import { bleAdapterState, type BleAdapterState } from './noble-loader.js';
import { LlsyncSimDelegate } from './sim-delegate.js';
import { createStationBleTransport } from './index.js';

export const DEFAULT_SCAN_SECONDS = 4;
export const MAX_SCAN_SECONDS = 120;
export const MAX_SIM_SCAN_UNITS = 64;

/** §2: what identifies an LLSync unit on the air. */
export const LLSYNC_SCAN_FILTER: BleScanFilter = Object.freeze({ serviceUuids: [LLSYNC_ADV_SERVICE_16], companyId: TENCENT_COMPANY_ID });

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
  const row: LlsyncScanRow = { id: s.id, address: s.address, rssiDbm: s.rssiDbm, ...(s.localName ? { name: s.localName } : {}) };
  if (!s.manufacturerData) return { ...row, advError: 'no manufacturer data' };
  const adv = decodeLlsyncManufacturerData(s.manufacturerData);
  if (!adv.ok) return { ...row, advError: adv.error };
  const a = adv.value;
  if (a.bindState === 'bound') return { ...row, bindState: a.bindState, protocolVersion: a.protocolVersion, deviceIdentity: a.deviceIdentity, bindId: a.bindId };
  return { ...row, bindState: a.bindState, protocolVersion: a.protocolVersion, productId: a.productId.trimEnd(), mac: a.mac };
}

async function scanWith(t: BleTransport, seconds: number): Promise<LlsyncScanRow[]> {
  const sightings = await t.scan(seconds * 1000, LLSYNC_SCAN_FILTER);
  return sightings.map(describeSighting).sort((a, b) => a.address.localeCompare(b.address));
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
      return { source: 'sim', ble: { state: 'poweredOn' }, units: await scanWith(delegate.ble, seconds) };
    } catch (e) {
      const err = toStationError(e);
      return { source: 'sim', ble: { state: 'unknown' }, units: [], error: { code: err.code, message: err.message } };
    } finally {
      await delegate.dispose();
    }
  }
  const state = bleAdapterState();
  if (state.state === 'no-adapter') return { source: 'adapter', ble: state, units: [] };
  const t = createStationBleTransport();
  try {
    const units = await scanWith(t, seconds);
    return { source: 'adapter', ble: { state: 'poweredOn' }, units };
  } catch (e) {
    const err = toStationError(e);
    return { source: 'adapter', ble: bleAdapterState(), units: [], error: { code: err.code, message: err.message } };
  } finally {
    await t.dispose();
  }
}
