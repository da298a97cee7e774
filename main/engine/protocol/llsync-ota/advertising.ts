/**
 * LLSync advertising (llsync-ota.md §2): the 17 bytes after Tencent's company id 0xFEE7 in the
 * manufacturer data. Pure decode/encode; the BLE transport only filters on company id / service.
 */
import crypto from 'node:crypto';
import { TENCENT_COMPANY_ID, type Decoded } from './frames.js';

export type BindState = 'unbound' | 'waiting' | 'bound' | 'reserved';
const BIND_STATES: readonly BindState[] = ['unbound', 'waiting', 'bound', 'reserved'];
const ADV_BODY_BYTES = 17;
const BIND_STATE_BOUND = 2;

export type LlsyncAdvertisement =
  | { bindState: 'unbound' | 'waiting' | 'reserved'; protocolVersion: number; mac: string; productId: string }
  | { bindState: 'bound'; protocolVersion: number; deviceIdentity: string; bindId: string };

/** Decode noble's `advertisement.manufacturerData` (company id little-endian first, as on air). */
export function decodeLlsyncManufacturerData(data: Uint8Array): Decoded<LlsyncAdvertisement> {
  if (data.length < 2 + ADV_BODY_BYTES) return { ok: false, error: `manufacturer data of ${data.length} bytes` };
  const company = data[0]! | (data[1]! << 8);
  if (company !== TENCENT_COMPANY_ID) return { ok: false, error: `company id 0x${company.toString(16)} is not Tencent's` };
  const state = data[2]!;
  const bindState = BIND_STATES[state & 0x03]!;
  const protocolVersion = state >> 4;
  const body = data.subarray(3, 3 + 16);
  if (bindState === 'bound') {
    return { ok: true, value: { bindState, protocolVersion, deviceIdentity: hex(body.subarray(0, 8)), bindId: hex(body.subarray(8, 16)) } };
  }
  const mac = Array.from(body.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
  const productId = new TextDecoder().decode(body.subarray(6, 16));
  return { ok: true, value: { bindState, protocolVersion, mac, productId } };
}

/** What a never-bound device advertises: state, MAC (order as given — UNSURE per port), product id. */
export function encodeLlsyncManufacturerData(opts: { protocolVersion: number; bindState: 'unbound' | 'waiting'; mac: string; productId: string }): Uint8Array {
  const mac = opts.mac.split(':').map((h) => parseInt(h, 16));
  const pid = new TextEncoder().encode(opts.productId.padEnd(10, ' ').slice(0, 10));
  return Uint8Array.of(TENCENT_COMPANY_ID & 0xff, TENCENT_COMPANY_ID >> 8, (opts.protocolVersion << 4) | (opts.bindState === 'waiting' ? 1 : 0), ...mac, ...pid);
}

/** What a bound device advertises (§2, §6.2): device identity and the host's bind id instead of MAC + product. */
export function encodeLlsyncBoundManufacturerData(opts: { protocolVersion: number; productId: string; deviceName: string; bindIdHex: string }): Uint8Array {
  const identity = Buffer.from(llsyncDeviceIdentity(opts.productId, opts.deviceName), 'hex');
  const bindId = Buffer.from(opts.bindIdHex.padStart(16, '0').slice(-16), 'hex');
  return Uint8Array.of(TENCENT_COMPANY_ID & 0xff, TENCENT_COMPANY_ID >> 8, (opts.protocolVersion << 4) | BIND_STATE_BOUND, ...identity, ...bindId);
}

/** §2: device identity = MD5(productId ‖ deviceName), first 8 bytes XOR last 8. */
export function llsyncDeviceIdentity(productId: string, deviceName: string): string {
  const d = crypto.createHash('md5').update(productId + deviceName).digest();
  return hex(Uint8Array.from({ length: 8 }, (_, i) => d[i]! ^ d[i + 8]!));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
