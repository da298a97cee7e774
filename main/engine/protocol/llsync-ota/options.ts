/**
 * The LLSync product profile: PSKs, timeouts and the behaviours llsync-ota.md marks UNSURE,
 * each with the spec's default, resolved and validated from a free-form options record.
 * Pure data; no I/O.
 */
import fs from 'node:fs';
import { StationError } from '../../errors.js';
import { parsePsk } from './frames.js';

export interface LlsyncOptions {
  /** §6.1: local PSK, 8 hex digits; never-bound units authenticate with zeros. */
  localPsk: string;
  /** Per-unit PSKs (unit id, address, serial number or device name → hex), from settings. */
  pskByUnit: Record<string, string>;
  /** A CSV of `unit,psk` lines merged into pskByUnit (UNSURE per product: bound units). */
  pskCsvPath: string | null;
  /** Check the device's connection signature (needs the product id from advertising or the profile). */
  verifyDeviceSignature: boolean;
  productId: string | null;
  /** §6: auth and request replies (Tencent's host: 10 s). */
  replyTimeoutMs: number;
  /** §7.4: wait for a data reply = retry period × this (spec: × 5). */
  dataReplyTimeoutFactor: number;
  /** §7.4: retransmission rounds in one loop before giving up (Tencent's host: 5). */
  maxRetransmitRounds: number;
  /**
   * Which rounds count against maxRetransmitRounds: 'any' (§7.4's host algorithm: every
   * retransmission request in a loop) or 'no-progress' (only requests that gained no bytes —
   * for products whose slow flash loses packets at every page write).
   */
  retransmitRoundsCount: 'any' | 'no-progress';
  /** §7.6: minimum wait for the check result; scaled with size by checkMsPerKiB (UNSURE device speed). */
  checkTimeoutMs: number;
  checkMsPerKiB: number;
  /** §7.2: Tencent's host treats interval 0 as 10 ms. */
  zeroIntervalMs: number;
  /** §5: answer a 0x0c MTU sync with `09 0000` ('after-sync', as the traces), always, or never. */
  mtuResult: 'after-sync' | 'always' | 'never';
  /** §11.1: recover from the different-image quirk (END, then request again). */
  recoverStaleResume: boolean;
  /** §7.7: after 0b 80 wait this long for the device to drop the link before closing it ourselves. */
  rebootDropWaitMs: number;
  /** §7.7/§14: the confirm wait is the device's reported reboot time plus this margin (flash CRC, boot). */
  rebootMarginMs: number;
  /** Unix seconds for the auth timestamp (tests inject a fixed clock). */
  unixTimeSec: () => number;
}

export const LLSYNC_DEFAULTS: Readonly<LlsyncOptions> = Object.freeze({
  localPsk: '00000000',
  pskByUnit: {},
  pskCsvPath: null,
  verifyDeviceSignature: true,
  productId: null,
  replyTimeoutMs: 10_000,
  dataReplyTimeoutFactor: 5,
  maxRetransmitRounds: 5,
  retransmitRoundsCount: 'any',
  checkTimeoutMs: 10_000,
  checkMsPerKiB: 2,
  zeroIntervalMs: 10,
  mtuResult: 'after-sync',
  recoverStaleResume: true,
  rebootDropWaitMs: 3000,
  rebootMarginMs: 5000,
  unixTimeSec: () => Math.floor(Date.now() / 1000),
});

export function resolveLlsyncOptions(raw: Record<string, unknown> = {}): LlsyncOptions {
  const o: Record<string, unknown> = { ...LLSYNC_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && k in LLSYNC_DEFAULTS) o[k] = v;
  // `--opt llsync-ota.localPsk=00001234` arrives as the number 1234: digits-only PSKs get their zeros back.
  if (typeof o.localPsk === 'number' && Number.isInteger(o.localPsk) && o.localPsk >= 0) o.localPsk = String(o.localPsk).padStart(8, '0');
  const bad = (k: string, why: string): never => {
    throw new StationError('CONFIG_INVALID', `llsync-ota option ${k}: ${why}`);
  };
  for (const [k, v] of Object.entries(LLSYNC_DEFAULTS)) {
    if (typeof v === 'number' && (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k] as number) < 0)) bad(k, 'must be a number ≥ 0');
    if (typeof v === 'boolean' && typeof o[k] !== 'boolean') bad(k, 'must be true or false');
  }
  if (o.productId !== null && (typeof o.productId !== 'string' || !/^[\x20-\x7e]{1,10}$/.test(o.productId))) bad('productId', 'must be up to 10 ASCII characters or null');
  if (typeof o.unixTimeSec !== 'function') bad('unixTimeSec', 'must be a function');
  if (!['after-sync', 'always', 'never'].includes(o.mtuResult as string)) bad('mtuResult', 'must be after-sync, always or never');
  if (!parsePsk(String(o.localPsk)).ok) bad('localPsk', 'must be 8 hex digits');
  if (typeof o.pskByUnit !== 'object' || o.pskByUnit === null) bad('pskByUnit', 'must be an object');
  const psks: Record<string, string> = { ...(o.pskByUnit as Record<string, string>) };
  if (o.pskCsvPath !== null) {
    if (typeof o.pskCsvPath !== 'string') bad('pskCsvPath', 'must be a path or null');
    let text = '';
    try {
      text = fs.readFileSync(o.pskCsvPath as string, 'utf8');
    } catch (e) {
      bad('pskCsvPath', `cannot read: ${(e as Error).message}`);
    }
    for (const line of text.split(/\r?\n/)) {
      const [unit, psk] = line.split(',').map((s) => s.trim());
      if (!unit || !psk || unit.startsWith('#') || /^unit$/i.test(unit)) continue;
      psks[unit] = psk;
    }
  }
  for (const [u, p] of Object.entries(psks)) if (!parsePsk(p).ok) bad('pskByUnit', `PSK for ${u} must be 8 hex digits`);
  o.pskByUnit = psks;
  if ((o.maxRetransmitRounds as number) < 1) bad('maxRetransmitRounds', 'must be ≥ 1');
  if (o.retransmitRoundsCount !== 'any' && o.retransmitRoundsCount !== 'no-progress') bad('retransmitRoundsCount', "must be 'any' or 'no-progress'");
  return o as unknown as LlsyncOptions;
}

/** The PSK for a unit: the first of its keys found in pskByUnit, else the profile's localPsk. */
export function pskFor(opts: LlsyncOptions, keys: (string | undefined)[]): string {
  return unitPskFor(opts, keys) ?? opts.localPsk;
}

/** Only a per-unit PSK (settings or CSV); keys compare exactly, then MAC-like keys without separators and case. */
export function unitPskFor(opts: LlsyncOptions, keys: (string | undefined)[]): string | undefined {
  for (const k of keys) if (k && opts.pskByUnit[k]) return opts.pskByUnit[k]!;
  const norm = (s: string) => s.toLowerCase().replace(/[:-]/g, '');
  const wanted = new Set(keys.filter((k): k is string => !!k).map(norm));
  for (const [k, psk] of Object.entries(opts.pskByUnit)) if (wanted.has(norm(k))) return psk;
  return undefined;
}
