/**
 * Ed25519 signatures over package manifests. What is signed: the UTF-8 bytes of the canonical
 * JSON (object keys sorted by code unit, no whitespace) of the parsed manifest with its top-level
 * `signature` field removed. The manifest holds each file's SHA-256, so the signature covers the
 * files too. Keys travel as base64 of the raw 32-byte public key, or as PEM (SPKI).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { StationError } from '../errors.js';

export interface ManifestSignature {
  alg: 'ed25519';
  /** Base64 of the raw 32-byte key, or a PEM public key. */
  publicKey: string;
  /** Base64 of the 64-byte signature. */
  value: string;
}

export type SignatureCheck = { status: 'none' } | { status: 'valid'; signer: string };

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw key follows it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const RAW_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('non-finite number in signed JSON');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`cannot sign a ${typeof value}`);
}

/** The exact bytes an Ed25519 signature covers for `manifest`. */
export function signedBytes(manifest: object): Uint8Array {
  const { signature: _omitted, ...unsigned } = manifest as Record<string, unknown>;
  return new TextEncoder().encode(canonicalJson(unsigned));
}

export function generateSigningKey(): { privateKeyPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey: rawPublicKey(publicKey).toString('base64') };
}

/** Returns a copy of `manifest` carrying a signature made with the PEM (PKCS#8) Ed25519 key. */
export function signManifest<M extends object>(manifest: M, privateKeyPem: string): M & { signature: ManifestSignature } {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('signing key must be Ed25519');
  const value = sign(null, signedBytes(manifest), key).toString('base64');
  const publicKey = rawPublicKey(createPublicKey(key)).toString('base64');
  return { ...manifest, signature: { alg: 'ed25519', publicKey, value } };
}

/** A short stable name for a key: "ed25519:" + first 16 hex digits of SHA-256 of the raw key. */
export function keyFingerprint(publicKey: string): string {
  return `ed25519:${createHash('sha256').update(rawPublicKey(parsePublicKey(publicKey))).digest('hex').slice(0, 16)}`;
}

/**
 * Checks the manifest's own signature and, when `trustedKeys` is given, that its key is one of
 * them. Throws IMAGE_SIGNATURE_INVALID; an unsigned manifest is `none` (the caller decides if
 * that is allowed). `label` names the package in messages.
 */
export function verifyManifestSignature(manifest: Record<string, unknown>, label: string, trustedKeys?: readonly string[]): SignatureCheck {
  const sig = manifest['signature'];
  if (sig === undefined) return { status: 'none' };
  const invalid = (reason: string) => new StationError('IMAGE_SIGNATURE_INVALID', `${label}: ${reason}`);
  if (!sig || typeof sig !== 'object') throw invalid('signature must be an object');
  const { alg, publicKey, value } = sig as Record<string, unknown>;
  if (alg !== 'ed25519') throw invalid(`unsupported signature algorithm ${JSON.stringify(alg)}`);
  if (typeof publicKey !== 'string' || typeof value !== 'string') throw invalid('signature needs publicKey and value strings');
  let key: KeyObject;
  try {
    key = parsePublicKey(publicKey);
  } catch (err) {
    throw invalid(`bad public key (${(err as Error).message})`);
  }
  const sigBytes = Buffer.from(value, 'base64');
  if (sigBytes.length !== SIGNATURE_BYTES || !verify(null, signedBytes(manifest), key, sigBytes)) {
    throw invalid('the signature does not match the manifest');
  }
  const raw = rawPublicKey(key);
  if (trustedKeys && !trustedKeys.some((k) => isSameKey(k, raw))) {
    throw invalid(`signed by ${keyFingerprint(publicKey)}, which is not a trusted key`);
  }
  return { status: 'valid', signer: keyFingerprint(publicKey) };
}

function isSameKey(candidate: string, raw: Buffer): boolean {
  try {
    return rawPublicKey(parsePublicKey(candidate)).equals(raw);
  } catch {
    return false; // an unparsable trusted key trusts nothing
  }
}

function parsePublicKey(text: string): KeyObject {
  const key = text.includes('-----BEGIN')
    ? createPublicKey(text)
    : (() => {
        const raw = Buffer.from(text, 'base64');
        if (raw.length !== RAW_KEY_BYTES) throw new Error(`raw key must be ${RAW_KEY_BYTES} bytes, got ${raw.length}`);
        return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
      })();
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 key (${key.asymmetricKeyType})`);
  return key;
}

function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length);
}
