/**
 * The station's Ed25519 report-signing key: created on first start as `station-key.pem` (PKCS#8,
 * mode 0600) in the data dir, loaded afterwards; its public key and fingerprint are what QA
 * gives customers. Also reads the keys a verifier is told to trust (--key / --trusted-keys).
 */
import { generateKeyPairSync, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StationError } from '../errors.js';
import { keyId, spkiDer, spkiSha256, toPublicKey, type TrustedKey } from './hash-chain.js';

export const STATION_KEY_FILE = 'station-key.pem';

export interface StationKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  file: string;
  created: boolean;
}

export interface PublicKeyInfo {
  /** First 16 hex digits of sha256(SPKI DER): what reports name as signing_key_id. */
  fingerprint: string;
  sha256: string;
  /** base64 of the SPKI DER: what `--key` accepts and reports embed. */
  spkiBase64: string;
  /** The raw 32-byte key, hex. */
  rawHex: string;
  pem: string;
}

/**
 * Loads the station key, creating it when absent. The file is written under a temporary name and
 * linked into place, so a crash never leaves half a key and two processes starting at once agree
 * on one key (the second link fails and that process reads the winner's file).
 */
export function loadOrCreateStationKey(dataDir: string): StationKey {
  const file = path.join(dataDir, STATION_KEY_FILE);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    fs.writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    const key = readKey(file);
    return { ...key, file, created: true };
  }
  // A key someone made group- or world-readable is tightened, not used as it is.
  if (process.platform !== 'win32' && (fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  return { ...readKey(file), file, created: false };
}

/** A damaged or foreign key file is a clear station error, never a silent new key (that would orphan every report signed so far). */
function readKey(file: string): { privateKey: KeyObject; publicKey: KeyObject } {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new StationError('CONFIG_INVALID', `station key ${file} is unreadable (${(e as Error).message}); restore it from a backup, or move it away to give this station a new key`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new StationError('CONFIG_INVALID', `station key ${file} is not an Ed25519 private key`);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** The station key without creating or changing anything (a reader of a folder another process owns), or undefined. */
export function existingStationKey(dataDir: string): StationKey | undefined {
  const file = path.join(dataDir, STATION_KEY_FILE);
  if (!fs.existsSync(file)) return undefined;
  return { ...readKey(file), file, created: false };
}

/** The station's public key without creating one (read-only commands), or undefined. */
export function readStationPublicKey(dataDir: string): KeyObject | undefined {
  const file = path.join(dataDir, STATION_KEY_FILE);
  if (!fs.existsSync(file)) return undefined;
  return readKey(file).publicKey;
}

export function publicKeyInfo(key: KeyObject | string): PublicKeyInfo {
  const pub = toPublicKey(key);
  const der = spkiDer(pub);
  return {
    fingerprint: keyId(pub),
    sha256: spkiSha256(pub),
    spkiBase64: der.toString('base64'),
    rawHex: der.subarray(der.length - 32).toString('hex'),
    pem: pub.export({ type: 'spki', format: 'pem' }) as string,
  };
}

/**
 * One public key from text or from a file holding it (PEM, base64 or hex).
 * `--key` accepts either; a path that exists wins over reading the text as a key.
 */
export function readKeyArg(arg: string): KeyObject {
  if (fs.existsSync(arg) && fs.statSync(arg).isFile()) {
    const text = fs.readFileSync(arg, 'utf8');
    const keys = parseTrustedKeys(text);
    if (keys.length !== 1) throw new Error(`${arg}: expected one public key, found ${keys.length}`);
    return keys[0]!.key;
  }
  return toPublicKey(arg);
}

/**
 * A trusted-keys file: PEM blocks, and lines `KEY [NAME…]` with KEY in base64 or hex; `#` starts
 * a comment. A line that is not a key is an error (a typo must not shrink the trusted set silently).
 */
export function parseTrustedKeys(text: string): TrustedKey[] {
  const keys: TrustedKey[] = [];
  const rest = text.replace(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g, (pem) => {
    keys.push({ key: toPublicKey(pem) });
    return pem.replace(/[^\n]/g, ''); // keep line numbers for the errors below

  });
  rest.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const [token, ...name] = line.split(/\s+/);
    try {
      const k: TrustedKey = { key: toPublicKey(token!) };
      if (name.length) k.name = name.join(' ');
      keys.push(k);
    } catch (e) {
      throw new Error(`line ${i + 1}: ${(e as Error).message}`);
    }
  });
  return keys;
}
