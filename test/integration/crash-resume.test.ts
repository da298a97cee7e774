/**
 * The station process is killed with SIGKILL at random moments of a batch and restarted:
 * every unit's last state is intact in the journal, in-flight jobs show as interrupted, and
 * `flashline resume` finishes the batch. Virtual units keep their memory on disk, like real
 * units keep their flash.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Journal } from '../../main/engine/journal/journal.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { lastJson, runCli, startCli } from '../helpers/cli.js';
import type { FlashSummary } from '../../main/contract/dto.js';

const UNITS = 6;
const ACTIVE = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'backoff'];

/** The last state the CLI printed for each unit before it died (progress goes to stderr with --json). */
function printedStates(stderr: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stderr.split('\n')) {
    const r = /^\d\d:\d\d:\d\d (ymodem #\d+)\s+(\w+)/.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

async function killRun(killAfterMs: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-crash-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(192 * 1024, '2.0.0'));
  const args = ['flash', '--package', img, '--version', '2.0.0', '--target', `sim:ymodem:${UNITS}`, '--concurrency', '3', '--data-dir', dir, '--json'];
  const run = startCli(args);
  // Wait until the batch is really under way (journal exists and a unit has started).
  const t0 = Date.now();
  while (!/ymodem #\d+/.test(run.stderr()) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, killAfterMs));
  run.child.kill('SIGKILL');
  const ended = await run.done;
  expect(ended.signal).toBe('SIGKILL');

  // 1. Every unit's last state is intact: the journal is readable, each job's row agrees with its
  //    last transition, and it is at least as new as what the station had shown.
  const j = Journal.open(path.join(dir, 'journal.sqlite'));
  const [batch] = j.listBatches({ limit: 1 });
  expect(batch).toBeDefined();
  const jobs = j.getJobs(batch!.batchId);
  expect(jobs).toHaveLength(UNITS);
  const shown = printedStates(run.stderr());
  for (const job of jobs) {
    const tr = j.getTransitions(job.jobId);
    if (tr.length) expect(tr[tr.length - 1]!.to).toBe(job.state);
    const printed = shown.get(job.unit.name!);
    // queued is the initial state (no transition); any later state shown must be journaled
    if (printed && printed !== 'queued') expect(tr.map((t) => t.to)).toContain(printed);
  }
  const inFlight = jobs.filter((x) => ACTIVE.includes(x.state)).map((x) => x.jobId);
  expect(inFlight.length).toBeGreaterThan(0); // the kill really landed mid-batch
  const finishedBefore = jobs.filter((x) => x.state === 'passed').map((x) => x.jobId);
  j.close();

  // 2. Restart: in-flight jobs show as interrupted.
  const listed = await runCli(['batches', '--json', '--data-dir', dir]);
  expect(listed.code).toBe(0);
  const b = (JSON.parse(listed.stdout.trim().split('\n').pop()!) as { batchId: string; state: string; counts: { interrupted: number } }[])[0]!;
  expect(b.batchId).toBe(batch!.batchId);
  expect(b.state).toBe('interrupted');
  expect(b.counts.interrupted).toBe(inFlight.length);
  const j2 = Journal.open(path.join(dir, 'journal.sqlite'));
  for (const id of inFlight) expect(j2.getJob(id)!.state).toBe('interrupted');
  j2.close();

  // 3. Resume finishes the batch; units that had passed are not flashed again.
  const resumed = await runCli(['resume', batch!.batchId, '--json', '--data-dir', dir]);
  const summary = lastJson<FlashSummary>(resumed.stdout);
  expect(summary.passed).toBe(UNITS);
  expect(resumed.code).toBe(0);
  const j3 = Journal.open(path.join(dir, 'journal.sqlite'));
  for (const id of finishedBefore) expect(j3.getTransitions(id).filter((t) => t.to === 'connecting')).toHaveLength(1);
  for (const id of inFlight) expect(j3.getTransitions(id).map((t) => t.to)).toContain('interrupted');
  j3.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

describe('station killed with SIGKILL mid-batch', () => {
  // Random moments, but logged so a failure can be replayed.
  const moments = [0, 1, 2].map((i) => Math.round(100 + Math.random() * 1500 + i * 1500));
  it.each(moments)('killed %i ms into the batch: state intact, interrupted shown, resume completes', async (ms) => {
    await killRun(ms);
  }, 90_000);
});
