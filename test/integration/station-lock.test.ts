/**
 * Issue 10 §2: one station process owns a data folder. Real processes, every combination:
 * writer+writer (refused with STATION_BUSY naming the pid), writer+reader (reads, changes
 * nothing), reader+writer (the writer waits for the short-lived reader), and a SIGKILLed writer
 * followed by a new writer that works without any cleanup.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Engine } from '../../main/engine/engine.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { readLockOwner } from '../../main/engine/station-lock.js';
import type { FlashSummary } from '../../main/contract/dto.js';
import { lastJson, REPO, runCli, startCli, type CliRun } from '../helpers/cli.js';
import { StationError } from '../../main/engine/errors.js';

const UNITS = 4;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-lock-'));
  dirs.push(d);
  return d;
}

/** A batch slow enough to still be running while the second process tries. */
function startWriter(dir: string): { run: CliRun; args: string[] } {
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(160 * 1024, '2.0.0'));
  const args = ['flash', '--package', img, '--version', '2.0.0', '--target', `sim:ymodem:${UNITS}:slow_flash`, '--concurrency', '2', '--data-dir', dir, '--json'];
  return { run: startCli(args), args };
}

async function waitUntilTransferring(run: CliRun): Promise<void> {
  const t0 = Date.now();
  while (!/ymodem #\d+\s+transferring/.test(run.stderr()) && Date.now() - t0 < 30_000) {
    if (run.child.exitCode !== null) throw new Error(`writer exited early: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function transitionsOf(dir: string): number {
  const j = Journal.open(path.join(dir, 'journal.sqlite'), { readonly: true });
  try {
    const [b] = j.listBatches({ limit: 1 });
    return j.getJobs(b!.batchId).reduce((n, job) => n + j.getTransitions(job.jobId).length, 0);
  } finally {
    j.close();
  }
}

function expectCode(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(StationError);
  expect((err as StationError).code).toBe(code);
}

describe('one station process per data folder', () => {
  it('writer + writer: flash, resume, demo and serve refuse with STATION_BUSY naming the owner pid; the first batch is untouched', async () => {
    const dir = tempDir();
    const { run } = startWriter(dir);
    await waitUntilTransferring(run);
    const pid = String(run.child.pid);
    expect(readLockOwner(dir)?.pid).toBe(run.child.pid);
    const img = path.join(dir, 'app.bin');
    const second = await Promise.all([
      runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:ymodem:1', '--data-dir', dir, '--json']),
      runCli(['resume', '--data-dir', dir, '--json']),
      runCli(['demo', '--units', '1', '--data-dir', dir, '--json']),
      runCli(['serve', '--port', '0', '--data-dir', dir]),
    ]);
    for (const r of second) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error STATION_BUSY');
      expect(r.stderr).toContain(`process ${pid}`);
    }
    const ended = await run.done;
    expect(ended.code).toBe(0);
    const summary = lastJson<FlashSummary>(run.stdout());
    expect(summary.passed).toBe(UNITS);
    // Nobody marked the running batch interrupted behind its back.
    const j = Journal.open(path.join(dir, 'journal.sqlite'), { readonly: true });
    const [b] = j.listBatches({ limit: 5 });
    expect(j.listBatches({ limit: 5 })).toHaveLength(1);
    for (const job of j.getJobs(b!.batchId)) expect(j.getTransitions(job.jobId).map((t) => t.to)).not.toContain('interrupted');
    j.close();
  }, 120_000);

  it('writer + reader: batches and report work while a batch runs and change nothing', async () => {
    const dir = tempDir();
    const { run } = startWriter(dir);
    await waitUntilTransferring(run);
    const before = transitionsOf(dir);
    const listed = await runCli(['batches', '--json', '--data-dir', dir]);
    expect(listed.code).toBe(0);
    const [b] = lastJson<{ batchId: string; state: string; counts: { interrupted: number } }[]>(listed.stdout);
    expect(b!.state).toBe('running');
    expect(b!.counts.interrupted).toBe(0);
    const report = await runCli(['report', b!.batchId, '--format', 'json', '--data-dir', dir]);
    expect(report.code).toBe(0);
    expect(JSON.parse(report.stdout)).toBeTruthy();
    expect(transitionsOf(dir)).toBeGreaterThanOrEqual(before);
    // The reader did not take the folder: the writer still owns it and finishes cleanly.
    expect(readLockOwner(dir)?.pid).toBe(run.child.pid);
    expect((await run.done).code).toBe(0);
    const j = Journal.open(path.join(dir, 'journal.sqlite'), { readonly: true });
    for (const job of j.getJobs(b!.batchId)) {
      const tos = j.getTransitions(job.jobId).map((t) => t.to);
      expect(tos).not.toContain('interrupted');
      expect(tos.filter((t) => t === 'connecting')).toHaveLength(1);
    }
    j.close();
  }, 120_000);

  it('reader + writer: a writer waits for a reader that briefly holds a free folder, then runs', async () => {
    const dir = tempDir();
    // A reader process that found the folder free and holds it for 1.2 s (a long `report`).
    const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
      const { tryLock } = await import(${JSON.stringify(path.join(REPO, 'main/engine/station-lock.ts'))});
      const lock = tryLock(${JSON.stringify(dir)}, 'read');
      if (!lock) process.exit(3);
      process.stdout.write('held\\n');
      setTimeout(() => { lock.release(); process.exit(0); }, 1200);
    `], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    const holderExit = new Promise<number | null>((r) => holder.on('close', r));
    await Promise.race([
      new Promise<void>((resolve) => holder.stdout!.on('data', (d) => String(d).includes('held') && resolve())),
      holderExit.then((code) => Promise.reject(new Error(`lock holder exited ${code} before holding the lock`))),
    ]);
    const { run } = startWriter(dir);
    const ended = await run.done;
    expect(ended.code).toBe(0);
    expect(lastJson<FlashSummary>(run.stdout()).passed).toBe(UNITS);
    expect(await holderExit).toBe(0);
  }, 120_000);

  it('a SIGKILLed writer leaves nothing to clean up: the next writer resumes at once', async () => {
    const dir = tempDir();
    const { run } = startWriter(dir);
    await waitUntilTransferring(run);
    run.child.kill('SIGKILL');
    await run.done;
    // The owner file still names the dead process; the OS lock is gone with it.
    expect(readLockOwner(dir)?.pid).toBe(run.child.pid);
    const resumed = await runCli(['resume', '--data-dir', dir, '--json']);
    expect(resumed.code).toBe(0);
    expect(lastJson<FlashSummary>(resumed.stdout).passed).toBe(UNITS);
  }, 120_000);

  it('two Engines in one process: the second is refused, and may open read-only', async () => {
    const dir = tempDir();
    const first = Engine.open({ dataDir: dir });
    try {
      expectCode(() => Engine.open({ dataDir: dir }), 'STATION_BUSY');
      const reader = Engine.open({ dataDir: dir, access: 'read' });
      expect(reader.readOnly).toBe(true);
      expect(reader.listBatches()).toEqual([]);
      expectCode(() => reader.createBatch({ packageId: 'x', units: [] }), 'STATION_BUSY');
      await reader.close();
    } finally {
      await first.close();
    }
    const again = Engine.open({ dataDir: dir });
    expect(again.readOnly).toBe(false);
    await again.close();
  });
});
