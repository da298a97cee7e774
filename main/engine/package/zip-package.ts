/**
 * The .zip package format: a `manifest.json` at the root listing each component file with its
 * version, kind and SHA-256 (of the file as stored, before any HEX decoding), optionally signed
 * (see signature.ts). Owns reading the zip defensively (path escapes, bombs, damage) and writing
 * one. Synchronous and CPU-bound: the loader runs it in a worker thread.
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { zipSync } from 'fflate';
import { StationError } from '../errors.js';
import { isValidVersion } from './version.js';
import { signManifest, verifyManifestSignature, type ManifestSignature, type SignatureCheck } from './signature.js';

export const MANIFEST_NAME = 'manifest.json';
export const MANIFEST_FORMAT = 1;
/** A manifest is a few hundred bytes; anything near this is not one. */
const MANIFEST_MAX_BYTES = 1024 * 1024;
/** Component names share the version alphabet so they are safe in file names, topics and logs. */
const COMPONENT_NAME_RE = /^[A-Za-z0-9._-]{1,32}$/;

export interface ManifestComponent {
  component: string;
  /** Entry name inside the zip; .bin or .hex. */
  file: string;
  version: string;
  kind: 'full' | 'diff';
  sourceVersion?: string;
  /** Lowercase hex SHA-256 of the entry's bytes. */
  sha256: string;
}

export interface PackageManifest {
  format: typeof MANIFEST_FORMAT;
  product?: string;
  components: ManifestComponent[];
  signature?: ManifestSignature;
}

export interface ZipPackageFile {
  component: ManifestComponent;
  format: 'bin' | 'hex';
  /** The entry's bytes (the HEX text for .hex files), verified against the manifest's SHA-256. */
  data: Uint8Array;
}

export interface OpenedZipPackage {
  manifest: PackageManifest;
  signature: SignatureCheck;
  files: ZipPackageFile[];
}

export interface ReadZipOptions {
  /** Limit on the sum of declared uncompressed sizes of the entries we extract. */
  maxBytes: number;
  trustedKeys?: readonly string[];
  /** Allocates each extracted entry (e.g. on a SharedArrayBuffer). */
  alloc?: (sizeBytes: number) => Uint8Array;
  /** Names the package in error messages (the file path). */
  label?: string;
}

/** True when `name` stays inside the package folder: no `..` segment, root, backslash or drive letter. */
export function isSafeEntryName(name: string): boolean {
  if (name.length === 0 || name.includes('\\') || name.includes('\0')) return false;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return false;
  return !name.split('/').includes('..');
}

/** Opens and fully checks a package: entries, manifest, signature and every component's hash. */
export function readZipPackage(zip: Uint8Array, opts: ReadZipOptions): OpenedZipPackage {
  const label = opts.label ?? 'package';
  const alloc = opts.alloc ?? ((size: number) => new Uint8Array(size));
  const entries = listZipEntries(zip, label);

  const manifestEntry = entries.get(MANIFEST_NAME);
  if (!manifestEntry) throw new StationError('IMAGE_MANIFEST_INVALID', `${label}: no ${MANIFEST_NAME} at the root of the zip`);
  if (manifestEntry.sizeBytes > MANIFEST_MAX_BYTES) throw new StationError('IMAGE_MANIFEST_INVALID', `${label}: ${MANIFEST_NAME} is ${manifestEntry.sizeBytes} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(extractEntry(zip, manifestEntry, label, (n) => new Uint8Array(n))));
  } catch (err) {
    if (err instanceof StationError) throw err;
    throw new StationError('IMAGE_MANIFEST_INVALID', `${label}: ${MANIFEST_NAME} is not valid JSON (${(err as Error).message})`);
  }
  const manifest = parseManifest(raw, label);
  // Verify against the raw object so fields this version does not know are covered too.
  const signature = verifyManifestSignature(raw as Record<string, unknown>, label, opts.trustedKeys);

  let totalBytes = 0;
  const wanted = manifest.components.map((component) => {
    const entry = entries.get(component.file);
    if (!entry) throw new StationError('IMAGE_MANIFEST_INVALID', `${label}: manifest names ${component.file}, which is not in the zip`);
    totalBytes += entry.sizeBytes;
    if (totalBytes > opts.maxBytes) {
      throw new StationError('IMAGE_TOO_LARGE', `${label} [${entry.name}]: unpacks to more than the ${opts.maxBytes}-byte limit`);
    }
    return { component, entry };
  });
  const files = wanted.map(({ component, entry }): ZipPackageFile => {
    const data = extractEntry(zip, entry, label, alloc);
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (sha256 !== component.sha256) {
      throw new StationError('IMAGE_HASH_MISMATCH', `${label} [${entry.name}]: SHA-256 is ${sha256}, the manifest says ${component.sha256}`);
    }
    return { component, format: component.file.toLowerCase().endsWith('.hex') ? 'hex' : 'bin', data };
  });
  return { manifest, signature, files };
}

/** Validates a parsed manifest; throws IMAGE_MANIFEST_INVALID, IMAGE_VERSION_INVALID or IMAGE_ZIP_PATH_ESCAPE. */
export function parseManifest(raw: unknown, label = 'package'): PackageManifest {
  const invalid = (reason: string) => new StationError('IMAGE_MANIFEST_INVALID', `${label}: ${MANIFEST_NAME}: ${reason}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('must be a JSON object');
  const m = raw as Record<string, unknown>;
  if (m['format'] !== MANIFEST_FORMAT) throw invalid(`format must be ${MANIFEST_FORMAT}, not ${JSON.stringify(m['format'])}`);
  if (m['product'] !== undefined && typeof m['product'] !== 'string') throw invalid('product must be a string');
  const list = m['components'];
  if (!Array.isArray(list) || list.length === 0) throw invalid('components must be a non-empty array');
  const seen = new Set<string>();
  const components = list.map((c: unknown, i): ManifestComponent => {
    const where = `components[${i}]`;
    if (!c || typeof c !== 'object') throw invalid(`${where} must be an object`);
    const { component, file, version, kind, sourceVersion, sha256 } = c as Record<string, unknown>;
    if (typeof component !== 'string' || !COMPONENT_NAME_RE.test(component)) throw invalid(`${where}.component must be 1–32 characters of letters, digits, . - _`);
    if (seen.has(component)) throw invalid(`component "${component}" is listed twice`);
    seen.add(component);
    if (typeof file !== 'string') throw invalid(`${where}.file must be a string`);
    if (!isSafeEntryName(file)) throw new StationError('IMAGE_ZIP_PATH_ESCAPE', `${label}: manifest ${where}.file "${file}" leaves the package folder`);
    if (!/\.(bin|hex)$/i.test(file)) throw invalid(`${where}.file must be a .bin or .hex file`);
    if (!isValidVersion(version)) throw new StationError('IMAGE_VERSION_INVALID', `${label}: ${where}.version ${JSON.stringify(version)} is not 1–32 characters of letters, digits, . - _`);
    if (kind !== 'full' && kind !== 'diff') throw invalid(`${where}.kind must be "full" or "diff"`);
    if (kind === 'diff' && sourceVersion === undefined) throw invalid(`${where} is a diff and must name its sourceVersion`);
    if (kind === 'full' && sourceVersion !== undefined) throw invalid(`${where} is full and must not name a sourceVersion`);
    if (sourceVersion !== undefined && !isValidVersion(sourceVersion)) {
      throw new StationError('IMAGE_VERSION_INVALID', `${label}: ${where}.sourceVersion ${JSON.stringify(sourceVersion)} is not a valid version`);
    }
    if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) throw invalid(`${where}.sha256 must be 64 hex digits`);
    const out: ManifestComponent = { component, file, version, kind, sha256: sha256.toLowerCase() };
    if (sourceVersion !== undefined) out.sourceVersion = sourceVersion;
    return out;
  });
  const manifest: PackageManifest = { format: MANIFEST_FORMAT, components };
  if (typeof m['product'] === 'string') manifest.product = m['product'];
  if (m['signature'] !== undefined) manifest.signature = m['signature'] as ManifestSignature;
  return manifest;
}

export interface ZipComponentInput {
  component: string;
  version: string;
  kind?: 'full' | 'diff';
  sourceVersion?: string;
  /** Entry name, e.g. "app.bin" or "app.hex". */
  file: string;
  data: Uint8Array;
}

/**
 * Builds a package zip: manifest (hashes computed here, signed when a key is given) plus files.
 * `extraEntries` adds other files as-is (release notes; tests use it for hostile names).
 */
export function createZipPackage(input: {
  components: ZipComponentInput[];
  product?: string;
  privateKeyPem?: string;
  extraEntries?: Record<string, Uint8Array>;
}): Uint8Array {
  const components: ManifestComponent[] = input.components.map((c) => {
    const m: ManifestComponent = {
      component: c.component,
      file: c.file,
      version: c.version,
      kind: c.kind ?? 'full',
      sha256: createHash('sha256').update(c.data).digest('hex'),
    };
    if (c.sourceVersion !== undefined) m.sourceVersion = c.sourceVersion;
    return m;
  });
  let manifest: PackageManifest = { format: MANIFEST_FORMAT, components };
  if (input.product !== undefined) manifest.product = input.product;
  if (input.privateKeyPem) manifest = signManifest(manifest, input.privateKeyPem);
  const files: Record<string, Uint8Array> = { [MANIFEST_NAME]: new TextEncoder().encode(JSON.stringify(manifest, null, 2)) };
  for (const c of input.components) files[c.file] = c.data;
  Object.assign(files, input.extraEntries);
  return zipSync(files, { level: 6 });
}

// --- zip container (PKWARE APPNOTE.TXT §4.3) -------------------------------------------------

interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedBytes: number;
  sizeBytes: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_BYTES = 22;
const CENTRAL_HEADER_BYTES = 46;
const LOCAL_HEADER_BYTES = 30;
const MAX_COMMENT_BYTES = 0xffff;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;

/** Reads the central directory and rejects the whole package on any unsafe or duplicate name. */
function listZipEntries(zip: Uint8Array, label: string): Map<string, ZipEntry> {
  const invalid = (reason: string) => new StationError('IMAGE_ZIP_INVALID', `${label}: ${reason}`);
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = -1;
  for (let i = zip.length - EOCD_BYTES; i >= Math.max(0, zip.length - EOCD_BYTES - MAX_COMMENT_BYTES); i--) {
    if (view.getUint32(i, true) === SIG_EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw invalid('not a zip (no end of central directory record)');
  const count = view.getUint16(eocd + 10, true);
  const cdBytes = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) throw invalid('multi-disk zips are not supported');
  if (count === 0xffff || cdOffset === 0xffffffff) throw invalid('zip64 is not supported (packages are under 4 GiB)');
  if (cdOffset + cdBytes > eocd) throw invalid('central directory lies outside the file');

  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_HEADER_BYTES > eocd || view.getUint32(p, true) !== SIG_CENTRAL) throw invalid(`central directory entry ${i} is damaged`);
    const flags = view.getUint16(p + 8, true);
    const nameBytes = view.getUint16(p + 28, true);
    const extraBytes = view.getUint16(p + 30, true);
    const commentBytes = view.getUint16(p + 32, true);
    if (p + CENTRAL_HEADER_BYTES + nameBytes > eocd) throw invalid(`central directory entry ${i} is damaged`);
    const rawName = zip.subarray(p + CENTRAL_HEADER_BYTES, p + CENTRAL_HEADER_BYTES + nameBytes);
    const name = new TextDecoder(flags & FLAG_UTF8 ? 'utf-8' : 'latin1').decode(rawName);
    if (!isSafeEntryName(name)) throw new StationError('IMAGE_ZIP_PATH_ESCAPE', `${label}: entry "${name}" leaves the package folder`);
    if (flags & FLAG_ENCRYPTED) throw invalid(`entry ${name} is encrypted`);
    if (entries.has(name)) throw invalid(`entry ${name} appears twice`);
    entries.set(name, {
      name,
      method: view.getUint16(p + 10, true),
      crc32: view.getUint32(p + 16, true),
      compressedBytes: view.getUint32(p + 20, true),
      sizeBytes: view.getUint32(p + 24, true),
      localHeaderOffset: view.getUint32(p + 42, true),
    });
    p += CENTRAL_HEADER_BYTES + nameBytes + extraBytes + commentBytes;
  }
  return entries;
}

/** Inflates one entry into exactly its declared size; more output than declared is a damaged (or hostile) zip. */
function extractEntry(zip: Uint8Array, e: ZipEntry, label: string, alloc: (size: number) => Uint8Array): Uint8Array {
  const invalid = (reason: string) => new StationError('IMAGE_ZIP_INVALID', `${label} [${e.name}]: ${reason}`);
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const h = e.localHeaderOffset;
  if (h + LOCAL_HEADER_BYTES > zip.length || view.getUint32(h, true) !== SIG_LOCAL) throw invalid('local header is damaged');
  const start = h + LOCAL_HEADER_BYTES + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
  const end = start + e.compressedBytes;
  if (end > zip.length) throw invalid('data runs past the end of the file');
  const packed = zip.subarray(start, end);
  let plain: Uint8Array;
  if (e.method === METHOD_STORED) {
    if (e.compressedBytes !== e.sizeBytes) throw invalid('stored entry sizes disagree');
    plain = packed;
  } else if (e.method === METHOD_DEFLATE) {
    try {
      plain = e.sizeBytes === 0 ? new Uint8Array(0) : zlib.inflateRawSync(packed, { maxOutputLength: e.sizeBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw invalid(`inflates past its declared ${e.sizeBytes} bytes`);
      throw invalid(`cannot inflate (${(err as Error).message})`);
    }
    if (plain.length !== e.sizeBytes) throw invalid(`inflates to ${plain.length} bytes, not the declared ${e.sizeBytes}`);
  } else {
    throw invalid(`unsupported compression method ${e.method}`);
  }
  if (zlib.crc32(plain) >>> 0 !== e.crc32) throw invalid('CRC-32 does not match (damaged zip)');
  const out = alloc(e.sizeBytes);
  out.set(plain);
  return out;
}
