import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JobView } from '../../main/contract/dto.js';
import { buildReport, keyId, verifyReport } from '../../main/engine/report/index.js';
import { renderJson } from '../../main/engine/report/json.js';
import { headerHash, rowHash } from '../../main/engine/report/hash-chain.js';
import { passedJob, queuedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

const units = [sampleUnit(1), sampleUnit(2), sampleUnit(3), sampleUnit(4)];
const batch = { ...sampleBatch('B-42', units), state: 'finished' as const, startedAt: '2025-03-01T08:02:00.000Z', endedAt: '2025-03-01T08:10:00.000Z' };
const crcFail: JobView = {
  ...passedJob('B-42', units[1]!, 2),
  state: 'failed',
  result: 'crc_mismatch',
  errorCode: 'PROTOCOL_CRC_MISMATCH',
  versionAfter: undefined,
  confirmed: { crc32: 'deadbeef', confirmedBy: ['device-crc32'] },
};
delete crcFail.versionAfter;
const jobs: JobView[] = [
  passedJob('B-42', units[0]!, 1),
  crcFail,
  { ...queuedJob('B-42', units[2]!, 3), state: 'skipped', message: 'already at 1.4.0' },
  { ...queuedJob('B-42', units[3]!, 4), state: 'interrupted', errorCode: 'STATION_INTERRUPTED', sent: { crc32: '2cd27a54' } },
];
const at = '2025-03-01T08:11:00.000Z';

describe('buildReport', () => {
  const report = buildReport(batch, jobs, { generatedAt: at });

  it('writes one row per unit with hashes, verdicts and messages in both languages', () => {
    expect(report.rows).toHaveLength(4);
    const [ok, bad, skipped, cut] = report.rows;
    expect(ok).toMatchObject({
      row: 1, serial_number: 'SN-0001', unit_id: 'serial:/dev/ttyUSB1', address: '/dev/ttyUSB1', transport: 'serial', protocol: 'ymodem',
      package_id: '3f2a9c1d00112233-app', component: 'app', target_version: '1.4.0', version_before: '1.3.2', version_after: '1.4.0',
      size_bytes: 102400, sent_crc32: '2cd27a54', confirmed_crc32: '2cd27a54', crc32_verdict: 'match', md5_verdict: 'match',
      state: 'passed', result: 'ok', attempts: 2, duration_ms: 41250, station_id: 'ST-07', operator: 'Li Wei', batch_id: 'B-42',
      message_en: 'Upgraded and confirmed.', message_zh: '升级完成并已确认。',
    });
    expect(bad).toMatchObject({ crc32_verdict: 'mismatch', md5_verdict: 'unconfirmed', result: 'crc_mismatch', error_code: 'PROTOCOL_CRC_MISMATCH', version_after: '' });
    expect(bad!.message_zh).toContain('CRC');
    expect(skipped).toMatchObject({ state: 'skipped', result: '', crc32_verdict: '', detail: 'already at 1.4.0', duration_ms: null, message_en: '' });
    expect(cut).toMatchObject({ state: 'interrupted', crc32_verdict: 'unconfirmed' });
    expect(cut!.message_zh).toContain('工位');
  });

  it('summarises counts per state and result, package and times', () => {
    expect(report.summary).toMatchObject({
      format: 'flashline-report/2', batch_id: 'B-42', package_components: 'app 1.4.0 (full)', station_id: 'ST-07', operator: 'Li Wei',
      total: 4, passed: 1, failed: 1, skipped: 1, interrupted: 1, cancelled: 0, unfinished: 0, result_ok: 1, result_crc_mismatch: 1,
      result_timeout: 0, duration_ms: 480000, generated_at: at, integrity: 'chain-only', signing_key_id: '', signature: '', row_count: 4,
    });
  });

  it('chains rows from the header hash to the head', () => {
    const rows = report.rows;
    expect(rows[0]!.prev_hash).toBe(headerHash(report.summary));
    rows.forEach((r, i) => {
      if (i > 0) expect(r.prev_hash).toBe(rows[i - 1]!.row_hash);
      expect(r.row_hash).toBe(rowHash(r.prev_hash, r));
    });
    expect(report.summary.chain_head).toBe(rows[3]!.row_hash);
  });

  it('is deterministic for the same input and generatedAt', () => {
    expect(buildReport(batch, jobs, { generatedAt: at })).toStrictEqual(report);
  });

  it('an empty batch has the header hash as its head and verifies', () => {
    const empty = buildReport({ ...batch, batchId: 'B-0' }, [], { generatedAt: at });
    expect(empty.summary.chain_head).toBe(headerHash(empty.summary));
    expect(verifyReport(renderJson(empty))).toMatchObject({ ok: true, rows: 0 });
  });

  it('signs the head with a station key and names the key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const signed = buildReport(batch, jobs, { generatedAt: at, signingKey: pem });
    expect(signed.summary).toMatchObject({ integrity: 'chain+ed25519', signing_key_id: keyId(publicKey) });
    expect(signed.summary.signature).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const res = verifyReport(renderJson(signed), { publicKey });
    expect(res).toMatchObject({ ok: true, signature: 'valid', errors: [] });
    expect(verifyReport(renderJson(signed)).signature).toBe('untrusted');
    expect(verifyReport(renderJson(report), { publicKey }).errors.join()).toContain('not signed');
  });
});
