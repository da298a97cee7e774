/**
 * Loads a firmware package (.bin, .hex or .zip) from disk into immutable images: checks size and
 * format, reads the bytes once into shared memory, and gets the hashes, HEX decoding and zip
 * unpacking done in worker threads. Every failure is a StationError naming the file.
 * Must not import transports, jobs, the journal or electron.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { PackageComponentInfo, PackageInfo } from '../../contract/dto.js';
import { findAppVersion, UNKNOWN_VERSION } from '../device/app-descriptor.js';
import { StationError } from '../errors.js';
import type { FirmwareImage } from '../protocol/types.js';
import { defineTask, runInWorker, siblingModule } from '../workers/worker-pool.js';
import type * as tasks from './package-tasks.js';
import type { DigestAlgorithm, Digests, UnpackedComponent } from './package-tasks.js';
import type { SignatureCheck } from './signature.js';
import { isValidVersion } from './version.js';
import { createFillProgress, finishFill, MAX_FILL_BYTES, publishFilled } from './fill-progress.js';

export interface LoadPackageOptions {
  /** Largest file and largest decoded image accepted; default 100 MiB. */
  maxBytes?: number;
  /** Target version of a bare .bin/.hex; without it the image's app descriptor must carry one. Ignored for .zip. */
  version?: string;
  /** Component of a bare image, and the primary component of a zip; default "app". */
  component?: string;
  requireSignature?: boolean;
  /** When given, a signed package must be signed by one of these keys (base64 raw or PEM). */
  trustedKeys?: string[];
}

export interface LoadedPackage {
  info: PackageInfo;
  images: FirmwareImage[];
}

export const DEFAULT_MAX_PACKAGE_BYTES = 100 * 1024 * 1024;
const READ_CHUNK_BYTES = 4 * 1024 * 1024;
/** Enough for format sniffing and the app descriptor (findAppVersion scans 4 KiB). */
const HEAD_BYTES = 64 * 1024;
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

const TASKS = siblingModule(import.meta.url, 'package-tasks');
const digestTask = defineTask<typeof tasks.digest>(TASKS, 'digest');
const parseHexTask = defineTask<typeof tasks.parseHexImage>(TASKS, 'parseHexImage');
const unpackZipTask = defineTask<typeof tasks.unpackZip>(TASKS, 'unpackZip');

export async function loadPackage(filePath: string, opts: LoadPackageOptions = {}): Promise<LoadedPackage> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_PACKAGE_BYTES;
  const primary = opts.component ?? 'app';
  const file = await SharedFile.open(filePath, maxBytes);
  try {
    const format = detectFormat(filePath, file.head);
    let images: FirmwareImage[];
    let signature: SignatureCheck = { status: 'none' };
    if (format === 'zip') {
      const zip = await file.readRest();
      const unpacked = await runInWorker(unpackZipTask, { zip, maxBytes, trustedKeys: opts.trustedKeys, label: filePath });
      signature = unpacked.signature;
      checkSignatureRequired(filePath, signature, opts.requireSignature);
      images = await Promise.all(unpacked.components.map(async (p) => image(p, await digestImage(p.bytes, p.sha256))));
    } else {
      checkSignatureRequired(filePath, signature, opts.requireSignature);
      images = [format === 'bin' ? await loadBin(file, primary, opts.version) : await loadHex(file, maxBytes, primary, opts.version)];
    }
    const main = images.find((i) => i.info.component === primary) ?? images[0]!;
    const info: PackageInfo = {
      id: main.info.sha256.slice(0, 16),
      sourcePath: filePath,
      format,
      components: images.map((i) => i.info),
      signature: signature.status,
      loadedAt: new Date().toISOString(),
    };
    if (signature.status === 'valid') info.signer = signature.signer;
    return { info, images };
  } finally {
    await file.close();
  }
}

function checkSignatureRequired(filePath: string, signature: SignatureCheck, required: boolean | undefined): void {
  if (required && signature.status !== 'valid') {
    throw new StationError('IMAGE_SIGNATURE_REQUIRED', `${filePath}: the plan requires a signed package and this one is not signed`);
  }
}

/** A raw image: hashing starts on the head and follows the rest of the read chunk by chunk. */
async function loadBin(file: SharedFile, component: string, version: string | undefined): Promise<FirmwareImage> {
  const target = checkBareVersion(file.path, version, file.head);
  const digests = digestImage(file.bytes, undefined, file.progress);
  let bytes: Uint8Array;
  try {
    bytes = await file.readRest();
  } catch (err) {
    await digests.catch(() => undefined); // the digest tasks fail too; let them settle first
    throw err;
  }
  return image({ component, version: target, kind: 'full', fileName: basename(file.path), bytes }, await digests);
}

async function loadHex(file: SharedFile, maxBytes: number, component: string, version: string | undefined): Promise<FirmwareImage> {
  const hex = await runInWorker(parseHexTask, { text: await file.readRest(), maxBytes });
  if (!hex.ok) throw new StationError(hex.code, `${file.path}:${hex.line}: ${hex.reason}`);
  const target = checkBareVersion(file.path, version, hex.bytes);
  const part: UnpackedComponent = { component, version: target, kind: 'full', fileName: basename(file.path), bytes: hex.bytes, baseAddress: hex.base };
  return image(part, await digestImage(hex.bytes));
}

/** A bare image has no manifest: the version comes from the plan, else from the image's own app descriptor. */
function checkBareVersion(filePath: string, version: string | undefined, image: Uint8Array): string {
  const target = version ?? findAppVersion(image);
  if (target === UNKNOWN_VERSION || !isValidVersion(target)) {
    const why = version === undefined ? 'has no version descriptor; give the target version' : `version ${JSON.stringify(version)} is not 1–32 characters of letters, digits, . - _`;
    throw new StationError('IMAGE_VERSION_INVALID', `${filePath}: ${why}`);
  }
  return target;
}

/**
 * One package file being read into shared memory. `open` stats first, so an oversized file is
 * refused before a byte is read, then reads the head for format sniffing; `readRest` reads the
 * remainder and publishes progress so workers can hash behind the reader.
 */
class SharedFile {
  readonly progress = createFillProgress();
  private filled = 0;

  private constructor(
    readonly path: string,
    readonly bytes: Uint8Array,
    private readonly fh: FileHandle,
  ) {}

  static async open(path: string, maxBytes: number): Promise<SharedFile> {
    let sizeBytes: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new Error('not a regular file');
      sizeBytes = st.size;
    } catch (err) {
      throw unreadable(path, err);
    }
    if (sizeBytes === 0) throw new StationError('IMAGE_EMPTY', `${path}: the file is empty`);
    const limit = Math.min(maxBytes, MAX_FILL_BYTES);
    if (sizeBytes > limit) throw new StationError('IMAGE_TOO_LARGE', `${path}: ${sizeBytes} bytes is over the ${limit}-byte limit`);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw unreadable(path, err);
    }
    const file = new SharedFile(path, new Uint8Array(new SharedArrayBuffer(sizeBytes)), fh);
    try {
      await file.readUpTo(Math.min(HEAD_BYTES, sizeBytes));
    } catch (err) {
      await fh.close();
      throw err;
    }
    if (file.filled === 0) {
      await fh.close();
      throw new StationError('IMAGE_EMPTY', `${path}: the file is empty`);
    }
    return file;
  }

  get head(): Uint8Array {
    return this.bytes.subarray(0, this.filled);
  }

  /** Reads to the end; the result is shorter than `bytes` only if the file shrank meanwhile. */
  async readRest(): Promise<Uint8Array> {
    try {
      await this.readUpTo(this.bytes.length);
      finishFill(this.progress, true);
    } catch (err) {
      finishFill(this.progress, false);
      throw err;
    }
    return this.filled === this.bytes.length ? this.bytes : this.bytes.subarray(0, this.filled);
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  /** Reads run on libuv's thread pool; the main thread only sees one callback per chunk. */
  private async readUpTo(end: number): Promise<void> {
    try {
      while (this.filled < end) {
        const { bytesRead } = await this.fh.read(this.bytes, this.filled, Math.min(READ_CHUNK_BYTES, end - this.filled), this.filled);
        if (bytesRead === 0) return;
        this.filled += bytesRead;
        publishFilled(this.progress, this.filled);
      }
    } catch (err) {
      throw unreadable(this.path, err);
    }
  }
}

function unreadable(path: string, err: unknown): StationError {
  return new StationError('IMAGE_UNREADABLE', `${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {}, { cause: err });
}

/**
 * The extension says what the file should be and the content must agree: a renamed zip must
 * never be flashed as a raw image. Unknown extensions are accepted only when the content is a
 * zip or HEX; anything else could be any binary.
 */
function detectFormat(filePath: string, bytes: Uint8Array): PackageInfo['format'] {
  const ext = extname(filePath).toLowerCase();
  const isZip = ZIP_MAGIC.every((b, i) => bytes[i] === b);
  const isHex = bytes[firstNonSpace(bytes)] === 0x3a;
  if (ext === '.zip') {
    if (!isZip) throw new StationError('IMAGE_ZIP_INVALID', `${filePath}: named .zip but is not a zip file`);
    return 'zip';
  }
  if (ext === '.hex' || ext === '.ihex') {
    if (!isHex) throw new StationError('IMAGE_FORMAT_UNKNOWN', `${filePath}: named ${ext} but does not start with an Intel HEX record (':')`);
    return 'hex';
  }
  if (ext === '.bin') {
    if (isZip) throw new StationError('IMAGE_FORMAT_UNKNOWN', `${filePath}: named .bin but is a zip package; rename it to .zip`);
    return 'bin';
  }
  if (isZip) return 'zip';
  if (isHex) return 'hex';
  throw new StationError('IMAGE_FORMAT_UNKNOWN', `${filePath}: unknown extension "${ext}"; use .bin, .hex or .zip`);
}

function firstNonSpace(bytes: Uint8Array): number {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0; // UTF-8 BOM from Windows editors
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return i;
}

/**
 * Hashes one image in two parallel tasks: MD5 is the slowest digest, so it gets a worker of its
 * own while SHA-256 (skipped when the zip check already computed it) and CRC-32 share the other.
 */
async function digestImage(bytes: Uint8Array, knownSha256?: string, progress?: Int32Array): Promise<Required<Digests>> {
  const rest: DigestAlgorithm[] = knownSha256 ? ['crc32'] : ['sha256', 'crc32'];
  const [a, b] = await Promise.all([runInWorker(digestTask, { bytes, algorithms: ['md5'], progress }), runInWorker(digestTask, { bytes, algorithms: rest, progress })]);
  return { crc32: b.crc32!, md5: a.md5!, sha256: knownSha256 ?? b.sha256! };
}

function image(p: UnpackedComponent, d: Required<Digests>): FirmwareImage {
  const info: PackageComponentInfo = {
    component: p.component,
    version: p.version,
    kind: p.kind,
    fileName: p.fileName,
    sizeBytes: p.bytes.length,
    crc32: d.crc32,
    md5: d.md5,
    sha256: d.sha256,
  };
  if (p.sourceVersion !== undefined) info.sourceVersion = p.sourceVersion;
  if (p.baseAddress !== undefined) info.baseAddress = p.baseAddress;
  return { info, bytes: p.bytes };
}
