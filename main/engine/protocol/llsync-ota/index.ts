/**
 * The `llsync-ota` protocol driver: the station as Tencent's app to LLSync BLE devices.
 * Resumable (the device keeps a page-rounded record, §7.8) and confirms on a new link after
 * the device reboots (§7.7).
 */
import type { ProtocolDriver } from '../types.js';
import { LLSYNC_CHAR_DEVICE_INFO, LLSYNC_CHAR_EVENT, LLSYNC_CHAR_OTA, LLSYNC_SERVICE_UUID, LLSYNC_ADV_SERVICE_16 } from './frames.js';
import type { BlePipeSpec } from '../../transport/ble/gatt-link.js';
import { LlsyncSession } from './session.js';

export const llsyncDriver: ProtocolDriver = {
  id: 'llsync-ota',
  resumable: true,
  reconnectForConfirm: true,
  createSession: (ctx) => new LlsyncSession(ctx),
};

/** §3: what the BLE transport must open for this protocol. */
export const LLSYNC_PIPE: BlePipeSpec = {
  serviceUuid: LLSYNC_SERVICE_UUID,
  writeUuids: [LLSYNC_CHAR_DEVICE_INFO, LLSYNC_CHAR_OTA],
  notifyUuid: LLSYNC_CHAR_EVENT,
  scanServiceUuids: [LLSYNC_ADV_SERVICE_16],
};

export { LlsyncSession } from './session.js';
export { LLSYNC_DEFAULTS, resolveLlsyncOptions } from './options.js';
export type { LlsyncOptions } from './options.js';
