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
  /** §7.4: retransmission rounds without progress before giving up (Tencent's host: 5). */
  maxRetransmitRounds: number;
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
  checkTimeoutMs: 10_000,
  checkMsPerKiB: 2,
  zeroIntervalMs: 10,
  mtuResult: 'after-sync',
  recoverStaleResume: true,
  rebootDropWaitMs: 3000,
  unixTimeSec: () => Math.floor(Date.now() / 1000),
});

export function resolveLlsyncOptions(raw: Record<string, unknown> = {}): LlsyncOptions {
  const o: Record<string, unknown> = { ...LLSYNC_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && k in LLSYNC_DEFAULTS) o[k] = v;
  const bad = (k: string, why: string): never => {
    throw new StationError('CONFIG_INVALID', `llsync-ota option ${k}: ${why}`);
  };
  for (const [k, v] of Object.entries(LLSYNC_DEFAULTS)) {
    if (typeof v === 'number' && (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k] as number) < 0)) bad(k, 'must be a number ≥ 0');
    if (typeof v === 'boolean' && typeof o[k] !== 'boolean') bad(k, 'must be true or false');
  }
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
  return o as unknown as LlsyncOptions;
}

/** The PSK for a unit: the first of its keys found in pskByUnit, else the profile's localPsk. */
export function pskFor(opts: LlsyncOptions, keys: (string | undefined)[]): string {
  for (const k of keys) if (k && opts.pskByUnit[k]) return opts.pskByUnit[k]!;
  return opts.localPsk;
}
