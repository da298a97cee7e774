/**
 * Verifies a report file in any of its three formats: parses untrusted text, checks the hash
 * chain and the Ed25519 signature against trusted station keys, that the summary counts match
 * the rows, and for HTML that the visible page is exactly the rendering of the embedded data
 * (line endings aside). Says one thing: valid (with the signer), UNSIGNED or SIGNATURE INVALID.
 */
import { checkChain, cellText, toPublicKey, type KeyInput, type SignatureStatus, type Trust } from './hash-chain.js';
import { readCsvReport } from './csv.js';
import { extractEmbeddedJson, renderHtml } from './html.js';
import { readJsonReport } from './json.js';
import { REPORT_FORMAT, countRows } from './model.js';
import type { Report } from './model.js';

export type ReportFormat = 'csv' | 'json' | 'html';

/** The one-line answer: `valid` only with a trusted key, intact content and a matching signature. */
export type ReportVerdict = 'valid' | 'unsigned' | 'invalid' | 'untrusted';

export interface VerifyResult {
  ok: boolean;
  format: ReportFormat;
  rows: number;
  errors: string[];
  warnings: string[];
  signature: SignatureStatus;
  verdict: ReportVerdict;
  /** Exactly one of `signed by STATION (FINGERPRINT) — valid`, `UNSIGNED`, `SIGNATURE INVALID`, or (no trusted key) `signed by … — NOT VERIFIED: key not trusted`. */
  statement: string;
  /** Whether the caller gave keys to trust (then anything but `valid` is not ok). */
  keyGiven: boolean;
  signer?: { station: string; fingerprint: string; name?: string };
}

export interface VerifyOptions {
  /** One station public key (PEM, base64, hex or KeyObject): the caller trusts it explicitly. */
  publicKey?: KeyInput;
  /** Keys to trust; `explicit: false` for an implicit default (this station's own key). */
  trust?: Trust;
}

export function detectFormat(content: string): ReportFormat {
  const start = content.replace(/^\uFEFF/, '').trimStart();
  if (start.startsWith('{')) return 'json';
  if (start.startsWith('<')) return 'html';
  return 'csv';
}

export function verifyReport(content: string, opts: VerifyOptions = {}): VerifyResult {
  const format = detectFormat(content);
  let parsed: { summary: Record<string, unknown>; rows: Record<string, unknown>[]; errors: string[] };
  const extra: string[] = [];
  const notes: string[] = [];
  if (format === 'csv') parsed = readCsvReport(content);
  else if (format === 'json') parsed = readJsonReport(content);
  else {
    const embedded = extractEmbeddedJson(content);
    parsed = embedded === undefined ? { summary: {}, rows: [], errors: ['no embedded report data in the HTML page'] } : readJsonReport(embedded);
    if (embedded !== undefined && parsed.errors.length === 0) {
      if (parsed.summary.format !== REPORT_FORMAT) notes.push(`the visible page was not compared: the report was written in ${cellText(parsed.summary.format)}, this build renders ${REPORT_FORMAT}; the embedded data is checked`);
      else if (!isVisiblePageFaithful(content, parsed)) extra.push('the visible page differs from the embedded report data (the table or summary was edited)');
    }
  }
  const trust: Trust | undefined = opts.trust ?? (opts.publicKey !== undefined ? { keys: [{ key: toPublicKey(opts.publicKey) }], explicit: true } : undefined);
  const chain = checkChain(parsed.summary, parsed.rows, trust);
  const errors = [...parsed.errors, ...chain.errors, ...checkCounts(parsed.summary, parsed.rows), ...extra];
  const keyGiven = !!trust?.explicit;
  const station = cellText(parsed.summary.station_id) || '(unknown station)';
  let verdict: ReportVerdict;
  let statement: string;
  if (chain.signature === 'absent') {
    verdict = 'unsigned';
    statement = 'UNSIGNED';
  } else if (chain.signature === 'valid' && errors.length === 0) {
    verdict = 'valid';
    statement = `signed by ${station} (${chain.signer!.fingerprint}${chain.signer!.name ? `, ${chain.signer!.name}` : ''}) — valid`;
  } else if (chain.signature === 'untrusted' && errors.length === 0) {
    verdict = 'untrusted';
    statement = `signed by ${station} (${chain.signer!.fingerprint}) — NOT VERIFIED: key not trusted (pass --key or --trusted-keys)`;
  } else if (chain.signature === 'unchecked' && errors.length === 0) {
    verdict = 'untrusted';
    statement = 'signed — NOT VERIFIED: no station key given (pass --key or --trusted-keys)';
  } else {
    // A signature over content that no longer matches it is as good as a forged one.
    verdict = 'invalid';
    statement = 'SIGNATURE INVALID';
  }
  const ok = errors.length === 0 && (keyGiven ? verdict === 'valid' : verdict !== 'invalid');
  const result: VerifyResult = { ok, format, rows: parsed.rows.length, errors, warnings: [...chain.warnings, ...notes], signature: chain.signature, verdict, statement, keyGiven };
  if (chain.signer) result.signer = { station, ...chain.signer };
  return result;
}

/** Counts are chained too, but a consistent rewrite without a key could still lie about them. */
function checkCounts(summary: Record<string, unknown>, rows: Record<string, unknown>[]): string[] {
  const errors: string[] = [];
  for (const [key, n] of Object.entries(countRows(rows as { state: unknown; result: unknown }[]))) {
    if (cellText(summary[key]) !== String(n)) errors.push(`summary ${key} is ${cellText(summary[key])}, rows give ${n}`);
  }
  return errors;
}

function isVisiblePageFaithful(content: string, parsed: { summary: Record<string, unknown>; rows: Record<string, unknown>[] }): boolean {
  try {
    const report = { summary: parsed.summary, rows: parsed.rows } as unknown as Report;
    return sameText(renderHtml(report), content);
  } catch {
    return false; // embedded data too malformed to render: the chain check reports why
  }
}

/** Equal apart from line endings: an editor or a mail gateway may turn LF into CRLF (or CR). */
function sameText(a: string, b: string): boolean {
  const norm = (t: string) => t.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  return norm(a) === norm(b);
}
