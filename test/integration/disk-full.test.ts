/**
 * Issue 10 §3: a full disk stops the batch at a resumable point with DISK_FULL (path, free
 * space), in-flight units journaled as interrupted, CLI exit 2 with a summary; after space is
 * freed `resume` finishes without flashing any unit twice. Also: read-only and not-a-folder
 * data dirs get their own codes (exit 2), verify-report on a missing file is exit 2, and a
 * package whose file name is not UTF-8 still loads. Real tmpfs mounts (CI runs as root).
 */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Engine } from '../../main/engine/engine.js';
import { Journal } from '../../main/engine/journal/journal.js';
import type { FlashSummary } from '../../main/contract/dto.js';
import { lastJson, runCli, startCli } from '../helpers/cli.js';
import { fillDisk, mountTmpfs, mountUnavailable, remount } from '../helpers/tmpfs.js';
import { startServe } from '../helpers/serve-proc.js';
import { connectStation } from '../helpers/ws-client.js';
import type { BatchView, UnitRef } from '../../main/contract/dto.js';
import type { Result } from '../../main/contract/ipc.js';

function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}

const UNITS = 4;
const ACTIVE = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'backoff'];
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-disk-'));
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  fs.rmSync(base, { recursive: true, force: true });
});

/** A data dir on its own small tmpfs; the virtual units' flash lives off it (it is the units' memory, not the station's disk). */
function tmpfsDataDir(name: string, sizeBytes: number): string | null {
  const mnt = path.join(base, name);
  const unmount = mountTmpfs(mnt, sizeBytes);
  if (!unmount) return null;
  cleanups.push(unmount);
  const dir = path.join(mnt, 'station');
  fs.mkdirSync(dir);
  const simDir = path.join(base, `${name}-sim-units`);
  fs.mkdirSync(simDir);
  fs.symlinkSync(simDir, path.join(dir, 'sim-units'));
  return dir;
}

describe('disk full and data-dir problems', () => {
  it('a full disk mid-batch: DISK_FULL, exit 2 with a summary, in-flight units interrupted; resume finishes after space is freed', async (ctx) => {
    const dir = tmpfsDataDir('full', 8 * 1024 * 1024);
    if (!dir) return ctx.skip(mountUnavailable('disk-full test'));
    const img = path.join(base, 'app.bin');
    fs.writeFileSync(img, buildSimImage(160 * 1024, '2.0.0'));
    const run = startCli(['flash', '--package', img, '--version', '2.0.0', '--target', `sim:ymodem:${UNITS}:slow_flash`, '--concurrency', '2', '--data-dir', dir, '--json']);
    const t0 = Date.now();
    while (!/ymodem #\d+\s+transferring/.test(run.stderr()) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    const filler = path.join(path.dirname(dir), 'filler.bin');
    fillDisk(filler);
    const ended = await run.done;
    expect(ended.signal).toBeNull();
    expect(ended.code).toBe(2);
    const summary = lastJson<FlashSummary>(run.stdout());
    expect(summary.stoppedBy?.code).toBe('DISK_FULL');
    expect(summary.stoppedBy?.message).toMatch(/disk full at .*\(\d+(\.\d)? (KiB|MiB) free\)/);
    expect(run.stderr()).toMatch(/error DISK_FULL: disk full at /);
    expect(run.stderr()).toMatch(/flashline resume B/);

    // The journal: the batch stopped resumable, nothing left in flight.
    const j = Journal.open(path.join(dir, 'journal.sqlite'), { readonly: true });
    const [batch] = j.listBatches({ limit: 1 });
    expect(batch!.state).toBe('interrupted');
    expect(batch!.pausedReason).toMatch(/^DISK_FULL/);
    const jobs = j.getJobs(batch!.batchId);
    for (const job of jobs) expect(ACTIVE).not.toContain(job.state);
    expect(jobs.filter((x) => x.state === 'interrupted').length).toBeGreaterThan(0);
    const passedBefore = jobs.filter((x) => x.state === 'passed').map((x) => x.jobId);
    j.close();

    // Still full: resume refuses with DISK_FULL (exit 2) and changes nothing.
    const early = await runCli(['resume', batch!.batchId, '--data-dir', dir, '--json']);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('error DISK_FULL');

    fs.rmSync(filler);
    const resumed = await runCli(['resume', batch!.batchId, '--data-dir', dir, '--json']);
    expect(resumed.code).toBe(0);
    expect(lastJson<FlashSummary>(resumed.stdout).passed).toBe(UNITS);
    const j2 = Journal.open(path.join(dir, 'journal.sqlite'), { readonly: true });
    for (const id of passedBefore) expect(j2.getTransitions(id).filter((t) => t.to === 'connecting')).toHaveLength(1);
    for (const job of j2.getJobs(batch!.batchId)) expect(job.state).toBe('passed');
    j2.close();
  }, 180_000);

  it('serve stays up on a full disk: the batch stops interrupted with DISK_FULL, and resumes from the UI once space is freed', async (ctx) => {
    const dir = tmpfsDataDir('serve-full', 8 * 1024 * 1024);
    if (!dir) return ctx.skip(mountUnavailable('serve disk-full test'));
    const serve = await startServe(dir);
    try {
      const c = await connectStation(serve.port, serve.token);
      const pkg = value(await c.call<{ id: string }>('importPackage', { fileName: 'app.bin', version: '2.0.0', dataBase64: Buffer.from(buildSimImage(160 * 1024, '2.0.0')).toString('base64') }));
      const units = value(await c.call<UnitRef[]>('resolveTargets', { targets: [`sim:ymodem:${UNITS}:slow_flash`] }));
      const batch = value(await c.call<BatchView>('createBatch', { packageId: pkg.id, units, plan: { concurrency: { global: 2, perBleAdapter: 6 } } }));
      value(await c.call('startBatch', { batchId: batch.batchId }));
      const get = async (): Promise<BatchView> => value(await c.call<{ batch: BatchView }>('getBatch', { batchId: batch.batchId })).batch;
      const t0 = Date.now();
      while ((await get()).counts.running === 0 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
      const filler = path.join(path.dirname(dir), 'filler.bin');
      fillDisk(filler);
      let view = await get();
      while (view.state === 'running' && Date.now() - t0 < 120_000) {
        await new Promise((r) => setTimeout(r, 200));
        view = await get();
      }
      expect(view.state).toBe('interrupted');
      expect(view.pausedReason).toMatch(/^DISK_FULL: disk full at /);
      expect(serve.cli.child.exitCode).toBeNull();
      // A new batch on the full disk is refused with DISK_FULL, not INTERNAL.
      const refused = await c.call('createBatch', { packageId: pkg.id, units });
      expect(refused.ok ? 'ok' : refused.error.code).toBe('DISK_FULL');
      fs.rmSync(filler);
      value(await c.call('resumeBatch', { batchId: batch.batchId }));
      while (view.state !== 'finished' && Date.now() - t0 < 170_000) {
        await new Promise((r) => setTimeout(r, 200));
        view = await get();
      }
      expect(view.state).toBe('finished');
      expect(view.counts.passed).toBe(UNITS);
      c.close();
    } finally {
      expect((await serve.stop()).code).toBe(0);
    }
  }, 200_000);

  it('a read-only data dir: writers refuse with DATA_DIR_READ_ONLY (exit 2), batches still reads it', async (ctx) => {
    const dir = tmpfsDataDir('ro', 8 * 1024 * 1024);
    if (!dir) return ctx.skip(mountUnavailable('read-only test'));
    const img = path.join(base, 'small.bin');
    fs.writeFileSync(img, buildSimImage(8 * 1024, '2.0.0'));
    const first = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:ymodem:1', '--data-dir', dir, '--json']);
    expect(first.code).toBe(0);
    remount(path.dirname(dir), 'ro');
    const refused = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:ymodem:1', '--data-dir', dir, '--json']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('error DATA_DIR_READ_ONLY');
    const listed = await runCli(['batches', '--json', '--data-dir', dir]);
    expect(listed.code).toBe(0);
    expect(lastJson<{ state: string }[]>(listed.stdout)[0]!.state).toBe('finished');
    remount(path.dirname(dir), 'rw');
  }, 120_000);

  it('a data dir that is a file, and a missing report, exit 2 with their codes', async () => {
    const file = path.join(base, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    for (const d of [file, path.join(file, 'sub')]) {
      const r = await runCli(['resume', 'B1', '--data-dir', d]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error DATA_DIR_NOT_DIRECTORY');
    }
    const missing = await runCli(['verify-report', path.join(base, 'no-such-report.csv')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error REPORT_UNREADABLE');
  }, 60_000);

  it('a package whose file name is not UTF-8 loads (Buffer path) into a copy the journal can name', async () => {
    const dir = fs.mkdtempSync(path.join(base, 'latin1-'));
    const nameBytes = Buffer.concat([Buffer.from(dir + '/app-'), Buffer.from([0xe9, 0xff, 0x41]), Buffer.from('.bin')]);
    fs.writeFileSync(nameBytes, buildSimImage(4096, '2.0.0'));
    const engine = Engine.open({ dataDir: path.join(dir, 'data') });
    try {
      const info = await engine.loadPackage(nameBytes, { version: '2.0.0' });
      expect(info.components[0]!.version).toBe('2.0.0');
      expect(fs.existsSync(info.sourcePath)).toBe(true); // a copy the journal can name
    } finally {
      await engine.close();
    }
  });
});
