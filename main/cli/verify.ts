/**
 * `flashline station-key`, `flashline verify-report` and `flashline verify-journal` (issue 10 §4):
 * print the station's public key for QA, verify a report's chain and signature against keys the
 * user trusts, and re-check the journal's own hash chain. All three only read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StationError } from '../engine/errors.js';
import { Journal } from '../engine/journal/journal.js';
import { verifyReport, type VerifyResult } from '../engine/report/verify.js';
import type { Trust, TrustedKey } from '../engine/report/hash-chain.js';
import { loadOrCreateStationKey, parseTrustedKeys, publicKeyInfo, readKeyArg, readStationPublicKey } from '../engine/report/station-key.js';
import { readCsvReport } from '../engine/report/csv.js';
import { readJsonReport } from '../engine/report/json.js';
import { extractEmbeddedJson } from '../engine/report/html.js';
import { detectFormat } from '../engine/report/verify.js';

export interface StationKeyArgs {
  dataDir: string;
  json: boolean;
  stationId: string;
}

/** Prints the station's public key (creating the key on a station's first start). */
export function cmdStationKey(a: StationKeyArgs): number {
  const key = loadOrCreateStationKey(a.dataDir);
  const info = publicKeyInfo(key.publicKey);
  if (a.json) {
    console.log(JSON.stringify({ station: a.stationId, fingerprint: info.fingerprint, sha256: info.sha256, publicKey: info.spkiBase64, publicKeyHex: info.rawHex, pem: info.pem, file: key.file, created: key.created }));
    return 0;
  }
  console.log(`station ${a.stationId}`);
  console.log(`fingerprint ${info.fingerprint}   (sha256 of the public key: ${info.sha256})`);
  console.log(`public key  ${info.spkiBase64}`);
  console.log(info.pem.trimEnd());
  console.log(`\nGive this public key to whoever checks this station's reports:\n  flashline verify-report REPORT --key ${info.spkiBase64}`);
  if (key.created) console.log(`(new key created: ${key.file})`);
  return 0;
}

export interface VerifyReportArgs {
  file?: string;
  dataDir: string;
  json: boolean;
  key?: string;
  trustedKeys?: string;
}

/** The keys to trust: --key and --trusted-keys explicitly, else this station's own key (implicitly). */
function trustFrom(a: VerifyReportArgs): Trust | undefined {
  const keys: TrustedKey[] = [];
  if (a.key !== undefined) {
    try {
      keys.push({ key: readKeyArg(a.key) });
    } catch (e) {
      throw new StationError('CONFIG_INVALID', `--key: ${(e as Error).message}`);
    }
  }
  if (a.trustedKeys !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(a.trustedKeys, 'utf8');
    } catch (e) {
      throw new StationError('CONFIG_INVALID', `--trusted-keys ${a.trustedKeys}: ${(e as Error).message}`);
    }
    try {
      const list = parseTrustedKeys(text);
      if (list.length === 0) throw new Error('no keys in the file');
      keys.push(...list);
    } catch (e) {
      throw new StationError('CONFIG_INVALID', `--trusted-keys ${a.trustedKeys}: ${(e as Error).message}`);
    }
  }
  if (keys.length) return { keys, explicit: true };
  let own;
  try {
    own = readStationPublicKey(a.dataDir);
  } catch {
    own = undefined; // an unreadable local key just means no implicit trust
  }
  return own ? { keys: [{ key: own, name: 'this station' }], explicit: false } : undefined;
}

export function cmdVerifyReport(a: VerifyReportArgs): number {
  if (!a.file) throw new StationError('CONFIG_INVALID', 'verify-report FILE [--key PUBKEY | --trusted-keys FILE]');
  let content: string;
  try {
    content = fs.readFileSync(a.file, 'utf8');
  } catch (e) {
    throw new StationError('REPORT_UNREADABLE', `${a.file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {}, { cause: e });
  }
  const r = verifyReport(content, { trust: trustFrom(a) });
  if (a.json) console.log(JSON.stringify(r));
  else console.log(formatVerifyText(r));
  return r.ok ? 0 : 1;
}

/** First line: the one verdict. Then the chain result, then what is wrong or worth knowing. Never "OK". */
export function formatVerifyText(r: VerifyResult): string {
  const lines = [r.statement];
  if (r.errors.length) lines.push(`TAMPERED: ${r.format} report`, ...r.errors.map((e) => `  - ${e}`));
  else lines.push(`hash chain intact: ${r.format} report, ${r.rows} rows`);
  if (!r.ok && r.errors.length === 0 && r.keyGiven) lines.push('  - a station key was given, so only a valid signature passes');
  for (const w of r.warnings) lines.push(`note: ${w}`);
  return lines.join('\n');
}

export interface VerifyJournalArgs {
  dataDir: string;
  json: boolean;
  /** A report whose journal_head must be a position of this journal's chain. */
  report?: string;
}

export function cmdVerifyJournal(a: VerifyJournalArgs): number {
  const file = path.join(a.dataDir, 'journal.sqlite');
  if (!fs.existsSync(file)) throw new StationError('CONFIG_INVALID', `no journal in ${a.dataDir}`);
  const journal = Journal.open(file);
  try {
    const check = journal.verifyChain();
    const errors = [...check.errors];
    let reportHead: string | undefined;
    if (a.report !== undefined) {
      reportHead = journalHeadOf(a.report);
      const m = /^(\d+):([0-9a-f]{64})$/.exec(reportHead);
      if (!m) errors.push(`report ${a.report} carries no journal head`);
      else if (journal.chainLinkAt(Number(m[1])) !== m[2]) errors.push(`report ${a.report}: its journal head ${reportHead} is not in this journal (another station's report, or the journal was rewritten after it)`);
    }
    const ok = errors.length === 0;
    if (a.json) {
      console.log(JSON.stringify({ ok, links: check.links, jobs: check.jobs, openAttempts: check.openAttempts, head: `${check.head.seq}:${check.head.hash}`, errors, ...(reportHead !== undefined ? { reportJournalHead: reportHead } : {}) }));
    } else {
      console.log(ok ? `journal intact: ${check.links} chained rows, ${check.jobs} job rows, head ${check.head.seq}:${check.head.hash.slice(0, 16)}` : `JOURNAL TAMPERED: ${errors.length} problem(s)`);
      for (const e of errors) console.log(`  - ${e}`);
      if (reportHead && ok) console.log(`report journal head ${reportHead.slice(0, 24)}… is in this journal`);
      if (check.openAttempts) console.log(`note: ${check.openAttempts} attempt(s) still open are chained when they finish`);
    }
    return ok ? 0 : 1;
  } finally {
    journal.close();
  }
}

function journalHeadOf(file: string): string {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new StationError('REPORT_UNREADABLE', `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {}, { cause: e });
  }
  const format = detectFormat(content);
  const summary =
    format === 'csv'
      ? readCsvReport(content).summary
      : format === 'json'
        ? readJsonReport(content).summary
        : readJsonReport(extractEmbeddedJson(content) ?? '').summary;
  return String((summary as Record<string, unknown>).journal_head ?? '');
}
