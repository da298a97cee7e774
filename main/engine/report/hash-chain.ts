/**
 * The report's tamper evidence: a SHA-256 chain from the summary header through every row,
 * and an optional Ed25519 signature over the chain head. Works on loosely typed records so the
 * verifier can check what it parsed from CSV (all strings) exactly like what it built.
 *
 *   h0          = sha256(canonical(header))
 *   row_hash[i] = sha256(prev_hash[i] + canonical(row[i])),  prev_hash[0] = h0, prev_hash[i] = row_hash[i-1]
 *   chain_head  = row_hash[last] (h0 when there are no rows); signature = Ed25519(signedMessage)
 * canonical() = JSON array of the fields' text in the fixed order, absent or null as "".
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { HEADER_FIELDS, REPORT_FORMAT, ROW_FIELDS } from './model.js';
import type { Report, ReportHeader, ReportRow, SealedRow } from './model.js';

export type KeyInput = string | KeyObject;
type Loose = Record<string, unknown>;

/** A cell's text form: numbers and strings as written in CSV, null/absent as empty. */
export function cellText(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function canonical(fields: readonly string[], rec: object): string {
  return JSON.stringify(fields.map((f) => cellText((rec as Loose)[f])));
}

export function headerHash(header: object): string {
  return sha256Hex(canonical(HEADER_FIELDS, header));
}

export function rowHash(prevHash: string, row: object): string {
  return sha256Hex(prevHash + canonical(ROW_FIELDS, row));
}

/** What the station key signs: the head commits to the header and every row, in order. */
export function signedMessage(chainHead: string, rowCount: number | string): string {
  return `${REPORT_FORMAT}\n${chainHead}\n${rowCount}`;
}

/** createPublicKey derives from PEM or a private KeyObject but rejects a public KeyObject. */
function toPublicKey(key: KeyInput): KeyObject {
  return typeof key !== 'string' && key.type === 'public' ? key : createPublicKey(key);
}

/** First 16 hex digits of sha256(SPKI DER): names the key without shipping it. */
export function keyId(key: KeyInput): string {
  const pub = toPublicKey(key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(pub).digest('hex').slice(0, 16);
}

/** Chains the rows under the header and signs the head when a key is given. */
export function sealReport(header: ReportHeader, rows: readonly ReportRow[], signingKey?: KeyInput): Report {
  let prev = headerHash(header);
  const sealed: SealedRow[] = rows.map((r) => {
    const row_hash = rowHash(prev, r);
    const s: SealedRow = { ...r, prev_hash: prev, row_hash };
    prev = row_hash;
    return s;
  });
  const signature = signingKey
    ? sign(null, Buffer.from(signedMessage(prev, sealed.length)), typeof signingKey === 'string' ? createPrivateKey(signingKey) : signingKey).toString('base64')
    : '';
  return { summary: { ...header, row_count: sealed.length, chain_head: prev, signature }, rows: sealed };
}

export type SignatureStatus = 'valid' | 'invalid' | 'unchecked' | 'absent';

export interface ChainCheck {
  errors: string[];
  warnings: string[];
  signature: SignatureStatus;
}

/**
 * Checks the header hash, every link, the trailer and (with a public key) the signature.
 * An edited cell breaks that row's own hash; a deleted, inserted or swapped row breaks the next
 * link; an edited summary breaks the first link; a removed last row breaks the head/count.
 * Rewriting the whole chain consistently is only caught by the signature.
 */
export function checkChain(summary: Loose, rows: readonly Loose[], publicKey?: KeyInput): ChainCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (summary.format !== REPORT_FORMAT) errors.push(`unknown report format "${cellText(summary.format)}" (expected ${REPORT_FORMAT})`);

  let expectedPrev = headerHash(summary);
  rows.forEach((row, i) => {
    const n = i + 1;
    const prev = cellText(row.prev_hash);
    if (prev !== expectedPrev) {
      errors.push(
        i === 0
          ? 'row 1: chain does not start at the summary (summary edited, or a row inserted or deleted before row 1)'
          : `row ${n}: does not follow row ${i} (a row was deleted, inserted or reordered here)`,
      );
    }
    if (rowHash(prev, row) !== cellText(row.row_hash)) errors.push(`row ${n} (unit ${cellText(row.unit_id)}): contents changed after the report was written`);
    expectedPrev = cellText(row.row_hash);
  });

  if (cellText(summary.row_count) !== String(rows.length)) {
    errors.push(`summary says ${cellText(summary.row_count)} rows, file has ${rows.length} (rows deleted or inserted)`);
  }
  if (cellText(summary.chain_head) !== expectedPrev) errors.push('chain head does not match the last row (rows removed from the end, or summary edited)');

  const sig = cellText(summary.signature);
  let signature: SignatureStatus = sig ? 'unchecked' : 'absent';
  if (publicKey) {
    if (!sig) errors.push('report is not signed but a station public key was given');
    else {
      signature = isSignatureValid(signedMessage(cellText(summary.chain_head), cellText(summary.row_count)), sig, publicKey) ? 'valid' : 'invalid';
      if (signature === 'invalid') errors.push('signature does not match the station public key (the chain was rewritten or signed by another station)');
      const expectedKeyId = safeKeyId(publicKey);
      if (cellText(summary.signing_key_id) !== expectedKeyId) errors.push(`report names signing key ${cellText(summary.signing_key_id)}, verifier holds ${expectedKeyId}`);
    }
  } else if (sig) {
    warnings.push('signature present but not checked: pass the station public key to detect a rewritten chain');
  } else {
    warnings.push('chain-only report: edits to rows are detected, a full rewrite of the file is not');
  }
  return { errors, warnings, signature };
}

function safeKeyId(key: KeyInput): string {
  try {
    return keyId(key);
  } catch {
    return '(unreadable public key)';
  }
}

function isSignatureValid(message: string, signatureB64: string, publicKey: KeyInput): boolean {
  try {
    return verify(null, Buffer.from(message), toPublicKey(publicKey), Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}
