/**
 * Reports that prove what was flashed (issue 10 §4): a forger who edits rows and recomputes the
 * chain with a few lines of plain crypto gets past a chain-only check but never past `--key`;
 * a junk signature is never passed; CRLF does not matter to an HTML report, edits do; the report
 * explains what it proves in en and zh-CN in every format; keys parse in every form QA pastes.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobView } from '../../main/contract/dto.js';
import { buildReport, renderCsv, renderHtml, renderJson, verifyReport, type Report } from '../../main/engine/report/index.js';
import { readCsvReport } from '../../main/engine/report/csv.js';
import { extractEmbeddedJson } from '../../main/engine/report/html.js';
import { keyId, toPublicKey } from '../../main/engine/report/hash-chain.js';
import { HEADER_FIELDS, ROW_FIELDS } from '../../main/engine/report/model.js';
import { loadOrCreateStationKey, parseTrustedKeys, publicKeyInfo, readKeyArg } from '../../main/engine/report/station-key.js';
import { passedJob, queuedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

const units = [sampleUnit(1), sampleUnit(2), sampleUnit(3)];
const jobs: JobView[] = [
  passedJob('B-9', units[0]!, 1),
  { ...passedJob('B-9', units[1]!, 2), state: 'failed', result: 'timeout', errorCode: 'PROTOCOL_TIMEOUT', versionAfter: '1.3.2', confirmed: {} },
  { ...queuedJob('B-9', units[2]!, 3), state: 'skipped', message: 'already at 1.4.0' },
];
const batch = { ...sampleBatch('B-9', units), state: 'finished' as const };
const station = generateKeyPairSync('ed25519');
const forger = generateKeyPairSync('ed25519');
const signed = buildReport(batch, jobs, { generatedAt: '2025-03-01T09:00:00.000Z', signingKey: station.privateKey, journalHead: `42:${'ab'.repeat(32)}` });
const RENDER = { csv: renderCsv, json: renderJson, html: renderHtml } as const;

type Loose = { summary: Record<string, unknown>; rows: Record<string, unknown>[] };

function readBack(format: keyof typeof RENDER, text: string): Loose {
  if (format === 'csv') return readCsvReport(text);
  return JSON.parse(format === 'json' ? text : extractEmbeddedJson(text)!) as Loose;
}

/**
 * The forger's script, written from the format description only (plain node:crypto, none of the
 * station's code): mark the failed unit passed, fix the counts, recompute every hash.
 */
function forge(data: Loose, opts: { resign?: 'strip' | 'keep' | 'own-key' }): Loose {
  const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
  const txt = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  const s = data.summary;
  data.rows[1]!.state = 'passed';
  data.rows[1]!.result = 'ok';
  data.rows[1]!.error_code = '';
  data.rows[1]!.version_after = '1.4.0';
  s.passed = Number(s.passed) + 1;
  s.failed = Number(s.failed) - 1;
  s.result_ok = Number(s.result_ok) + 1;
  s.result_timeout = Number(s.result_timeout) - 1;
  if (opts.resign === 'strip') Object.assign(s, { integrity: 'chain-only', signing_key_id: '', signing_public_key: '' });
  if (opts.resign === 'own-key') {
    const der = forger.publicKey.export({ type: 'spki', format: 'der' });
    Object.assign(s, { signing_key_id: createHash('sha256').update(der).digest('hex').slice(0, 16), signing_public_key: der.toString('base64') });
  }
  let prev = sha(JSON.stringify(HEADER_FIELDS.map((f) => txt(s[f]))));
  for (const r of data.rows) {
    r.prev_hash = prev;
    r.row_hash = sha(prev + JSON.stringify(ROW_FIELDS.map((f) => txt(r[f]))));
    prev = r.row_hash as string;
  }
  s.chain_head = prev;
  const message = `${txt(s.format)}\n${prev}\n${data.rows.length}`;
  if (opts.resign === 'strip') s.signature = '';
  if (opts.resign === 'own-key') s.signature = sign(null, Buffer.from(message), forger.privateKey).toString('base64');
  return data;
}

describe.each(['csv', 'json', 'html'] as const)('%s: a forged report', (format) => {
  const original = RENDER[format](signed);

  it('the original is valid with the station key and names the station and fingerprint', () => {
    const r = verifyReport(original, { publicKey: station.publicKey });
    expect(r).toMatchObject({ ok: true, verdict: 'valid', signature: 'valid', keyGiven: true });
    expect(r.statement).toBe(`signed by ST-07 (${keyId(station.publicKey)}) — valid`);
  });

  it('rows forged and the chain recomputed, signature stripped: passes a chain-only check, fails with --key', () => {
    const forged = RENDER[format](forge(readBack(format, original), { resign: 'strip' }) as unknown as Report);
    const noKey = verifyReport(forged);
    expect(noKey).toMatchObject({ errors: [], verdict: 'unsigned', statement: 'UNSIGNED' }); // what the chain alone cannot catch
    const withKey = verifyReport(forged, { publicKey: station.publicKey });
    expect(withKey).toMatchObject({ ok: false, verdict: 'unsigned', statement: 'UNSIGNED' });
  });

  it('rows forged and the old signature kept: SIGNATURE INVALID, with a key and without', () => {
    const forged = RENDER[format](forge(readBack(format, original), { resign: 'keep' }) as unknown as Report);
    expect(verifyReport(forged)).toMatchObject({ ok: false, verdict: 'invalid', statement: 'SIGNATURE INVALID' });
    expect(verifyReport(forged, { publicKey: station.publicKey })).toMatchObject({ ok: false, verdict: 'invalid', statement: 'SIGNATURE INVALID' });
  });

  it("rows forged and re-signed with the forger's own key: not trusted without a key, SIGNATURE INVALID with it", () => {
    const forged = RENDER[format](forge(readBack(format, original), { resign: 'own-key' }) as unknown as Report);
    const noKey = verifyReport(forged);
    expect(noKey.verdict).toBe('untrusted');
    expect(noKey.statement).toContain('NOT VERIFIED');
    const withKey = verifyReport(forged, { publicKey: station.publicKey });
    expect(withKey).toMatchObject({ ok: false, verdict: 'invalid', statement: 'SIGNATURE INVALID' });
    expect(withKey.errors.join()).toContain('not a trusted key');
  });

  it('a junk signature is never passed, whatever else is given', () => {
    const data = readBack(format, original);
    data.summary.signature = Buffer.from('junk'.repeat(16)).toString('base64');
    const junk = RENDER[format](data as unknown as Report);
    for (const opts of [{}, { publicKey: station.publicKey }, { publicKey: forger.publicKey }]) {
      const r = verifyReport(junk, opts);
      expect(r).toMatchObject({ ok: false, verdict: 'invalid', statement: 'SIGNATURE INVALID' });
    }
    data.summary.signature = 'not base64 at all!';
    expect(verifyReport(RENDER[format](data as unknown as Report))).toMatchObject({ ok: false, verdict: 'invalid' });
  });

  it('a report signed by another station is SIGNATURE INVALID against this station key', () => {
    const other = buildReport(batch, jobs, { generatedAt: 'x', signingKey: forger.privateKey });
    expect(verifyReport(RENDER[format](other), { publicKey: station.publicKey })).toMatchObject({ ok: false, statement: 'SIGNATURE INVALID' });
    expect(verifyReport(RENDER[format](other), { trust: { keys: [{ key: station.publicKey }, { key: forger.publicKey, name: 'line 3' }], explicit: true } }).statement).toBe(`signed by ST-07 (${keyId(forger.publicKey)}, line 3) — valid`);
  });

  it('an unsigned report fails when a key is given', () => {
    const plain = RENDER[format](buildReport(batch, jobs, { generatedAt: 'x' }));
    expect(verifyReport(plain)).toMatchObject({ ok: true, statement: 'UNSIGNED' });
    expect(verifyReport(plain, { publicKey: station.publicKey })).toMatchObject({ ok: false, statement: 'UNSIGNED' });
  });

  it('explains what it proves in en and zh-CN, with the fingerprint and the journal head', () => {
    const back = readBack(format, original);
    expect(back.summary.proof_en).toMatch(/SHA-256.*Ed25519 key \(fingerprint [0-9a-f]{16}\).*flashline verify-report/);
    expect(back.summary.proof_zh).toContain('签名');
    expect(back.summary.journal_head).toBe(`42:${'ab'.repeat(32)}`);
    expect(back.summary.signing_public_key).toBe(publicKeyInfo(station.publicKey).spkiBase64);
    if (format === 'csv') expect(original).toContain('\r\n#proof_en,');
    if (format === 'html') {
      expect(original).toContain('What this report proves · 本报告证明什么');
      expect(original).toContain('<p lang="zh-CN">每一行都用 SHA-256');
    }
  });
});

describe('line endings', () => {
  const html = renderHtml(signed);

  it('an HTML report converted to CRLF (or with CR in its cells) still verifies with the key', () => {
    const crlf = html.replace(/\n/g, '\r\n');
    expect(crlf).not.toBe(html);
    expect(verifyReport(crlf, { publicKey: station.publicKey })).toMatchObject({ ok: true, verdict: 'valid' });
    const withMessage = renderHtml(buildReport(batch, [{ ...jobs[1]!, message: 'no ACK\r\nblock 17' }], { generatedAt: 'x', signingKey: station.privateKey }));
    expect(verifyReport(withMessage.replace(/\r?\n/g, '\r\n'), { publicKey: station.publicKey }).ok).toBe(true);
    expect(verifyReport(withMessage.replace(/\r\n/g, '\n'), { publicKey: station.publicKey }).ok).toBe(true);
  });

  it('but an edit to a CRLF copy is still caught', () => {
    const crlf = html.replace(/\n/g, '\r\n');
    const edited = crlf.replace('<td class="res">timeout</td>', '<td class="res">ok</td>');
    expect(edited).not.toBe(crlf);
    const r = verifyReport(edited, { publicKey: station.publicKey });
    expect(r).toMatchObject({ ok: false, statement: 'SIGNATURE INVALID' });
    expect(r.errors.join()).toContain('visible page differs');
  });

  it('CSV and JSON converted to LF / CRLF verify too', () => {
    expect(verifyReport(renderCsv(signed).replace(/\r\n/g, '\n'), { publicKey: station.publicKey }).ok).toBe(true);
    expect(verifyReport(renderJson(signed).replace(/\n/g, '\r\n'), { publicKey: station.publicKey }).ok).toBe(true);
  });
});

describe('report format 1 (written before this build)', () => {
  it('a v1 JSON report still verifies its chain; its signature needs a key', () => {
    const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
    const v1 = JSON.parse(renderJson(signed)) as Loose;
    const s = v1.summary;
    for (const k of ['signing_public_key', 'journal_head', 'proof_en', 'proof_zh']) delete s[k];
    for (const r of v1.rows) {
      delete r.confirmed_by;
      delete r.attempt_causes;
    }
    s.format = 'flashline-report/1';
    const headerV1 = HEADER_FIELDS.slice(0, HEADER_FIELDS.indexOf('signing_public_key'));
    const rowV1 = ROW_FIELDS.slice(0, ROW_FIELDS.indexOf('confirmed_by'));
    let prev = sha(JSON.stringify(headerV1.map((f) => String(s[f] ?? ''))));
    for (const r of v1.rows) {
      r.prev_hash = prev;
      r.row_hash = sha(prev + JSON.stringify(rowV1.map((f) => (r[f] === null || r[f] === undefined ? '' : String(r[f])))));
      prev = r.row_hash as string;
    }
    s.chain_head = prev;
    s.signature = sign(null, Buffer.from(`flashline-report/1\n${prev}\n${v1.rows.length}`), station.privateKey).toString('base64');
    const text = JSON.stringify(v1);
    expect(verifyReport(text)).toMatchObject({ ok: true, signature: 'unchecked' });
    expect(verifyReport(text).statement).toContain('NOT VERIFIED');
    expect(verifyReport(text, { publicKey: station.publicKey })).toMatchObject({ ok: true, verdict: 'valid' });
    expect(verifyReport(renderCsv(v1 as unknown as Report), { publicKey: station.publicKey })).toMatchObject({ ok: true, verdict: 'valid' });
    v1.rows[0]!.result = 'timeout';
    expect(verifyReport(JSON.stringify(v1), { publicKey: station.publicKey }).ok).toBe(false);
  });
});

describe('station key', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-key-'));

  it('is created once, mode 0600, and loaded unchanged afterwards', () => {
    const a = loadOrCreateStationKey(dir);
    expect(a.created).toBe(true);
    if (process.platform !== 'win32') expect(fs.statSync(a.file).mode & 0o777).toBe(0o600);
    const b = loadOrCreateStationKey(dir);
    expect(b.created).toBe(false);
    expect(keyId(b.publicKey)).toBe(keyId(a.publicKey));
    expect(fs.readdirSync(dir)).toEqual(['station-key.pem']);
    if (process.platform !== 'win32') {
      fs.chmodSync(a.file, 0o644);
      loadOrCreateStationKey(dir);
      expect(fs.statSync(a.file).mode & 0o777).toBe(0o600);
    }
  });

  it('a damaged key file is a clear CONFIG_INVALID, never silently replaced', () => {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-badkey-'));
    fs.writeFileSync(path.join(bad, 'station-key.pem'), 'not a key', { mode: 0o600 });
    expect(() => loadOrCreateStationKey(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(fs.readFileSync(path.join(bad, 'station-key.pem'), 'utf8')).toBe('not a key');
  });

  it('public keys parse from PEM, base64 and hex (SPKI or raw), a private PEM, or a file; junk is refused', () => {
    const info = publicKeyInfo(station.publicKey);
    const fp = info.fingerprint;
    const spkiHex = Buffer.from(info.spkiBase64, 'base64').toString('hex');
    const rawB64 = Buffer.from(info.rawHex, 'hex').toString('base64');
    for (const form of [info.pem, info.spkiBase64, spkiHex, info.rawHex, rawB64, station.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string]) {
      expect(keyId(toPublicKey(form))).toBe(fp);
    }
    const file = path.join(dir, 'qa.pub');
    fs.writeFileSync(file, info.pem);
    expect(keyId(readKeyArg(file))).toBe(fp);
    expect(() => toPublicKey('hello')).toThrow();
    expect(() => toPublicKey('00'.repeat(31))).toThrow();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => toPublicKey(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string)).toThrow(/Ed25519/);
  });

  it('a trusted-keys file holds PEM blocks and named base64/hex lines; a bad line is an error', () => {
    const a = publicKeyInfo(station.publicKey);
    const b = publicKeyInfo(forger.publicKey);
    const keys = parseTrustedKeys(`# QA list\n${a.spkiBase64} line 2 station 4\n\n${b.pem}\n${b.rawHex}   # same key again, by hex\n`);
    expect(keys.map((k) => [keyId(k.key), k.name])).toEqual([[b.fingerprint, undefined], [a.fingerprint, 'line 2 station 4'], [b.fingerprint, undefined]]);
    expect(() => parseTrustedKeys(`${a.spkiBase64}\nnot-a-key\n`)).toThrow(/line 2/);
  });
});
