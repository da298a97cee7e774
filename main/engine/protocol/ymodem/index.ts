/**
 * The `ymodem` protocol driver: the station as YMODEM/XMODEM sender to serial bootloaders.
 * Not resumable (every session starts at block 1) and confirms over the same serial link.
 */
import type { ProtocolDriver } from '../types.js';
import { YmodemSession } from './session.js';

export const ymodemDriver: ProtocolDriver = {
  id: 'ymodem',
  resumable: false,
  reconnectForConfirm: false,
  createSession: (ctx) => new YmodemSession(ctx),
};

export { YmodemSession, planBlocks } from './session.js';
export { BARE_RECEIVER_PROFILE, YMODEM_DEFAULTS, resolveYmodemOptions } from './options.js';
export type { ConfirmMode, YmodemMode, YmodemOptions } from './options.js';
