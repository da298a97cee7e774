/**
 * Data-folder checks and I/O error classification (issue 10 §3): each file-system or SQLite
 * failure gets its own code; permission cases are unit-tested since root ignores mode bits.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classifyIoError, prepareDataDir, RESERVE_BYTES, RESERVE_FILE, releaseReserve } from '../../main/engine/data-dir.js';
import { StationError } from '../../main/engine/errors.js';

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: x`), { code, path: '/data/x' });

describe('classifyIoError', () => {
  it.each([
    [errno('ENOSPC'), 'DISK_FULL'],
    [Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }), 'DISK_FULL'],
    [errno('EROFS'), 'DATA_DIR_READ_ONLY'],
    [Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }), 'DATA_DIR_READ_ONLY'],
    [errno('ENOTDIR'), 'DATA_DIR_NOT_DIRECTORY'],
    [errno('EACCES'), 'DATA_DIR_PERMISSION'],
    [errno('EPERM'), 'DATA_DIR_PERMISSION'],
    [errno('EIO'), 'DATA_DIR_IO_ERROR'],
    [Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' }), 'DATA_DIR_IO_ERROR'],
  ])('%s → %s', (err, code) => {
    expect(classifyIoError(err, '/data')?.code).toBe(code);
  });

  it('leaves other errors alone', () => {
    expect(classifyIoError(new Error('boom'), '/data')).toBeNull();
    expect(classifyIoError(new StationError('CONFIG_INVALID', 'x'), '/data')).toBeNull();
  });

  it('DISK_FULL names the path and the free space', () => {
    const dir = os.tmpdir();
    expect(classifyIoError(errno('ENOSPC'), dir)!.message).toMatch(/^disk full at \/data\/x \(\d+(\.\d)? (KiB|MiB) free\)$/);
  });
});

describe('prepareDataDir', () => {
  it('creates the folder and its reserve; a file is refused; the reserve can be given back', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-datadir-'));
    const dir = path.join(base, 'a', 'b');
    prepareDataDir(dir);
    expect(fs.statSync(path.join(dir, RESERVE_FILE)).size).toBe(RESERVE_BYTES);
    expect(releaseReserve(dir)).toBe(true);
    expect(releaseReserve(dir)).toBe(false);
    const file = path.join(base, 'f');
    fs.writeFileSync(file, '');
    expect(() => prepareDataDir(file)).toThrow(expect.objectContaining({ code: 'DATA_DIR_NOT_DIRECTORY' }));
    expect(() => prepareDataDir(path.join(file, 'x'))).toThrow(expect.objectContaining({ code: 'DATA_DIR_NOT_DIRECTORY' }));
    fs.rmSync(base, { recursive: true, force: true });
  });
});
