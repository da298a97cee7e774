/**
 * The `llsync-ota` protocol driver: the station as Tencent's app to LLSync BLE devices.
 * Resumable (the device keeps a page-rounded record, §7.8) and confirms on a new link after
 * the device reboots (§7.7).
 */
import type { ProtocolDriver } from '../types.js';
import { LLSYNC_CHAR_DEVICE_INFO, LLSYNC_CHAR_EVENT, LLSYNC_CHAR_OTA, LLSYNC_SERVICE_UUID, LLSYNC_ADV_SERVICE_16, TENCENT_COMPANY_ID } from './frames.js';
import type { BlePipeSpec, BleProtocolSpec } from '../../transport/types.js';
import { decodeLlsyncManufacturerData } from './advertising.js';
import { LlsyncSession } from './session.js';

/** §3: what the BLE transport must open for this protocol. */
export const LLSYNC_PIPE: BlePipeSpec = {
  serviceUuid: LLSYNC_SERVICE_UUID,
  writeUuids: [LLSYNC_CHAR_DEVICE_INFO, LLSYNC_CHAR_OTA],
  notifyUuid: LLSYNC_CHAR_EVENT,
  scanServiceUuids: [LLSYNC_ADV_SERVICE_16],
};

/**
 * What the BLE transport gets from this protocol (it knows no dialect): the pipe, the §2 scan
 * filter (service 0xFFE0 + Tencent manufacturer data) and the advertisement decoder.
 */
export const LLSYNC_BLE: BleProtocolSpec = {
  pipe: LLSYNC_PIPE,
  scanFilter: Object.freeze({ serviceUuids: [LLSYNC_ADV_SERVICE_16], companyId: TENCENT_COMPANY_ID }),
  decodeAdvert: (data) => {
    if (!data) return { ok: false, error: 'no manufacturer data' };
    const adv = decodeLlsyncManufacturerData(data);
    if (!adv.ok) return { ok: false, error: adv.error };
    const a = adv.value;
    return a.bindState === 'bound'
      ? { ok: true, fields: { bindState: a.bindState, protocolVersion: a.protocolVersion, deviceIdentity: a.deviceIdentity, bindId: a.bindId } }
      : { ok: true, fields: { bindState: a.bindState, protocolVersion: a.protocolVersion, productId: a.productId.trimEnd(), mac: a.mac } };
  },
};

export const llsyncDriver: ProtocolDriver = {
  id: 'llsync-ota',
  ble: LLSYNC_BLE,
  resumable: true,
  reconnectForConfirm: true,
  createSession: (ctx) => new LlsyncSession(ctx),
};

export { LlsyncSession } from './session.js';
export { LLSYNC_DEFAULTS, resolveLlsyncOptions } from './options.js';
export type { LlsyncOptions } from './options.js';
