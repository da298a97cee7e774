/**
 * The YMODEM product profile: every timing, framing and console option of the sender, with the
 * defaults of ymodem.md §6–§7, resolved and validated from a free-form options record.
 * Pure data; no I/O.
 */
import { StationError } from '../../errors.js';
import { SUB, type HeaderStyle } from './frames.js';

export type YmodemMode = 'ymodem' | 'xmodem-1k' | 'xmodem-crc' | 'xmodem-checksum';
/** How confirm() learns the new version: the application's boot line, a version query, either, or not at all. */
export type ConfirmMode = 'auto' | 'boot-line' | 'query' | 'none';

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
}

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
  for (const [k, v] of Object.entries(YMODEM_DEFAULTS)) {
    if (typeof v === 'number' && (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k] as number) < 0)) bad(k, 'must be a number ≥ 0');
    if (typeof v === 'boolean' && typeof o[k] !== 'boolean') bad(k, 'must be true or false');
    if (v instanceof RegExp) o[k] = toRegExp(k, o[k], bad);
  }
  for (const k of ['maxBlocks', 'flashBytes', 'minBatteryPct']) {
    if (o[k] !== null && (typeof o[k] !== 'number' || (o[k] as number) < 0)) bad(k, 'must be null or a number ≥ 0');
  }
  for (const k of ['versionQuery', 'batteryQuery', 'serialQuery', 'bootTrigger', 'fileName']) {
    if (o[k] !== null && typeof o[k] !== 'string') bad(k, 'must be null or a string');
  }
  if ((o.maxRetries as number) < 1) bad('maxRetries', 'must be ≥ 1');
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
