import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JobView } from '../../main/contract/dto.js';
import { buildReport, renderCsv, renderHtml, renderJson, verifyReport, type Report } from '../../main/engine/report/index.js';
import { parseCsv, readCsvReport, toCsvRecord } from '../../main/engine/report/csv.js';
import { extractEmbeddedJson } from '../../main/engine/report/html.js';
import { sealReport } from '../../main/engine/report/hash-chain.js';
import { passedJob, queuedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

const HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>';
const units = [
  { ...sampleUnit(1), name: HOSTILE },
  { ...sampleUnit(2), name: 'bench 2, left "A"\nsecond line' },
  { ...sampleUnit(3), name: '=HYPERLINK("http://evil","x")' },
  { ...sampleUnit(4), name: "'=already quoted" },
];
const jobs: JobView[] = [
  passedJob('B-7', units[0]!, 1),
  { ...passedJob('B-7', units[1]!, 2), state: 'failed', result: 'timeout', errorCode: 'PROTOCOL_TIMEOUT', message: 'no ACK, block 17\r\nretry "3"' },
  { ...queuedJob('B-7', units[2]!, 3), state: 'skipped', message: 'already at 1.4.0' },
  passedJob('B-7', units[3]!, 4),
];
const batch = { ...sampleBatch('B-7', units), state: 'finished' as const, operator: '张伟, "day" shift' };
const keys = generateKeyPairSync('ed25519');
const otherKeys = generateKeyPairSync('ed25519');
const plain = buildReport(batch, jobs, { generatedAt: '2025-03-01T09:00:00.000Z' });
const signed = buildReport(batch, jobs, { generatedAt: '2025-03-01T09:00:00.000Z', signingKey: keys.privateKey, lang: 'zh-CN' });

type Loose = { summary: Record<string, unknown>; rows: Record<string, unknown>[] };

/** Each format as: render, and read back into the loose summary/rows a tamperer would edit. */
const FORMATS = {
  csv: {
    render: renderCsv,
    read: (text: string): Loose => readCsvReport(text),
  },
  json: {
    render: renderJson,
    read: (text: string): Loose => JSON.parse(text) as Loose,
  },
  html: {
    render: renderHtml,
    read: (text: string): Loose => JSON.parse(extractEmbeddedJson(text)!) as Loose,
  },
} as const;

/** Tampering applied to the data; the file is re-rendered so that only the chain can tell. */
const TAMPERINGS: Record<string, (r: Loose) => void> = {
  'edited cell': (r) => (r.rows[1]!.result = 'ok'),
  'edited hash value': (r) => (r.rows[0]!.confirmed_crc32 = '00000000'),
  'deleted row': (r) => void r.rows.splice(1, 1),
  'deleted last row': (r) => void r.rows.pop(),
  'inserted row': (r) => void r.rows.splice(2, 0, { ...r.rows[0]! }),
  'swapped rows': (r) => ([r.rows[0], r.rows[1]] = [r.rows[1]!, r.rows[0]!]),
  'edited summary': (r) => (r.summary.operator = 'someone else'),
  'edited count': (r) => (r.summary.failed = 0),
  'edited row count': (r) => (r.summary.row_count = 3),
};

describe.each(Object.entries(FORMATS))('%s report', (name, fmt) => {
  it('round-trips through verifyReport as ok', () => {
    for (const report of [plain, signed]) {
      const res = verifyReport(fmt.render(report), { publicKey: report === signed ? keys.publicKey : undefined });
      expect(res).toMatchObject({ ok: true, format: name, rows: 4, errors: [] });
    }
    expect(verifyReport(fmt.render(plain)).warnings.join()).toContain('chain-only');
  });

  it('reads back every cell exactly (as text)', () => {
    const back = fmt.read(fmt.render(plain));
    plain.rows.forEach((row, i) => {
      for (const [k, v] of Object.entries(row)) expect(String(back.rows[i]![k] ?? '')).toBe(v === null ? '' : String(v));
    });
  });

  it.each(Object.entries(TAMPERINGS))('detects: %s', (_kind, tamper) => {
    const data = fmt.read(fmt.render(plain));
    tamper(data);
    const res = verifyReport(fmt.render(data as unknown as Report));
    expect(res.ok).toBe(false);
    expect(res.errors.length).toBeGreaterThan(0);
  });

  it('detects a bad signature and a consistently rewritten chain with the station key', () => {
    expect(verifyReport(fmt.render(signed), { publicKey: otherKeys.publicKey })).toMatchObject({ ok: false, signature: 'invalid' });
    // A forger edits a row, fixes the counts and re-seals the chain, but cannot re-sign it.
    const { row_count: _n, chain_head: _head, signature: _sig, ...header } = signed.summary;
    const rows = signed.rows.map(({ prev_hash: _p, row_hash: _h, ...row }, i) => (i === 1 ? { ...row, result: 'ok' } : row));
    const resealed = sealReport({ ...header, result_ok: header.result_ok + 1, result_timeout: header.result_timeout - 1 }, rows);
    resealed.summary.signature = signed.summary.signature;
    // Without a key the signature is still checked against the key the report names: never OK.
    expect(verifyReport(fmt.render(resealed))).toMatchObject({ ok: false, signature: 'invalid', statement: 'SIGNATURE INVALID' });
    const res = verifyReport(fmt.render(resealed), { publicKey: keys.publicKey });
    expect(res).toMatchObject({ ok: false, signature: 'invalid' });
  });
});

describe('raw text tampering', () => {
  it('CSV: swapped lines, a deleted line, an edited serial number', () => {
    const lines = renderCsv(plain).split('\r\n');
    const firstRow = lines.findIndex((l) => l.startsWith('1,'));
    const swapped = [...lines];
    [swapped[firstRow], swapped[firstRow + 3]] = [swapped[firstRow + 3]!, swapped[firstRow]!];
    expect(verifyReport(swapped.join('\r\n')).ok).toBe(false);
    expect(verifyReport(lines.filter((_, i) => i !== firstRow).join('\r\n')).ok).toBe(false);
    expect(verifyReport(renderCsv(plain).replace('SN-0001', 'SN-0009')).ok).toBe(false);
  });

  it('JSON: an edited summary field', () => {
    expect(verifyReport(renderJson(plain).replace('"station_id": "ST-07"', '"station_id": "ST-08"')).ok).toBe(false);
  });

  it('HTML: an edit to the visible table only', () => {
    const html = renderHtml(plain);
    const edited = html.replace('<td class="res">timeout</td>', '<td class="res">ok</td>');
    expect(edited).not.toBe(html);
    const res = verifyReport(edited);
    expect(res.ok).toBe(false);
    expect(res.errors.join()).toContain('visible page differs');
  });

  it('HTML: missing embedded data', () => {
    const html = renderHtml(plain).replace(/<script type="application\/json"[\s\S]*?<\/script>/, '');
    expect(verifyReport(html)).toMatchObject({ ok: false, format: 'html' });
  });
});

describe('CSV encoding', () => {
  const csv = renderCsv(plain);

  it('starts with a UTF-8 BOM, uses CRLF and puts the summary in #key,value records', () => {
    expect(csv.startsWith('\uFEFF#format,flashline-report/2\r\n')).toBe(true);
    expect(csv).toContain('\r\n#chain_head,' + plain.summary.chain_head + '\r\n');
    expect(csv).toContain('#operator,"张伟, ""day"" shift"\r\n');
  });

  it('quotes commas, quotes and newlines per RFC 4180', () => {
    const rec = toCsvRecord(['a,b', 'say "hi"', 'line1\nline2', 'cr\r\nlf', 'plain', '', 42, null]);
    expect(rec).toBe('"a,b","say ""hi""","line1\nline2","cr\r\nlf",plain,,42,');
    const parsed = parseCsv(rec + '\r\nx,y\r\n');
    expect(parsed).toEqual({ ok: true, records: [['a,b', 'say "hi"', 'line1\nline2', 'cr\r\nlf', 'plain', '', '42', ''], ['x', 'y']] });
    expect(parseCsv('"open').ok).toBe(false);
    expect(parseCsv('a"b').ok).toBe(false);
  });

  it('neutralises formula-like cells and restores them on reading', () => {
    expect(csv).toContain(`,"'=HYPERLINK(""http://evil"",""x"")",`);
    expect(csv).toContain(",''=already quoted,");
    const back = readCsvReport(csv);
    expect(back.rows[2]!.unit_name).toBe('=HYPERLINK("http://evil","x")');
    expect(back.rows[3]!.unit_name).toBe("'=already quoted");
  });

  it('carries the zh-CN operator messages', () => {
    expect(csv).toContain('message_zh');
    expect(csv).toContain('升级完成并已确认。');
    expect(csv).toContain('设备无响应');
  });
});

describe('HTML page', () => {
  const html = renderHtml(plain);

  it('escapes hostile text everywhere, including the embedded JSON', () => {
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img');
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;');
    expect(JSON.parse(extractEmbeddedJson(html)!).rows[0].unit_name).toBe(HOSTILE);
  });

  it('is self-contained and printable', () => {
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:|\/\/)/);
    expect(html).toContain("default-src 'none'");
    expect(html).toContain('@media print');
    expect(html).toContain('<html lang="en">');
  });

  it('shows the summary counts, match marks and the chain-only notice', () => {
    expect(html).toContain('Passed<b>2</b>');
    expect(html).toContain('Failed<b>1</b>');
    expect(html).toContain('<span class="mark match" title="match">✓</span>');
    expect(html).toContain('Chain-only');
    expect(html).toContain('设备无响应');
  });

  it('renders in zh-CN with the signed notice', () => {
    const zh = renderHtml(signed);
    expect(zh).toContain('<html lang="zh-CN">');
    expect(zh).toContain('固件升级报告');
    expect(zh).toContain('已用工位密钥');
  });

  it('marks a confirmed hash that differs in red', () => {
    const bad = buildReport(batch, [{ ...jobs[0]!, confirmed: { crc32: 'deadbeef', md5: jobs[0]!.sent.md5!, confirmedBy: ['device-crc32', 'device-md5'] } }], { generatedAt: 'x' });
    expect(renderHtml(bad)).toContain('<span class="mark mismatch" title="mismatch">✗</span>');
  });
});
