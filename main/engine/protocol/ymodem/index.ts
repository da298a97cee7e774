/**
 * The `ymodem` protocol driver: the station as YMODEM/XMODEM sender to serial bootloaders.
 * Not resumable (every session starts at block 1) and confirms over the same serial link.
 */
import type { ProtocolDriver } from '../types.js';
import type { PolicyAware } from '../policy.js';
import { YmodemSession } from './session.js';
import { applyYmodemPolicy } from './options.js';

export const ymodemDriver: ProtocolDriver & PolicyAware = {
  id: 'ymodem',
  resumable: false,
  reconnectForConfirm: false,
  createSession: (ctx) => new YmodemSession(ctx),
  applyPolicy: applyYmodemPolicy,
};

export { YmodemSession, planBlocks } from './session.js';
export { BARE_RECEIVER_PROFILE, ST_IAP_YMODEM_OPTIONS, YMODEM_ISSUE9_OPTION_SPECS, ST_MENU_PROMPT, YMODEM_DEFAULTS, applyYmodemPolicy, resolveYmodemOptions } from './options.js';
export type { ConfirmMode, FileNameOverflow, VerdictFormat, YmodemMode, YmodemOptions } from './options.js';
