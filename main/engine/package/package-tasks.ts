/**
 * The CPU-heavy steps of loading a package, run inside pooled worker threads (see
 * workers/worker-pool.ts): hashing, HEX decoding and zip unpacking. Every output image is
 * allocated on a SharedArrayBuffer so the main thread and all jobs share one copy.
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { StationError } from '../errors.js';
import { consumeFill } from './fill-progress.js';
import { parseIntelHex, type IntelHexResult } from './intel-hex.js';
import { readZipPackage, type PackageManifest } from './zip-package.js';
import type { SignatureCheck } from './signature.js';

export type DigestAlgorithm = 'crc32' | 'md5' | 'sha256';
export type Digests = Partial<Record<DigestAlgorithm, string>>;

/** Large enough to amortise per-call overhead, small enough to stay in cache. */
const DIGEST_CHUNK_BYTES = 1024 * 1024;

export function allocShared(sizeBytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(sizeBytes));
}

/**
 * Streams `bytes` once through each requested digest. With `progress`, hashes each range as soon
 * as the reader has filled it (see fill-progress.ts). CRC-32 is zlib's (lowercase, 8 hex digits).
 */
export function digest(input: { bytes: Uint8Array; algorithms: DigestAlgorithm[]; progress?: Int32Array }): Digests {
  const { bytes, algorithms, progress } = input;
  const hashes = algorithms.filter((a) => a !== 'crc32').map((a) => [a, createHash(a)] as const);
  const wantCrc = algorithms.includes('crc32');
  let crc = 0;
  const update = (chunk: Uint8Array) => {
    for (const [, h] of hashes) h.update(chunk);
    if (wantCrc) crc = zlib.crc32(chunk, crc);
  };
  if (progress) consumeFill(bytes, progress, DIGEST_CHUNK_BYTES, update);
  else for (let offset = 0; offset < bytes.length; offset += DIGEST_CHUNK_BYTES) update(bytes.subarray(offset, offset + DIGEST_CHUNK_BYTES));
  const out: Digests = {};
  for (const [a, h] of hashes) out[a] = h.digest('hex');
  if (wantCrc) out.crc32 = (crc >>> 0).toString(16).padStart(8, '0');
  return out;
}

export function parseHexImage(input: { text: Uint8Array; maxBytes: number }): IntelHexResult {
  return parseIntelHex(input.text, { maxBytes: input.maxBytes, alloc: allocShared });
}

/** One component's decoded image with what the package says about it. */
export interface UnpackedComponent {
  component: string;
  version: string;
  kind: 'full' | 'diff';
  sourceVersion?: string;
  fileName: string;
  bytes: Uint8Array;
  baseAddress?: number;
  /** SHA-256 of `bytes` when already known (a .bin entry was hashed to check the manifest). */
  sha256?: string;
}

export interface UnpackedZip {
  manifest: PackageManifest;
  signature: SignatureCheck;
  components: UnpackedComponent[];
}

/** Opens a zip package and decodes its .hex components to binary images. */
export function unpackZip(input: { zip: Uint8Array; maxBytes: number; trustedKeys?: string[]; label: string }): UnpackedZip {
  const opened = readZipPackage(input.zip, { maxBytes: input.maxBytes, trustedKeys: input.trustedKeys, alloc: allocShared, label: input.label });
  const components = opened.files.map((f): UnpackedComponent => {
    const { component, version, kind, sourceVersion, file } = f.component;
    const meta = { component, version, kind, fileName: file, ...(sourceVersion !== undefined ? { sourceVersion } : {}) };
    if (f.format === 'bin') return { ...meta, bytes: f.data, sha256: f.component.sha256 };
    const hex = parseIntelHex(f.data, { maxBytes: input.maxBytes, alloc: allocShared });
    if (!hex.ok) throw new StationError(hex.code, `${input.label} [${file}] line ${hex.line}: ${hex.reason}`);
    return { ...meta, bytes: hex.bytes, baseAddress: hex.base };
  });
  return { manifest: opened.manifest, signature: opened.signature, components };
}
