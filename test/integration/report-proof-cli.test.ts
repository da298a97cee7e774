/**
 * The real CLI (issue 10 §4): `station-key` prints the key QA hands out, reports are signed by
 * default, `verify-report --key/--trusted-keys` says one verdict with the right exit code (a forged
 * or junk-signed report never prints OK), and `verify-journal` finds a hand-edited journal row.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { readCsvReport, toCsvRecord } from '../../main/engine/report/csv.js';
import { HEADER_FIELDS, ROW_FIELDS, SEALED_ROW_FIELDS, SUMMARY_FIELDS } from '../../main/engine/report/model.js';
import { lastJson, runCli } from '../helpers/cli.js';

let dir: string;
let batchId: string;
let pubKey: string;
let fingerprint: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-proof-cli-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(16 * 1024, '2.0.0'));
  const r = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:ymodem:2', '--target', 'sim:ymodem:1:refuse_version', '--json', '--data-dir', dir, '--station', 'line1-st2']);
  batchId = lastJson<{ batchId: string }>(r.stdout).batchId;
  for (const f of ['csv', 'json', 'html']) {
    expect((await runCli(['report', batchId, '--format', f, '--out', path.join(dir, `r.${f}`), '--data-dir', dir])).code).toBe(0);
  }
}, 240_000);

describe('flashline station-key / verify-report / verify-journal', () => {
  it('station-key prints the public key and fingerprint; the key file is 0600', async () => {
    const r = await runCli(['station-key', '--json', '--data-dir', dir, '--station', 'line1-st2']);
    expect(r.code).toBe(0);
    const k = JSON.parse(r.stdout.trim()) as { fingerprint: string; publicKey: string; pem: string; created: boolean; station: string };
    expect(k).toMatchObject({ created: false, station: 'line1-st2' }); // made on the station's first start (the flash above)
    expect(k.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(k.pem).toContain('BEGIN PUBLIC KEY');
    expect(fs.statSync(path.join(dir, 'station-key.pem')).mode & 0o777).toBe(0o600);
    pubKey = k.publicKey;
    fingerprint = k.fingerprint;
    const text = await runCli(['station-key', '--data-dir', dir]);
    expect(text.stdout).toContain(`fingerprint ${fingerprint}`);
    expect(text.stdout).toContain(pubKey);
  }, 240_000);

  it('every format verifies with --key: "signed by STATION (fingerprint) — valid", exit 0', async () => {
    for (const f of ['csv', 'json', 'html']) {
      const r = await runCli(['verify-report', path.join(dir, `r.${f}`), '--key', pubKey]);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(`signed by line1-st2 (${fingerprint}) — valid`);
      const j = await runCli(['verify-report', path.join(dir, `r.${f}`), '--key', pubKey, '--json']);
      expect(JSON.parse(j.stdout.trim())).toMatchObject({ ok: true, verdict: 'valid', statement: `signed by line1-st2 (${fingerprint}) — valid` });
    }
  }, 240_000);

  it('a key file and a trusted-keys file work; another station key is SIGNATURE INVALID, exit 1', async () => {
    const pem = path.join(dir, 'station.pub');
    fs.writeFileSync(pem, JSON.parse((await runCli(['station-key', '--json', '--data-dir', dir])).stdout.trim()).pem);
    expect((await runCli(['verify-report', path.join(dir, 'r.json'), '--key', pem])).code).toBe(0);
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-other-'));
    const other = JSON.parse((await runCli(['station-key', '--json', '--data-dir', otherDir])).stdout.trim()).publicKey as string;
    const bad = await runCli(['verify-report', path.join(dir, 'r.json'), '--key', other]);
    expect(bad.code).toBe(1);
    expect(bad.stdout.split('\n')[0]).toBe('SIGNATURE INVALID');
    const list = path.join(dir, 'trusted.txt');
    fs.writeFileSync(list, `# QA trusted stations\n${other} line 9\n${pubKey} line 1 station 2\n`);
    const ok = await runCli(['verify-report', path.join(dir, 'r.csv'), '--trusted-keys', list]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.split('\n')[0]).toBe(`signed by line1-st2 (${fingerprint}, line 1 station 2) — valid`);
    expect((await runCli(['verify-report', path.join(dir, 'r.csv'), '--key', 'nonsense'])).code).toBe(2);
    expect((await runCli(['verify-report', path.join(dir, 'missing.csv'), '--key', pubKey])).code).toBe(2);
  }, 240_000);

  it("a forger's CSV (rows edited, chain recomputed, signature stripped) fails with --key; a junk signature fails even without one", async () => {
    const text = fs.readFileSync(path.join(dir, 'r.csv'), 'utf8');
    const parsed = readCsvReport(text);
    const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
    const s = parsed.summary;
    const refused = parsed.rows.find((r) => r.result === 'version_rejected')!;
    Object.assign(refused, { state: 'passed', result: 'ok', error_code: '' });
    Object.assign(s, { passed: String(Number(s.passed) + 1), failed: String(Number(s.failed) - 1), result_ok: String(Number(s.result_ok) + 1), result_version_rejected: '0' });
    Object.assign(s, { integrity: 'chain-only', signing_key_id: '', signing_public_key: '', signature: '' });
    let prev = sha(JSON.stringify(HEADER_FIELDS.map((f) => s[f] ?? '')));
    for (const r of parsed.rows) {
      r.prev_hash = prev;
      r.row_hash = prev = sha(prev + JSON.stringify(ROW_FIELDS.map((f) => r[f] ?? '')));
    }
    s.chain_head = prev;
    const write = (file: string) =>
      fs.writeFileSync(file, '\uFEFF' + [...SUMMARY_FIELDS.map((k) => toCsvRecord(['#' + k, s[k]])), toCsvRecord(SEALED_ROW_FIELDS), ...parsed.rows.map((r) => toCsvRecord(SEALED_ROW_FIELDS.map((f) => r[f])))].join('\r\n') + '\r\n');
    const forged = path.join(dir, 'forged.csv');
    write(forged);
    const noKey = await runCli(['verify-report', forged, '--data-dir', fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-nokey-'))]);
    expect(noKey.stdout.split('\n')[0]).toBe('UNSIGNED'); // the chain alone cannot catch a full rewrite, and says so
    const withKey = await runCli(['verify-report', forged, '--key', pubKey]);
    expect(withKey.code).toBe(1);
    expect(withKey.stdout.split('\n')[0]).toBe('UNSIGNED');
    expect(withKey.stdout).not.toMatch(/\bOK\b/);

    Object.assign(s, { integrity: 'chain+ed25519', signature: Buffer.from('x'.repeat(64)).toString('base64') });
    const junk = path.join(dir, 'junk.csv');
    write(junk);
    for (const args of [[], ['--key', pubKey]]) {
      const r = await runCli(['verify-report', junk, ...args]);
      expect(r.code).toBe(1);
      expect(r.stdout.split('\n')[0]).toBe('SIGNATURE INVALID');
      expect(r.stdout).not.toMatch(/\bOK\b/);
    }
  }, 240_000);

  it('verify-journal: intact, the report head is in it; a hand-edited row is found, exit 1', async () => {
    const ok = await runCli(['verify-journal', '--data-dir', dir, '--report', path.join(dir, 'r.html'), '--json']);
    expect(ok.code, ok.stdout).toBe(0);
    expect(JSON.parse(ok.stdout.trim())).toMatchObject({ ok: true, errors: [] });
    const db = new Database(path.join(dir, 'journal.sqlite'));
    db.prepare("UPDATE jobs SET state = 'passed', result = 'ok', error_code = NULL WHERE result = 'version_rejected'").run();
    db.close();
    const bad = await runCli(['verify-journal', '--data-dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^JOURNAL TAMPERED/);
    expect(bad.stdout).toMatch(/row differs from what its last journaled transition recorded/);
    expect((await runCli(['verify-journal', '--data-dir', path.join(dir, 'nope')])).code).toBe(2);
  }, 240_000);
});
