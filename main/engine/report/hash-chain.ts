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
import { REPORT_FORMAT, fieldsOf } from './model.js';
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

/** Field orders of the record's own format (the current one when it names none this build knows). */
function fieldsFor(rec: object) {
  return fieldsOf((rec as Loose).format) ?? fieldsOf(REPORT_FORMAT)!;
}

export function headerHash(header: object): string {
  return sha256Hex(canonical(fieldsFor(header).header, header));
}

export function rowHash(prevHash: string, row: object, format: unknown = REPORT_FORMAT): string {
  return sha256Hex(prevHash + canonical((fieldsOf(format) ?? fieldsOf(REPORT_FORMAT)!).row, row));
}

/** What the station key signs: the head commits to the header and every row, in order. */
export function signedMessage(chainHead: string, rowCount: number | string, format: string = REPORT_FORMAT): string {
  return `${format}\n${chainHead}\n${rowCount}`;
}

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * A public key from any form QA is likely to paste: PEM (public, or a private key it derives the
 * public key from), base64 or hex of the SPKI DER, base64 or hex of the raw 32 bytes, or a KeyObject.
 * Throws on anything else, and on a key that is not Ed25519.
 */
export function toPublicKey(key: KeyInput): KeyObject {
  let k: KeyObject;
  if (typeof key !== 'string') k = key.type === 'public' ? key : createPublicKey(key);
  else {
    const text = key.trim();
    if (text.includes('-----BEGIN')) k = createPublicKey(text);
    else {
      const compact = text.replace(/\s+/g, '');
      let der: Buffer;
      if (/^[0-9a-fA-F]+$/.test(compact) && (compact.length === 64 || compact.length === 88)) der = Buffer.from(compact, 'hex');
      else if (/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) der = Buffer.from(compact, 'base64');
      else throw new Error('not a public key: expected PEM, base64 or hex');
      if (der.length === 32) der = Buffer.concat([ED25519_SPKI_PREFIX, der]);
      if (der.length !== 44) throw new Error(`not an Ed25519 public key (${der.length} bytes)`);
      k = createPublicKey({ key: der, format: 'der', type: 'spki' });
    }
  }
  if (k.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 key (${k.asymmetricKeyType ?? 'unknown type'})`);
  return k;
}

/** First 16 hex digits of sha256(SPKI DER): names the key without shipping it (the key's fingerprint). */
export function keyId(key: KeyInput): string {
  return spkiSha256(key).slice(0, 16);
}

/** Full sha256 of the key's SPKI DER, hex. */
export function spkiSha256(key: KeyInput): string {
  return createHash('sha256').update(spkiDer(key)).digest('hex');
}

export function spkiDer(key: KeyInput): Buffer {
  return toPublicKey(key).export({ type: 'spki', format: 'der' });
}

/** Chains the rows under the header and signs the head when a key is given. */
export function sealReport(header: ReportHeader, rows: readonly ReportRow[], signingKey?: KeyInput): Report {
  let prev = headerHash(header);
  const sealed: SealedRow[] = rows.map((r) => {
    const row_hash = rowHash(prev, r, header.format);
    const s: SealedRow = { ...r, prev_hash: prev, row_hash };
    prev = row_hash;
    return s;
  });
  const signature = signingKey
    ? sign(null, Buffer.from(signedMessage(prev, sealed.length, header.format)), typeof signingKey === 'string' ? createPrivateKey(signingKey) : signingKey).toString('base64')
    : '';
  return { summary: { ...header, row_count: sealed.length, chain_head: prev, signature }, rows: sealed };
}

/**
 * `valid`: a trusted key verifies the signature; `invalid`: it does not, or no trusted key
 * matches when keys were given, or the signature does not even match the key the report names;
 * `untrusted`: it matches the key the report names, but nobody said to trust that key;
 * `unchecked`: an old-format signature and no key to check it; `absent`: unsigned.
 */
export type SignatureStatus = 'valid' | 'invalid' | 'untrusted' | 'unchecked' | 'absent';

/** Keys a verifier trusts; `explicit` when the user gave them (--key / --trusted-keys). */
export interface TrustedKey {
  key: KeyObject;
  name?: string;
}

export interface Trust {
  keys: TrustedKey[];
  explicit: boolean;
}

export interface ChainCheck {
  errors: string[];
  warnings: string[];
  signature: SignatureStatus;
  /** The key that verified the signature (valid), or the key the report names (untrusted). */
  signer?: { fingerprint: string; name?: string };
}

/**
 * Checks the header hash, every link, the trailer and the signature.
 * An edited cell breaks that row's own hash; a deleted, inserted or swapped row breaks the next
 * link; an edited summary breaks the first link; a removed last row breaks the head/count.
 * Rewriting the whole chain consistently is only caught by the signature, checked against a
 * trusted key: a signature is never taken as proof on the strength of a key the file itself names.
 */
export function checkChain(summary: Loose, rows: readonly Loose[], trustOrKey?: Trust | KeyInput): ChainCheck {
  const trust: Trust = trustOrKey === undefined ? { keys: [], explicit: false } : isTrust(trustOrKey) ? trustOrKey : { keys: [{ key: toPublicKeyOrThrow(trustOrKey) }], explicit: true };
  const errors: string[] = [];
  const warnings: string[] = [];
  const format = cellText(summary.format);
  if (!fieldsOf(format)) errors.push(`unknown report format "${format}" (expected ${REPORT_FORMAT})`);

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
    if (rowHash(prev, row, format) !== cellText(row.row_hash)) errors.push(`row ${n} (unit ${cellText(row.unit_id)}): contents changed after the report was written`);
    expectedPrev = cellText(row.row_hash);
  });

  if (cellText(summary.row_count) !== String(rows.length)) {
    errors.push(`summary says ${cellText(summary.row_count)} rows, file has ${rows.length} (rows deleted or inserted)`);
  }
  if (cellText(summary.chain_head) !== expectedPrev) errors.push('chain head does not match the last row (rows removed from the end, or summary edited)');

  const sig = cellText(summary.signature);
  const message = signedMessage(cellText(summary.chain_head), cellText(summary.row_count), format);
  const namedId = cellText(summary.signing_key_id);
  if (!sig) {
    if (trust.explicit) errors.push('report is not signed but a station public key was given');
    else warnings.push('chain-only report: edits to rows are detected, a full rewrite of the file is not');
    return { errors, warnings, signature: 'absent' };
  }
  const verifier = trust.keys.find((k) => isSignatureValid(message, sig, k.key));
  if (verifier) {
    const fingerprint = keyId(verifier.key);
    if (namedId !== fingerprint) errors.push(`report names signing key ${namedId || '(none)'}, the signature is by ${fingerprint}`);
    return { errors, warnings, signature: 'valid', signer: { fingerprint, name: verifier.name } };
  }
  if (trust.keys.length > 0 && trust.explicit) {
    const held = trust.keys.map((k) => keyId(k.key)).join(', ');
    errors.push(
      trust.keys.some((k) => keyId(k.key) === namedId)
        ? 'signature does not match the station public key (the chain was rewritten or the signature forged)'
        : `signed by key ${namedId || '(unnamed)'}, which is not a trusted key (${held}): another station, or a forger's key`,
    );
    return { errors, warnings, signature: 'invalid' };
  }
  // No trusted key applies: at least check the signature against the key the report names, so a
  // junk signature is never passed over, and say plainly that nothing vouches for that key.
  const embedded = cellText(summary.signing_public_key);
  if (!embedded) {
    if (format === REPORT_FORMAT) {
      errors.push('report is signed but names no public key (a signed report of this format always does)');
      return { errors, warnings, signature: 'invalid' };
    }
    warnings.push('signature present but not checked: pass the station public key (--key) to detect a rewritten chain');
    return { errors, warnings, signature: 'unchecked' };
  }
  let named: KeyObject;
  try {
    named = toPublicKey(embedded);
  } catch (e) {
    errors.push(`the report's signing_public_key is unreadable: ${(e as Error).message}`);
    return { errors, warnings, signature: 'invalid' };
  }
  const fingerprint = keyId(named);
  if (fingerprint !== namedId) {
    errors.push(`signing_key_id ${namedId} does not name the embedded public key (${fingerprint})`);
    return { errors, warnings, signature: 'invalid' };
  }
  if (!isSignatureValid(message, sig, named)) {
    errors.push('signature does not match the key the report names (a forged or damaged signature)');
    return { errors, warnings, signature: 'invalid' };
  }
  warnings.push(`signature matches key ${fingerprint} named in the report, but that key is not trusted here: pass the station's public key (--key or --trusted-keys) to prove which station wrote it`);
  return { errors, warnings, signature: 'untrusted', signer: { fingerprint } };
}

function isTrust(v: Trust | KeyInput): v is Trust {
  return typeof v === 'object' && v !== null && 'keys' in v && Array.isArray((v as Trust).keys);
}

function toPublicKeyOrThrow(key: KeyInput): KeyObject {
  return toPublicKey(key);
}

function isSignatureValid(message: string, signatureB64: string, publicKey: KeyObject): boolean {
  try {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signatureB64)) return false;
    return verify(null, Buffer.from(message), publicKey, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}
