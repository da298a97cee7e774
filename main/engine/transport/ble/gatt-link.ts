/**
 * A BLE Link with GATT detail: writes to a named characteristic with or without response, and
 * the ATT MTU the station's stack negotiated. Notifications of the pipe's notify characteristic
 * arrive through Link.onData, one ATT value per chunk. Knows no OTA dialect.
 */
import type { Link } from '../types.js';

export interface BlePipeSpec {
  serviceUuid: string;
  /** Characteristics the session may write (noble form: lowercase, no dashes). */
  writeUuids: string[];
  notifyUuid: string;
  /** Service UUIDs to scan for (16-bit or 128-bit, noble form). */
  scanServiceUuids?: string[];
}

export interface GattLink extends Link {
  /** ATT_MTU as seen by the station's stack (23 until an exchange completes). */
  readonly attMtu: number;
  /** Advertised manufacturer data of the peripheral when the link opened (company id first). */
  readonly manufacturerData?: Uint8Array;
  writeCharacteristic(uuid: string, data: Uint8Array, opts: { withoutResponse: boolean }, signal?: AbortSignal): Promise<void>;
}

export function isGattLink(link: Link): link is GattLink {
  return typeof (link as Partial<GattLink>).writeCharacteristic === 'function';
}
