/**
 * Verdicts say only what the device confirmed (issue 9 §1), on the summary/report side:
 * confirmed hashes only with the device's own confirmation, `confirmed_by` and `attempt_causes`
 * in every report format and inside the chain, attempt causes as one line in the JSON summary
 * and CLI text, a skipped unit's code apart from its reason, and hints that fit the unit's link.
 */
import { describe, expect, it } from 'vitest';
import type { AttemptCause, JobView, UnitRef } from '../../main/contract/dto.js';
import { buildReport, renderCsv, renderHtml, renderJson, verifyReport, type Report } from '../../main/engine/report/index.js';
import { readCsvReport } from '../../main/engine/report/csv.js';
import { buildFlashSummary, firstRealCause, formatAttemptCauses } from '../../main/engine/summary.js';
import { formatUnitLine, formatUnitOutcomes } from '../../main/cli/progress.js';
import { RESULT_TEXT, isStationErrorCode, linkClassOf, operatorText, resultText } from '../../main/engine/errors.js';
import { RESULT_CODES, PROTOCOL_IDS } from '../../main/contract/dto.js';
import { passedJob, queuedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

const cause = (attempt: number, code: string, result: AttemptCause['result'] = 'timeout'): AttemptCause => ({ attempt, code, result });

describe('formatAttemptCauses', () => {
  it.each([
    [[], ''],
    [[cause(1, 'SOTA_READ_TIMEOUT')], 'attempt 1: SOTA_READ_TIMEOUT'],
    [[cause(1, 'SOTA_READ_TIMEOUT'), cause(2, 'DEVICE_NOT_RESPONDING'), cause(3, 'DEVICE_NOT_RESPONDING')], 'attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING'],
    [[cause(1, 'A'), cause(2, 'A'), cause(3, 'B'), cause(4, 'A')], 'attempts 1–2: A; 3: B; 4: A'],
    [[cause(3, 'B'), cause(1, 'A'), cause(2, 'B')], 'attempt 1: A; 2–3: B'], // sorted by attempt
    [[cause(1, 'A'), cause(3, 'A')], 'attempt 1: A; 3: A'], // a gap is not a range
  ])('%j → %s', (causes, text) => {
    expect(formatAttemptCauses(causes)).toBe(text);
  });

  it('the first real cause skips station stops and cancels', () => {
    expect(firstRealCause([cause(1, 'STATION_INTERRUPTED', 'station_error'), cause(2, 'SOTA_READ_TIMEOUT')])?.code).toBe('SOTA_READ_TIMEOUT');
    expect(firstRealCause([cause(1, 'STATION_INTERRUPTED', 'station_error')])?.code).toBe('STATION_INTERRUPTED');
    expect(firstRealCause([])).toBeUndefined();
  });
});

const mcu: UnitRef = { unitId: 'serial:/dev/ttyUSB7', transport: 'serial', protocol: 'quecthing-sota', address: '/dev/ttyUSB7' };
const wifi: UnitRef = { unitId: 'mqtt:P1/dev-3', transport: 'net', protocol: 'mqtt-ota-tencent', address: 'P1/dev-3' };
const units = [sampleUnit(1), mcu, wifi, sampleUnit(4), sampleUnit(5)];
const jobs: JobView[] = [
  // passed with the device's own CRC and version; MD5 only echoed back by the station's own state
  { ...passedJob('B-5', units[0]!, 1), confirmed: { crc32: '2cd27a54', md5: '0123456789abcdef0123456789abcdef', confirmedBy: ['version-after-reboot', 'device-crc32'] }, attemptCauses: [cause(1, 'PROTOCOL_TIMEOUT')] },
  {
    ...passedJob('B-5', units[1]!, 2),
    state: 'failed', result: 'timeout', errorCode: 'SOTA_READ_TIMEOUT', attempts: 3, versionAfter: '1.3.2',
    confirmed: {},
    attemptCauses: [cause(1, 'SOTA_READ_TIMEOUT'), cause(2, 'DEVICE_NOT_RESPONDING'), cause(3, 'DEVICE_NOT_RESPONDING')],
  },
  { ...passedJob('B-5', units[2]!, 3), state: 'failed', result: 'timeout', errorCode: 'PROTOCOL_TIMEOUT', confirmed: {}, attemptCauses: [cause(1, 'PROTOCOL_TIMEOUT')] },
  { ...queuedJob('B-5', units[3]!, 4), state: 'skipped', errorCode: 'VERSION_AT_TARGET', skipReason: 'already at 1.4.0', endedAt: '2025-03-01T08:03:00.000Z' },
  // a pass that rests on a hash the device never confirmed: confirmed.crc32 without 'device-crc32'
  { ...passedJob('B-5', units[4]!, 5), confirmed: { crc32: '2cd27a54', confirmedBy: ['size'] } },
];
const batch = { ...sampleBatch('B-5', units), state: 'finished' as const, startedAt: '2025-03-01T08:02:00.000Z', endedAt: '2025-03-01T08:10:00.000Z' };

describe('JSON summary', () => {
  const s = buildFlashSummary(batch, jobs);

  it('carries confirmedBy and attemptCauses per unit, and a skipped unit has a code and a separate reason', () => {
    expect(s.units[0]).toMatchObject({ result: 'ok', code: null, confirmedBy: ['device-crc32', 'version-after-reboot'], attemptCauses: 'attempt 1: PROTOCOL_TIMEOUT' });
    expect(s.units[1]).toMatchObject({ result: 'timeout', code: 'SOTA_READ_TIMEOUT', confirmedBy: [], attemptCauses: 'attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING' });
    expect(s.units[3]).toMatchObject({ result: 'skipped', code: 'VERSION_AT_TARGET', reason: 'already at 1.4.0', attemptCauses: '' });
    expect(s.units[4]!.confirmedBy).toEqual(['size']);
    expect('reason' in s.units[0]!).toBe(false);
  });

  it('a skipped unit without a journaled code gets the code of its skip path, never its message', () => {
    const legacy = buildFlashSummary(batch, [
      { ...queuedJob('B-5', units[3]!, 6), state: 'skipped', message: 'already at 1.4.0' },
      { ...queuedJob('B-5', units[3]!, 7), state: 'skipped', message: 'on the deny list' },
    ]);
    expect(legacy.units.map((u) => [u.code, u.reason])).toEqual([['VERSION_AT_TARGET', 'already at 1.4.0'], ['DENY_LISTED', 'on the deny list']]);
  });

  it('falls back to causes derived from the journal when the view has none', () => {
    const bare = { ...jobs[2]!, attemptCauses: undefined };
    const out = buildFlashSummary(batch, [bare], new Map([[bare.jobId, [cause(1, 'NET_DOWNLOAD_FAILED', 'disconnected'), cause(2, 'PROTOCOL_TIMEOUT')]]]));
    expect(out.units[0]!.attemptCauses).toBe('attempt 1: NET_DOWNLOAD_FAILED; 2: PROTOCOL_TIMEOUT');
  });
});

describe('CLI text', () => {
  it('the progress line of a failed unit lists its attempt causes and a hint fitted to its link', () => {
    const line = formatUnitLine(jobs[1]!);
    expect(line).toContain('attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING');
    expect(line).not.toMatch(/serial bootloader/i);
    const net = formatUnitLine(jobs[2]!);
    expect(net).not.toMatch(/cable/i);
    expect(net).toMatch(/Wi-Fi/);
  });

  it('a passed line says which CRC the device confirmed, and never passes off the sent one as confirmed', () => {
    expect(formatUnitLine(jobs[0]!)).toMatch(/crc32 2cd27a54 \(device\)\s+confirmed by version-after-reboot\+device-crc32/);
    expect(formatUnitLine(jobs[4]!)).toContain('crc32 2cd27a54 (sent, unconfirmed)');
  });

  it('a skipped line shows the code and the reason', () => {
    expect(formatUnitLine(jobs[3]!)).toMatch(/skipped\s+VERSION_AT_TARGET: already at 1\.4\.0/);
  });

  it('the end-of-batch lines list units to look at with code, reason and causes', () => {
    const lines = formatUnitOutcomes(buildFlashSummary(batch, jobs));
    expect(lines).toContain('  serial:/dev/ttyUSB7 timeout SOTA_READ_TIMEOUT (attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING)');
    expect(lines).toContain('  serial:/dev/ttyUSB4 skipped VERSION_AT_TARGET — already at 1.4.0');
    expect(lines.some((l) => l.startsWith('  serial:/dev/ttyUSB1 ok') && l.includes('attempt 1: PROTOCOL_TIMEOUT'))).toBe(true);
    expect(lines.some((l) => l.includes('ttyUSB5'))).toBe(false); // passed first time: nothing to look at
  });
});

describe('report: confirmed_by and attempt_causes', () => {
  const report = buildReport(batch, jobs, { generatedAt: '2025-03-01T08:11:00.000Z' });

  it('confirmed hashes only with the device entry; confirmed_by lists what the pass rests on', () => {
    const [ok, mcuRow, , skipped, echo] = report.rows;
    expect(ok).toMatchObject({ confirmed_crc32: '2cd27a54', crc32_verdict: 'match', confirmed_md5: '', md5_verdict: 'unconfirmed', confirmed_by: 'device-crc32+version-after-reboot', attempt_causes: 'attempt 1: PROTOCOL_TIMEOUT' });
    expect(echo).toMatchObject({ confirmed_crc32: '', crc32_verdict: 'unconfirmed', confirmed_by: 'size' });
    expect(mcuRow).toMatchObject({ attempt_causes: 'attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING', confirmed_by: '' });
    expect(skipped).toMatchObject({ error_code: 'VERSION_AT_TARGET', detail: 'already at 1.4.0' });
  });

  it('both columns are in every format', () => {
    expect(readCsvReport(renderCsv(report)).rows[1]).toMatchObject({ attempt_causes: 'attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING', confirmed_by: '' });
    expect(JSON.parse(renderJson(report)).rows[0]).toMatchObject({ confirmed_by: 'device-crc32+version-after-reboot' });
    const html = renderHtml(report);
    expect(html).toContain('<td class="mono">device-crc32+version-after-reboot</td>');
    expect(html).toContain('attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING');
    expect(html).toContain('Confirmed by the device');
  });

  it('both columns are inside the chain: editing either is detected', () => {
    for (const [field, value] of [['confirmed_by', 'device-crc32+device-md5+version-after-reboot'], ['attempt_causes', '']] as const) {
      const data = JSON.parse(renderJson(report)) as Report;
      (data.rows[1] as unknown as Record<string, string>)[field] = value;
      const r = verifyReport(renderJson(data));
      expect(r.ok).toBe(false);
      expect(r.errors.join()).toContain('row 2');
    }
  });

  it('operator messages fit the unit: no cable for the Wi-Fi unit, no serial bootloader for the QuecThing MCU', () => {
    expect(report.rows[2]!.message_en).not.toMatch(/cable/i);
    expect(report.rows[2]!.message_zh).not.toContain('线缆');
    const notResponding = buildReport(batch, [{ ...jobs[1]!, errorCode: 'DEVICE_NOT_RESPONDING' }], { generatedAt: 'x' }).rows[0]!;
    expect(notResponding.message_en).not.toMatch(/bootloader/i);
    expect(notResponding.message_zh).not.toMatch(/Bootloader/i);
  });
});

describe('hints fit the transport', () => {
  const codes = [
    'TRANSPORT_NOT_FOUND', 'TRANSPORT_LOST', 'TRANSPORT_TIMEOUT', 'PROTOCOL_TIMEOUT', 'PROTOCOL_NO_START', 'PROTOCOL_BAD_FRAME', 'PROTOCOL_TOO_MANY_RETRIES',
    'DEVICE_NOT_RESPONDING', 'REBOOT_TIMEOUT', 'SOTA_READ_TIMEOUT', 'DETECT_UNKNOWN', 'DEVICE_ERROR', 'NET_DEVICE_OFFLINE', 'LLSYNC_AUTH_NO_REPLY',
  ].filter(isStationErrorCode);
  const CABLE = /cable|serial bootloader|hold BOOT|线缆|串口 ?Bootloader|按住 BOOT/i;
  const SERIAL_LOADER = /serial bootloader|bootloader mode|hold BOOT|串口 ?Bootloader|Bootloader 模式|按住 BOOT/i;

  it('link classes come from the protocol (a sim unit stands in for its real link)', () => {
    expect(PROTOCOL_IDS.map((p) => linkClassOf({ protocol: p, transport: 'sim' }))).toEqual(['ble', 'serial-loader', 'mcu', 'net', 'net']);
  });

  it.each(['en', 'zh-CN'] as const)('%s: Wi-Fi/MQTT and BLE units never hear "check the cable"; QuecThing MCUs never hear "serial bootloader"', (lang) => {
    for (const code of codes) {
      for (const protocol of ['mqtt-ota-tencent', 'mqtt-ota-aliyun', 'llsync-ota'] as const) {
        expect(operatorText(code, lang, { protocol, transport: 'sim' }), `${code} ${protocol}`).not.toMatch(CABLE);
      }
      expect(operatorText(code, lang, { protocol: 'quecthing-sota', transport: 'serial' }), code).not.toMatch(SERIAL_LOADER);
      expect(operatorText(code, lang, { protocol: 'ymodem', transport: 'serial' })).toBe(operatorText(code, lang)); // serial loaders keep the catalog text
    }
    for (const r of RESULT_CODES) {
      for (const protocol of ['mqtt-ota-tencent', 'llsync-ota'] as const) expect(resultText(r, lang, { protocol }), `${r} ${protocol}`).not.toMatch(CABLE);
      expect(resultText(r, lang, { protocol: 'ymodem' })).toBe(RESULT_TEXT[r][lang]);
    }
  });

  it('the catalog default still speaks of the serial bootloader for a serial loader', () => {
    expect(operatorText('DEVICE_NOT_RESPONDING', 'en', { protocol: 'ymodem', transport: 'serial' })).toMatch(/serial bootloader/);
    expect(operatorText('PROTOCOL_TIMEOUT', 'en', { protocol: 'ymodem' })).toMatch(/cable/);
  });
});
