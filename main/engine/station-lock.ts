/**
 * One station process owns a data folder. The lock is an SQLite database (`station.lock`) held
 * open in `locking_mode=EXCLUSIVE`: SQLite takes an OS byte-range lock (fcntl on POSIX, LockFileEx
 * on Windows) that the kernel drops when the process dies, so a SIGKILLed station leaves nothing
 * to clean up. Chosen over a listening Unix socket because it is synchronous (Engine.open is),
 * works the same on Windows, and better-sqlite3 is already the journal's driver.
 * The holder's pid is written next to it (`station.owner`) so a refused command can name it.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StationError } from './errors.js';

export const LOCK_FILE = 'station.lock';
export const OWNER_FILE = 'station.owner';
/** A reader holds the lock only for a moment (it found no station running); a writer waits this long for it. */
const READER_WAIT_MS = 3000;

export type LockMode = 'write' | 'read';

export interface LockOwner {
  pid: number;
  mode: LockMode;
  since: string;
  command: string;
}

export interface StationLock {
  readonly mode: LockMode;
  release(): void;
}

/** Who holds (or last held) the data folder, from the owner file; null when unknown. */
export function readLockOwner(dataDir: string): LockOwner | null {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(dataDir, OWNER_FILE), 'utf8')) as LockOwner;
    return Number.isInteger(o.pid) ? o : null;
  } catch {
    return null;
  }
}

/** One non-blocking try: the lock, or null when another process (or another Engine here) holds it. */
export function tryLock(dataDir: string, mode: LockMode): StationLock | null {
  const db = new Database(path.join(dataDir, LOCK_FILE), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = DELETE');
    // The first write takes the EXCLUSIVE lock; in exclusive locking mode it is kept until close.
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since TEXT NOT NULL)');
    db.prepare('INSERT INTO holder (pid, since) VALUES (?, ?)').run(process.pid, new Date().toISOString());
    db.exec('DELETE FROM holder WHERE rowid < (SELECT MAX(rowid) FROM holder)');
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === 'SQLITE_BUSY' || (e as { code?: string }).code === 'SQLITE_LOCKED') return null;
    throw e;
  }
  const owner: LockOwner = { pid: process.pid, mode, since: new Date().toISOString(), command: process.argv.slice(2, 4).join(' ') };
  try {
    fs.writeFileSync(path.join(dataDir, OWNER_FILE), JSON.stringify(owner) + '\n');
  } catch (e) {
    db.close();
    throw e;
  }
  let held = true;
  return {
    mode,
    release() {
      if (!held) return;
      held = false;
      try {
        // Only clear the owner file if it is still ours (a new holder may already have written it).
        if (readLockOwner(dataDir)?.pid === process.pid) fs.rmSync(path.join(dataDir, OWNER_FILE), { force: true });
      } catch {
        /* a stale owner file is harmless: the OS lock is the truth */
      }
      db.close();
    },
  };
}

function busyError(dataDir: string): StationError {
  const o = readLockOwner(dataDir);
  const who = o ? `process ${o.pid}${o.command ? ` (flashline ${o.command})` : ''} since ${o.since}` : 'another process';
  return new StationError('STATION_BUSY', `${dataDir} is in use by ${who}; stop it or use another --data-dir`, { retryable: false, deviceCode: o ? String(o.pid) : undefined });
}

/** For commands that write: the lock, or STATION_BUSY naming the owner's pid. Waits briefly for a reader. */
export function acquireStationLock(dataDir: string): StationLock {
  const deadline = Date.now() + READER_WAIT_MS;
  for (;;) {
    const lock = tryLock(dataDir, 'write');
    if (lock) return lock;
    if (readLockOwner(dataDir)?.mode !== 'read' || Date.now() > deadline) throw busyError(dataDir);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}
