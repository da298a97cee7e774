/**
 * The YMODEM product profile: every timing, framing and console option of the sender, with the
 * defaults of ymodem.md §6–§7, resolved and validated from a free-form options record.
 * Pure data; no I/O.
 */
import type { OptionSpec, PlanPolicy } from '../../../contract/dto.js';
import { StationError } from '../../errors.js';
import { MAX_NAME_BYTES, SUB, type HeaderStyle } from './frames.js';

export type YmodemMode = 'ymodem' | 'xmodem-1k' | 'xmodem-crc' | 'xmodem-checksum';
/** How confirm() learns the new version: the application's boot line, a version query, either, or not at all. */
export type ConfirmMode = 'auto' | 'boot-line' | 'query' | 'none';
/** How the loader prints its result: `OK`/`ERR` lines, ST AN4657's text (issue 9 §5). */
export type VerdictFormat = 'ok-err' | 'st-iap';
/** A file name longer than maxFileNameChars: shorten it (keeping the extension) or refuse the job. */
export type FileNameOverflow = 'truncate' | 'refuse';

export interface YmodemOptions {
  mode: YmodemMode;
  blockSize: 1024 | 128;
  tail: 'same' | '128';
  padByte: number;
  headerStyle: HeaderStyle;
  /** Name sent in block 0; null = the package component's file name. */
  fileName: string | null;
  mtimeSec: number;
  allowChecksumFallback: boolean;
  /** Tries per header, data block and EOT (total sends, §6 "max 10 tries"). */
  maxRetries: number;
  endOfBatchRetries: number;
  /** ST-style loaders count blocks in 8 bits (§8.1.2): refuse images needing more data blocks. */
  maxBlocks: number | null;
  /** The product's flash size: bigger images are refused before sending (§8.1.1). */
  flashBytes: number | null;
  startTimeoutMs: number;
  startSilenceMs: number;
  startSettleMs: number;
  headerAckTimeoutMs: number;
  dataStartTimeoutMs: number;
  startDataWithoutC: boolean;
  blockReplyTimeoutMs: number;
  eotTimeoutMs: number;
  endOfBatchTimeoutMs: number;
  cancelBytes: number;
  // Application console and verdict around the bootloader (product profile).
  versionQuery: string | null;
  versionReply: RegExp;
  batteryQuery: string | null;
  batteryReply: RegExp;
  serialQuery: string | null;
  serialReply: RegExp;
  identifyTimeoutMs: number;
  minBatteryPct: number | null;
  bootTrigger: string | null;
  verdict: boolean;
  verdictTimeoutMs: number;
  confirm: ConfirmMode;
  bootLine: RegExp;
  confirmQueryIntervalMs: number;
  rebootTimeoutMs: number;
  /** Extra wait in activate() before confirm starts listening. */
  activateDelayMs: number;
  // Menu-driven loaders (ST AN4657 IAP, issue 9 §5).
  /** Key that starts a download from the loader's menu (ST: "1"); null = no menu. */
  menuKey: string | null;
  /** The menu's last line: the key is sent only after it (a key sent while the menu prints is lost). */
  menuPrompt: RegExp | null;
  /** Wait this long for the prompt; then send the key anyway (the menu may have been printed before the port opened). */
  menuPromptTimeoutMs: number;
  /** No lone `C` within this after the key → send the key again. */
  menuRetryMs: number;
  /** Keys sent before giving up with PROTOCOL_NO_START. */
  menuTries: number;
  /** Recover a loader left mid-session (CAN CAN every second, or NAK to our header) by cancelling it and starting again. */
  recoverAbandoned: boolean;
  /** Recoveries per attempt. */
  recoverTries: number;
  /** Control bytes (CAN CAN) go out only when the loader listens, i.e. after its ACK/NAK/`C` (one-byte receive register). */
  controlWhenListening: boolean;
  /** How often a cancel is sent when the loader does not confirm it. */
  controlRepeats: number;
  /** Wait for the loader's answer to a cancel before repeating it. */
  controlGapMs: number;
  /** Longest file name sent in block 0 (ST: 63, its buffer holds 64 with the NUL). */
  maxFileNameChars: number;
  fileNameOverflow: FileNameOverflow;
  /** How to read the loader's printed result when `verdict` is on. */
  verdictFormat: VerdictFormat;
}

/**
 * The end of ST's main menu: after the "Main Menu" title, the first line of only `=` signs
 * (the line before it is option 4). The title line itself ends in `=`s but does not start with one.
 */
export const ST_MENU_PROMPT = /Main Menu[^\n]*\n[\s\S]*?\n=+\r?\n/;

export const YMODEM_DEFAULTS: Readonly<YmodemOptions> = Object.freeze({
  mode: 'ymodem',
  blockSize: 1024, // §7 / §8.1.2: 1K blocks with ST-style loaders
  tail: 'same',
  padByte: SUB,
  headerStyle: 'size-mtime', // §4 station default
  fileName: null,
  mtimeSec: 0,
  allowChecksumFallback: false,
  maxRetries: 10, // §6 [spec]
  endOfBatchRetries: 3, // §6.6
  maxBlocks: null,
  flashBytes: null,
  startTimeoutMs: 30_000, // §6.1
  startSilenceMs: 30,
  startSettleMs: 30,
  headerAckTimeoutMs: 30_000, // §6.2: ST erases before this ACK
  dataStartTimeoutMs: 10_000, // §6.3
  startDataWithoutC: false,
  blockReplyTimeoutMs: 10_000, // §6.4
  eotTimeoutMs: 10_000, // §6.5
  endOfBatchTimeoutMs: 10_000, // §6.6
  cancelBytes: 5, // §6.7
  versionQuery: 'ver\r\n',
  versionReply: /^VER\s+(\S+)/m,
  batteryQuery: null,
  batteryReply: /^BAT\s+(\d+)/m,
  serialQuery: null,
  serialReply: /^SN\s+(\S+)/m,
  identifyTimeoutMs: 1500, // > the ST loader's 1 s C interval, so a bricked unit shows its C
  minBatteryPct: null,
  bootTrigger: 'boot\r\n',
  verdict: true,
  verdictTimeoutMs: 5000,
  confirm: 'auto',
  bootLine: /^APP\s+(\S+)\s+READY/m,
  confirmQueryIntervalMs: 1000,
  rebootTimeoutMs: 15_000,
  activateDelayMs: 0,
  menuKey: null,
  menuPrompt: null,
  menuPromptTimeoutMs: 3000,
  menuRetryMs: 3000,
  menuTries: 5,
  recoverAbandoned: false,
  recoverTries: 2,
  controlWhenListening: false,
  controlRepeats: 1,
  controlGapMs: 300,
  maxFileNameChars: 64, // §4 station default
  fileNameOverflow: 'truncate',
  verdictFormat: 'ok-err',
});

/**
 * ST's AN4657 IAP loader as it ships (vendor-behaviour.md "ST IAP YMODEM loader"): drive its menu
 * with "1" after the menu's closing line, no console or version query (confirm = the loader's
 * verdict and the size it prints), 1K blocks and at most 255 of them (8-bit counter, §8.1.2),
 * names ≤ 63 characters, CAN CAN only while it listens and repeated, recovery of an abandoned
 * session. `flashBytes` is the STM32F091 example's application area (0x08004000–0x0803FFFF);
 * set it to your part's.
 */
export const ST_IAP_YMODEM_OPTIONS: Readonly<Partial<YmodemOptions>> = Object.freeze({
  mode: 'ymodem',
  blockSize: 1024,
  tail: 'same',
  headerStyle: 'size-mtime',
  maxBlocks: 255,
  flashBytes: 245_760,
  versionQuery: null,
  batteryQuery: null,
  serialQuery: null,
  bootTrigger: null,
  verdict: true,
  verdictFormat: 'st-iap',
  verdictTimeoutMs: 5000,
  confirm: 'none',
  menuKey: '1',
  menuPrompt: ST_MENU_PROMPT,
  menuPromptTimeoutMs: 3000,
  menuRetryMs: 3000,
  menuTries: 5,
  recoverAbandoned: true,
  recoverTries: 2,
  controlWhenListening: true,
  cancelBytes: 2, // exactly CAN CAN: spare CANs would reach its menu as keys
  controlRepeats: 3,
  controlGapMs: 1200,
  maxFileNameChars: 63,
  fileNameOverflow: 'truncate',
});

/** lrzsz `rb`/`rx` and other bare receivers: no console, no verdict, nothing to confirm. */
export const BARE_RECEIVER_PROFILE: Readonly<Partial<YmodemOptions>> = Object.freeze({
  versionQuery: null,
  bootTrigger: null,
  verdict: false,
  confirm: 'none',
});

const MODES: readonly YmodemMode[] = ['ymodem', 'xmodem-1k', 'xmodem-crc', 'xmodem-checksum'];
const CONFIRM_MODES: readonly ConfirmMode[] = ['auto', 'boot-line', 'query', 'none'];
const HEADER_STYLES: readonly HeaderStyle[] = ['size-only', 'size-mtime', 'full'];
const VERDICT_FORMATS: readonly VerdictFormat[] = ['ok-err', 'st-iap'];
const NAME_OVERFLOWS: readonly FileNameOverflow[] = ['truncate', 'refuse'];
/** Options whose value is a pattern (RegExp or its source string) or null. */
const NULLABLE_PATTERNS = ['menuPrompt'];

/** Defaults + profile record → validated options. Throws CONFIG_INVALID on a bad profile. */
export function resolveYmodemOptions(raw: Record<string, unknown> = {}): YmodemOptions {
  const o: Record<string, unknown> = { ...YMODEM_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && k in YMODEM_DEFAULTS) o[k] = v;
  const bad = (k: string, why: string): never => {
    throw new StationError('CONFIG_INVALID', `ymodem option ${k}: ${why}`);
  };
  const oneOf = <T>(k: string, allowed: readonly T[]) => {
    if (!allowed.includes(o[k] as T)) bad(k, `must be one of ${allowed.join(', ')}`);
  };
  oneOf('mode', MODES);
  oneOf('confirm', CONFIRM_MODES);
  oneOf('headerStyle', HEADER_STYLES);
  oneOf('tail', ['same', '128']);
  oneOf('blockSize', [1024, 128]);
  oneOf('verdictFormat', VERDICT_FORMATS);
  oneOf('fileNameOverflow', NAME_OVERFLOWS);
  for (const [k, v] of Object.entries(YMODEM_DEFAULTS)) {
    if (typeof v === 'number' && (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k] as number) < 0)) bad(k, 'must be a number ≥ 0');
    if (typeof v === 'boolean' && typeof o[k] !== 'boolean') bad(k, 'must be true or false');
    if (v instanceof RegExp) o[k] = toRegExp(k, o[k], bad);
  }
  for (const k of ['maxBlocks', 'flashBytes', 'minBatteryPct']) {
    if (o[k] !== null && (typeof o[k] !== 'number' || (o[k] as number) < 0)) bad(k, 'must be null or a number ≥ 0');
  }
  // A single digit key may come as a number (`--opt ymodem.menuKey=1`): it is that key.
  if (typeof o.menuKey === 'number' && Number.isInteger(o.menuKey) && o.menuKey >= 0 && o.menuKey <= 9) o.menuKey = String(o.menuKey);
  for (const k of ['versionQuery', 'batteryQuery', 'serialQuery', 'bootTrigger', 'fileName', 'menuKey']) {
    if (o[k] !== null && typeof o[k] !== 'string') bad(k, 'must be null or a string');
  }
  for (const k of NULLABLE_PATTERNS) if (o[k] !== null) o[k] = toRegExp(k, o[k], bad);
  if ((o.maxRetries as number) < 1) bad('maxRetries', 'must be ≥ 1');
  for (const k of ['menuTries', 'controlRepeats', 'maxFileNameChars']) if ((o[k] as number) < 1 || !Number.isInteger(o[k])) bad(k, 'must be an integer ≥ 1');
  if ((o.maxFileNameChars as number) > MAX_NAME_BYTES) bad('maxFileNameChars', `must be ≤ ${MAX_NAME_BYTES}`);
  if (o.menuKey === '') bad('menuKey', 'must be null or a non-empty string');
  if (o.menuPrompt !== null && o.menuKey === null) bad('menuPrompt', 'needs a menuKey');
  // Policies fail closed (issue 9 §8): a battery minimum needs a way to read the battery.
  if (o.minBatteryPct !== null && o.batteryQuery === null) {
    throw new StationError('POLICY_UNCHECKABLE', 'ymodem option minBatteryPct: this profile has no batteryQuery, so the battery cannot be checked');
  }
  return o as unknown as YmodemOptions;
}

function toRegExp(k: string, v: unknown, bad: (k: string, why: string) => never): RegExp {
  if (v instanceof RegExp) return v;
  if (typeof v !== 'string') return bad(k, 'must be a RegExp or a pattern string');
  try {
    return new RegExp(v, 'm');
  } catch {
    return bad(k, 'is not a valid pattern');
  }
}

/**
 * The plan's policy → ymodem options (issue 9 §8, fail closed): a battery minimum is enforced by
 * the session through the console's battery query, so a profile without one cannot take it; a
 * serial unit reports no signal strength. Throws POLICY_UNCHECKABLE before any unit starts.
 */
export function applyYmodemPolicy(raw: Record<string, unknown>, policy: PlanPolicy): Record<string, unknown> {
  const o = resolveYmodemOptions(raw);
  if (policy.minRssiDbm !== undefined) {
    throw new StationError('POLICY_UNCHECKABLE', `the plan requires a signal of at least ${policy.minRssiDbm} dBm, but a serial (ymodem) unit reports no signal strength`);
  }
  if (policy.minBatteryPct === undefined) return raw;
  if (o.batteryQuery === null) {
    throw new StationError('POLICY_UNCHECKABLE', `the plan requires a battery of at least ${policy.minBatteryPct} %, but this ymodem profile cannot read the battery (no batteryQuery; a bootloader like ST's IAP reports none)`);
  }
  return { ...raw, minBatteryPct: Math.max(policy.minBatteryPct, o.minBatteryPct ?? 0) };
}

/** Issue 9 §5: the options this issue added, for `flashline options ymodem` (OptionSpec of the contract). */
export const YMODEM_ISSUE9_OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'menuKey', type: 'string|null', default: null, meaning: 'Key that starts a download from the loader menu (ST IAP: "1"); null = the loader needs no menu. A single digit may be given as a number.' },
  { key: 'menuPrompt', type: 'string|null', default: null, meaning: 'Pattern (RegExp source) of the menu end; the key is sent only after it, because a key sent while the menu prints is lost. Needs menuKey.' },
  { key: 'menuPromptTimeoutMs', type: 'number', default: 3000, unit: 'ms', min: 0, meaning: 'Wait this long for the menu prompt (or a start request); then send the key anyway (the menu may have been printed before the port opened).' },
  { key: 'menuRetryMs', type: 'number', default: 3000, unit: 'ms', min: 0, meaning: 'No lone C within this after the key (or the menu printed again): send the key again.' },
  { key: 'menuTries', type: 'number', default: 5, min: 1, meaning: 'Menu keys sent before the attempt fails with PROTOCOL_NO_START.' },
  { key: 'recoverAbandoned', type: 'boolean', default: false, meaning: 'A loader left mid-session (CAN CAN every second, or NAK to our header) is cancelled with CAN CAN / "a" and started again, so resume needs no power cycle.' },
  { key: 'recoverTries', type: 'number', default: 2, min: 0, meaning: 'Recoveries of an abandoned loader per attempt.' },
  { key: 'controlWhenListening', type: 'boolean', default: false, meaning: 'Send CAN CAN only after the loader answered the block in flight (a one-byte receive register loses bytes while it writes flash).' },
  { key: 'controlRepeats', type: 'number', default: 1, min: 1, meaning: 'How often a cancel is sent when the loader does not confirm it (then "a" once).' },
  { key: 'controlGapMs', type: 'number', default: 300, unit: 'ms', min: 0, meaning: 'Wait for the loader to confirm a cancel (ACK or "Aborted") before repeating it.' },
  { key: 'maxFileNameChars', type: 'number', default: 64, min: 1, max: 64, meaning: 'Longest file name in block 0 (ST IAP: 63, its buffer holds 64 with the NUL).' },
  { key: 'fileNameOverflow', type: 'enum', default: 'truncate', values: ['truncate', 'refuse'], meaning: 'A longer name is shortened keeping its extension, or refused (CONFIG_INVALID).' },
  { key: 'verdictFormat', type: 'enum', default: 'ok-err', values: ['ok-err', 'st-iap'], meaning: 'How the loader prints its result: OK/ERR lines, or ST AN4657 text ("Programming Completed Successfully!" with "Size: N Bytes", "Verification failed!", "Aborted by user.", "Failed to receive the file!").' },
];
