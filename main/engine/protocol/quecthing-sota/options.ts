/**
 * The quecthing-sota product profile: every point quecthing-sota.md marks [inferred] is a
 * setting here, with the defaults of §8. Resolved and validated from a free-form record.
 * Pure data; no I/O.
 */
import type { OptionSpec, PlanPolicy } from '../../../contract/dto.js';
import { StationError } from '../../errors.js';

export type PlanTrigger = 'request' | 'registered' | 'start';

export interface QuecthingSotaOptions {
  /** §1: echo the command line by default; ATE0/ATE1 change it per link. */
  echo: boolean;
  /** §2.2: reply to unknown commands: OK (lenient) or ERROR (strict). */
  unknownCommand: 'ok' | 'error';
  /** §1: gap between a final result code and the URCs it caused. */
  urcGapMs: number;
  /** §4: when the station sends 10700. */
  planTrigger: PlanTrigger;
  /** §4: the module's piece ("free flash"); 0 = the whole image. */
  pieceSizeBytes: number;
  /** §5: largest `+QIOTOTARD` reply. */
  maxReadBytes: number;
  /** §4: silence after 10703 (each read re-arms it) before 10706. */
  readIdleTimeoutMs: number;
  /** §4/§6: from 10704 to the version report. */
  updateWindowMs: number;
  /** §5: bytes between the data and the final `CR LF OK CR LF`. */
  dataTrailer: string;
  /** §3 10700 battery limit (%) and minimum signal (dBm). */
  batteryLimitPct: number;
  minSignalDbm: number;
  /** §6: strict verdict = every byte served and `=3` before the report. */
  strictVerdict: boolean;
  /** §4: ignore, before 10704, a report equal to the version announced before the plan. */
  tolerateOldVersionReport: boolean;
  /** §3: emit `+QIND: "FOTA","END",0` next to 10705 (some module families). */
  emitQind: boolean;
  /** §4: simulated download — gaps between 10701, 10702 and 10703. */
  downloadGapMs: number;
  /** §4: more than this many failed reads → 10706. */
  maxDownloadErrors: number;
  /** Component name in the plan; null = the package's when a manifest names it, else the MCU's announcement (issue 9 §6). */
  component: string | null;
  /** After AT+QIOTREG=1 (or an OTA request) wait this long for the MCU's version announcement before planning without it. */
  announceWindowMs: number;
  /** Station-side deadlines around the MCU's own pace (no spec value: [inferred]). */
  identifyTimeoutMs: number;
  planTriggerTimeoutMs: number;
  planReplyTimeoutMs: number;
}

export const QUECTHING_DEFAULTS: Readonly<QuecthingSotaOptions> = Object.freeze({
  echo: true,
  unknownCommand: 'ok',
  urcGapMs: 50,
  planTrigger: 'request',
  pieceSizeBytes: 0,
  maxReadBytes: 1024,
  readIdleTimeoutMs: 60_000,
  updateWindowMs: 20 * 60_000,
  dataTrailer: '\r\n',
  batteryLimitPct: 0,
  minSignalDbm: 0,
  strictVerdict: true,
  tolerateOldVersionReport: true,
  emitQind: false,
  downloadGapMs: 100,
  maxDownloadErrors: 5,
  component: null,
  announceWindowMs: 5000,
  identifyTimeoutMs: 15_000,
  planTriggerTimeoutMs: 60_000,
  planReplyTimeoutMs: 60_000,
});

const TRIGGERS: readonly PlanTrigger[] = ['request', 'registered', 'start'];

/** Defaults + profile record → validated options. Throws CONFIG_INVALID on a bad profile. */
export function resolveQuecthingOptions(raw: Record<string, unknown> = {}): QuecthingSotaOptions {
  const o: Record<string, unknown> = { ...QUECTHING_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && k in QUECTHING_DEFAULTS) o[k] = v;
  const bad = (k: string, why: string): never => {
    throw new StationError('CONFIG_INVALID', `quecthing-sota option ${k}: ${why}`);
  };
  for (const [k, v] of Object.entries(QUECTHING_DEFAULTS)) {
    if (typeof v === 'number' && (typeof o[k] !== 'number' || !Number.isFinite(o[k]))) bad(k, 'must be a number');
    if (typeof v === 'boolean' && typeof o[k] !== 'boolean') bad(k, 'must be true or false');
  }
  if (!TRIGGERS.includes(o.planTrigger as PlanTrigger)) bad('planTrigger', `must be one of ${TRIGGERS.join(', ')}`);
  if (o.unknownCommand !== 'ok' && o.unknownCommand !== 'error') bad('unknownCommand', 'must be ok or error');
  if (typeof o.dataTrailer !== 'string') bad('dataTrailer', 'must be a string');
  if (o.component !== null && (typeof o.component !== 'string' || o.component.length < 1 || o.component.length > 32)) bad('component', 'must be null or 1..32 characters');
  if ((o.maxReadBytes as number) < 1) bad('maxReadBytes', 'must be ≥ 1');
  if ((o.pieceSizeBytes as number) < 0) bad('pieceSizeBytes', 'must be ≥ 0 (0 = whole image)');
  for (const k of ['announceWindowMs', 'urcGapMs', 'readIdleTimeoutMs', 'updateWindowMs', 'downloadGapMs', 'maxDownloadErrors', 'identifyTimeoutMs', 'planTriggerTimeoutMs', 'planReplyTimeoutMs']) {
    if ((o[k] as number) < 0) bad(k, 'must be ≥ 0');
  }
  return o as unknown as QuecthingSotaOptions;
}

/**
 * The plan's policy → the plan the MCU gets (issue 9 §8): event 10700 carries a battery limit and
 * a minimum signal, and the MCU refuses the plan (AT+QIOTUPDATE=0 → POLICY_BLOCKED) when it is
 * below them — the device enforces the limits through its protocol.
 */
export function applyQuecthingPolicy(raw: Record<string, unknown>, policy: PlanPolicy): Record<string, unknown> {
  const o = resolveQuecthingOptions(raw);
  const out: Record<string, unknown> = { ...raw };
  if (policy.minBatteryPct !== undefined) out.batteryLimitPct = Math.max(o.batteryLimitPct, policy.minBatteryPct);
  if (policy.minRssiDbm !== undefined) out.minSignalDbm = o.minSignalDbm === 0 ? policy.minRssiDbm : Math.max(o.minSignalDbm, policy.minRssiDbm);
  return out;
}

/** Issue 9 §6: the options this issue added or changed, for `flashline options quecthing-sota`. */
export const QUECTHING_ISSUE9_OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'announceWindowMs', type: 'number', default: 5000, unit: 'ms', min: 0, meaning: 'After AT+QIOTREG=1 (or an OTA request) wait this long for the MCU’s version announcement (AT+QIOTMCUVER) before planning without one; the version gate and version_before use it.' },
  { key: 'component', type: 'string|null', default: null, meaning: 'Component in the plan; null = the package’s when its manifest names one, else the component the MCU announced. A different announced component fails at once (SOTA_COMPONENT_UNKNOWN).' },
];

/**
 * Quectel-module MCUs as they are (built-in profile `quectel-mcu`, vendor-behaviour.md): echo off
 * (an echoed AT+QIOTMCUVER line confuses Quectel's MCU parser), a generous announcement window
 * (the simulator announces when its operator sets the version), 1 KiB reads, plan on request,
 * component from the MCU, a long update window (=3 and the report can be operator actions).
 */
export const QUECTEL_MCU_OPTIONS: Readonly<Partial<QuecthingSotaOptions>> = Object.freeze({
  echo: false,
  announceWindowMs: 10_000,
  component: null,
  planTrigger: 'request',
  maxReadBytes: 1024,
  updateWindowMs: 20 * 60_000,
  strictVerdict: true,
});
