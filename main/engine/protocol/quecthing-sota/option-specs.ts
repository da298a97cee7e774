/**
 * The quecthing-sota option schema (issue 9 §9): every key resolveQuecthingOptions accepts, with
 * type, default, unit, range and meaning. Pure data.
 */
import type { OptionSpec } from '../../../contract/dto.js';
import { QUECTHING_ISSUE9_OPTION_SPECS } from './options.js';

const BASE_SPECS: readonly OptionSpec[] = [
  { key: 'echo', type: 'boolean', default: true, meaning: 'Echo each command line (ATE0/ATE1 change it per link).' },
  { key: 'unknownCommand', type: 'enum', default: 'ok', values: ['ok', 'error'], meaning: 'Reply to commands the station does not know: OK (lenient) or ERROR (strict).' },
  { key: 'urcGapMs', type: 'number', default: 50, unit: 'ms', min: 0, max: 60_000, meaning: 'Gap between a final result code and the URCs it caused.' },
  { key: 'planTrigger', type: 'enum', default: 'request', values: ['request', 'registered', 'start'], meaning: 'When the station sends the plan (10700): on the MCU’s request, at registration, or at once.' },
  { key: 'pieceSizeBytes', type: 'number', default: 0, unit: 'bytes', min: 0, max: 64 * 1024 * 1024, meaning: 'The module’s piece size ("free flash"); 0 = the whole image in one piece.' },
  { key: 'maxReadBytes', type: 'number', default: 1024, unit: 'bytes', min: 1, max: 64 * 1024, meaning: 'Largest `+QIOTOTARD` reply.' },
  { key: 'readIdleTimeoutMs', type: 'number', default: 60_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Silence after 10703 (each read re-arms it) before 10706.' },
  { key: 'updateWindowMs', type: 'number', default: 20 * 60_000, unit: 'ms', min: 0, max: 24 * 3_600_000, meaning: 'From 10704 to the MCU’s new version report.' },
  { key: 'dataTrailer', type: 'string', default: '\r\n', meaning: 'Bytes between the read data and the final `CR LF OK CR LF`.' },
  { key: 'batteryLimitPct', type: 'number', default: 0, unit: '%', min: 0, max: 100, meaning: 'Battery limit sent in 10700.' },
  { key: 'minSignalDbm', type: 'number', default: 0, unit: 'dBm', min: -200, max: 0, meaning: 'Minimum signal sent in 10700.' },
  { key: 'strictVerdict', type: 'boolean', default: true, meaning: 'Pass only when every byte was served and `=3` came before the version report.' },
  { key: 'tolerateOldVersionReport', type: 'boolean', default: true, meaning: 'Before 10704, ignore a report equal to the version announced before the plan.' },
  { key: 'emitQind', type: 'boolean', default: false, meaning: 'Emit `+QIND: "FOTA","END",0` next to 10705 (some module families).' },
  { key: 'downloadGapMs', type: 'number', default: 100, unit: 'ms', min: 0, max: 60_000, meaning: 'Simulated module download: gaps between 10701, 10702 and 10703.' },
  { key: 'maxDownloadErrors', type: 'number', default: 5, min: 0, max: 1000, meaning: 'More than this many failed reads → 10706.' },
  { key: 'component', type: 'string|null', default: null, meaning: 'Component name in the plan (1..32 characters); null = the package component.' },
  { key: 'identifyTimeoutMs', type: 'number', default: 15_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the MCU to register and announce itself.' },
  { key: 'planTriggerTimeoutMs', type: 'number', default: 60_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the plan trigger (the MCU’s request).' },
  { key: 'planReplyTimeoutMs', type: 'number', default: 60_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the MCU’s answer to the plan.' },
];

/** The base options plus those the vendors' own loaders/MCUs need (issue 9 §5/§6); a later spec of the same key wins. */
export const OPTION_SPECS: readonly OptionSpec[] = [...new Map([...BASE_SPECS, ...QUECTHING_ISSUE9_OPTION_SPECS].map((s) => [s.key, s])).values()];
