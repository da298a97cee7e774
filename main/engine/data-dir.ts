/**
 * The station's data folder as a place on a disk: checks it before a station uses it, keeps a
 * small reserve file so a full disk still leaves room to record the stop, and turns file-system
 * and SQLite I/O failures into specific StationErrors (DISK_FULL, DATA_DIR_*).
 */
import fs from 'node:fs';
import path from 'node:path';
import { StationError } from './errors.js';

/** Deleted when the disk fills so the journal can still record which units were interrupted. */
export const RESERVE_FILE = '.disk-reserve';
export const RESERVE_BYTES = 512 * 1024;
/** Below this much free space a writing command refuses to start a station. */
export const MIN_FREE_BYTES = 1024 * 1024;

/** Free bytes for an unprivileged writer on the file system holding `p` (undefined if unknown). */
export function freeBytes(p: string): number | undefined {
  try {
    const st = fs.statfsSync(p);
    return st.bavail * st.bsize;
  } catch {
    return undefined;
  }
}

function formatBytes(n: number | undefined): string {
  if (n === undefined) return 'unknown free space';
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB free`;
  return `${Math.round(n / 1024)} KiB free`;
}

/** A file-system or SQLite failure → the data-folder StationError it means, or null for anything else. */
export function classifyIoError(e: unknown, dataDir: string): StationError | null {
  if (e instanceof StationError) return null;
  const code = String((e as { code?: unknown })?.code ?? '');
  const msg = e instanceof Error ? e.message : String(e);
  const where = (e as { path?: string })?.path ?? dataDir;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT' || /database or disk is full/i.test(msg)) {
    return new StationError('DISK_FULL', `disk full at ${where} (${formatBytes(freeBytes(dataDir))})`, { retryable: false }, { cause: e });
  }
  if (code === 'EROFS' || code.startsWith('SQLITE_READONLY')) {
    return new StationError('DATA_DIR_READ_ONLY', `${where} is on a read-only file system`, { retryable: false }, { cause: e });
  }
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new StationError('DATA_DIR_NOT_DIRECTORY', `${where} is not a folder`, { retryable: false }, { cause: e });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return new StationError('DATA_DIR_PERMISSION', `no permission to write ${where}`, { retryable: false }, { cause: e });
  }
  if (code === 'EIO' || code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CORRUPT' || code === 'SQLITE_CANTOPEN') {
    return new StationError('DATA_DIR_IO_ERROR', `I/O error on ${where}: ${msg}`, { retryable: false }, { cause: e });
  }
  return null;
}

/**
 * Before a station writes: the folder exists (created if needed), is a folder, is writable and
 * has room. Each problem throws its own code; write access is probed, not guessed from mode bits
 * (root ignores them, a read-only mount does not).
 */
export function prepareDataDir(dataDir: string, opts: { write: boolean } = { write: true }): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dataDir);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOTDIR') throw classifyIoError(e, dataDir)!;
    if ((e as { code?: string }).code !== 'ENOENT') throw classifyIoError(e, dataDir) ?? e;
  }
  if (st && !st.isDirectory()) throw new StationError('DATA_DIR_NOT_DIRECTORY', `${dataDir} is a file, not a folder`, { retryable: false });
  if (!opts.write) return;
  try {
    if (!st) fs.mkdirSync(dataDir, { recursive: true });
    fs.accessSync(dataDir, fs.constants.W_OK);
    const probe = path.join(dataDir, `.write-probe-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe, { force: true });
  } catch (e) {
    throw classifyIoError(e, dataDir) ?? e;
  }
  const free = freeBytes(dataDir);
  const reserve = path.join(dataDir, RESERVE_FILE);
  const haveReserve = fs.existsSync(reserve) && fs.statSync(reserve).size === RESERVE_BYTES;
  if (free !== undefined && free < MIN_FREE_BYTES) {
    throw new StationError('DISK_FULL', `disk full at ${dataDir} (${formatBytes(free)}; the station needs ${formatBytes(MIN_FREE_BYTES).replace(' free', '')})`, { retryable: false });
  }
  if (!haveReserve) {
    try {
      fs.writeFileSync(reserve, Buffer.alloc(RESERVE_BYTES));
    } catch (e) {
      fs.rmSync(reserve, { force: true });
      throw classifyIoError(e, dataDir) ?? e;
    }
  }
}

/** On a full disk: give the reserve back so the stop itself can be journaled. True if space was freed. */
export function releaseReserve(dataDir: string): boolean {
  try {
    const reserve = path.join(dataDir, RESERVE_FILE);
    if (!fs.existsSync(reserve)) return false;
    fs.rmSync(reserve);
    return true;
  } catch {
    return false;
  }
}
