/**
 * The llsync-ota option schema (issue 9 §9): every key resolveLlsyncOptions accepts, with its
 * type, default, unit, range and meaning, for `--opt` checking and `flashline options`.
 * Pure data. `unixTimeSec` is a test hook (a function), not an option, and is not listed.
 */
import type { OptionSpec } from '../../../contract/dto.js';

export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'localPsk', type: 'string', default: '00000000', meaning: 'Local PSK for connection auth, 8 hex digits (§6.1); never-bound units use zeros.' },
  { key: 'pskByUnit', type: 'object', default: {}, meaning: 'Per-unit PSKs: unit id, address, serial number or device name → 8 hex digits (bound units, §6.2).' },
  { key: 'pskCsvPath', type: 'string|null', default: null, meaning: 'CSV file of `unit,psk` lines merged into pskByUnit (bound units).' },
  { key: 'verifyDeviceSignature', type: 'boolean', default: true, meaning: 'Check the device’s connection signature (needs the product id from advertising or productId).' },
  { key: 'productId', type: 'string|null', default: null, meaning: 'Tencent product id (up to 10 ASCII characters); null = taken from the advertisement.' },
  { key: 'replyTimeoutMs', type: 'number', default: 10_000, unit: 'ms', min: 100, max: 600_000, meaning: 'Wait for the auth and OTA request replies (Tencent’s host: 10 s).' },
  { key: 'dataReplyTimeoutFactor', type: 'number', default: 5, unit: '× retry period', min: 1, max: 100, meaning: 'Wait for a data reply = the device’s retry period × this (§7.4).' },
  { key: 'maxRetransmitRounds', type: 'number', default: 5, min: 1, max: 1000, meaning: 'Retransmission rounds in one loop before the attempt fails (Tencent’s host: 5).' },
  { key: 'retransmitRoundsCount', type: 'enum', default: 'any', values: ['any', 'no-progress'], meaning: 'Which retransmission requests count: every one (§7.4) or only those that gained no bytes (slow-flash products).' },
  { key: 'checkTimeoutMs', type: 'number', default: 10_000, unit: 'ms', min: 100, max: 3_600_000, meaning: 'Minimum wait for the check result after end of file (§7.6).' },
  { key: 'checkMsPerKiB', type: 'number', default: 2, unit: 'ms/KiB', min: 0, max: 10_000, meaning: 'Extra check-result wait per KiB of image (the device CRCs its flash).' },
  { key: 'zeroIntervalMs', type: 'number', default: 10, unit: 'ms', min: 0, max: 10_000, meaning: 'Packet gap used when the device asks for interval 0 (Tencent’s host: 10 ms).' },
  { key: 'mtuResult', type: 'enum', default: 'after-sync', values: ['after-sync', 'always', 'never'], meaning: 'When to write the MTU result `09 0000` (§5): after the device’s MTU sync, always, or never.' },
  { key: 'recoverStaleResume', type: 'boolean', default: true, meaning: 'Recover from the SDK 1.4.1 stale-resume quirk by END and a new request (§11.1).' },
  { key: 'rebootDropWaitMs', type: 'number', default: 3000, unit: 'ms', min: 0, max: 600_000, meaning: 'After a passed check, wait this long for the device to drop the link before closing it.' },
  { key: 'rebootMarginMs', type: 'number', default: 5000, unit: 'ms', min: 0, max: 600_000, meaning: 'Added to the reboot time the device announced: the confirm window (§7.7, flash CRC and boot).' },
];
