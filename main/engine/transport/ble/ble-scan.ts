/**
 * A timed BLE scan through one BleTransport, described by the protocol's advert decoder: the
 * transport collects sightings that match the protocol's filter and never connects. Knows no
 * dialect (the filter and decoder come in as a BleProtocolSpec); must not import protocols.
 */
import type { BleAdvertFields, BleProtocolSpec, BleSighting } from '../types.js';
import type { BleTransport } from './ble-transport.js';

export const DEFAULT_SCAN_SECONDS = 4;
export const MAX_SCAN_SECONDS = 120;

/** One scanned unit: where it was seen, plus the protocol's decoded advert or why it failed. */
export type BleScanRow = { id: string; address: string; name?: string; rssiDbm: number; advError?: string } & BleAdvertFields;

export function describeSightingWith(spec: BleProtocolSpec, s: BleSighting): BleScanRow {
  const row: BleScanRow = { id: s.id, address: s.address, rssiDbm: s.rssiDbm, ...(s.localName ? { name: s.localName } : {}) };
  const adv = spec.decodeAdvert(s.manufacturerData);
  return adv.ok ? { ...row, ...adv.fields } : { ...row, advError: adv.error };
}

export async function scanWith(t: BleTransport, seconds: number, spec: BleProtocolSpec): Promise<BleScanRow[]> {
  const sightings = await t.scan(seconds * 1000, spec.scanFilter);
  return sightings.map((s) => describeSightingWith(spec, s)).sort((a, b) => a.address.localeCompare(b.address));
}
