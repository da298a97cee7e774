/**
 * The `quecthing-sota` protocol driver: the station plays the Quectel module to an MCU on a
 * serial port. Not resumable (the module offers the image from piece 0 each time) and confirms
 * over the same port, which stays open across the MCU's reboot (§6).
 */
import type { ProtocolDriver } from '../types.js';
import type { PolicyAware } from '../policy.js';
import { QuecthingSotaSession } from './session.js';
import { applyQuecthingPolicy } from './options.js';

export const quecthingSotaDriver: ProtocolDriver & PolicyAware = {
  id: 'quecthing-sota',
  resumable: false,
  reconnectForConfirm: false,
  createSession: (ctx) => new QuecthingSotaSession(ctx),
  applyPolicy: applyQuecthingPolicy,
};

export { QuecthingSotaSession, type ModuleState } from './session.js';
export { QUECTEL_MCU_OPTIONS, QUECTHING_DEFAULTS, QUECTHING_ISSUE9_OPTION_SPECS, applyQuecthingPolicy, resolveQuecthingOptions } from './options.js';
export type { PlanTrigger, QuecthingSotaOptions } from './options.js';
