/**
 * A small tmpfs for disk-full and read-only tests (root only). mountTmpfs returns null when the
 * kernel refuses (not root, no CAP_SYS_ADMIN); callers skip with a message, except under CI=true.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export function mountTmpfs(dir: string, sizeBytes: number): (() => void) | null {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    return null;
  }
  return () => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    } catch {
      /* already gone */
    }
  };
}

export function remount(dir: string, mode: 'ro' | 'rw'): void {
  execFileSync('mount', ['-o', `remount,${mode}`, dir], { stdio: 'pipe' });
}

/** Writes zeros to `file` until the file system says ENOSPC; returns the bytes written. */
export function fillDisk(file: string): number {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024);
  let n = 0;
  try {
    for (;;) n += fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
  return n;
}

/** Mount refused: skip locally with the reason, fail under CI. */
export function mountUnavailable(what: string): string {
  const msg = `${what}: mounting a tmpfs is not permitted here (needs root / CAP_SYS_ADMIN)`;
  if (process.env.CI === 'true') throw new Error(`${msg}; CI must run this test`);
  return msg;
}
