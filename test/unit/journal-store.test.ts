import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobView } from '../../main/contract/dto.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { MIGRATIONS } from '../../main/engine/journal/schema.js';
import { passedJob, queuedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

const open: Journal[] = [];
const dirs: string[] = [];
function journal(file = ':memory:'): Journal {
  const j = Journal.open(file);
  open.push(j);
  return j;
}
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'flashline-journal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const j of open.splice(0)) j.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function seed(j: Journal, batchId = 'b1', n = 3): JobView[] {
  const units = Array.from({ length: n }, (_, i) => sampleUnit(i));
  const jobs = units.map((u, i) => queuedJob(batchId, u, i));
  j.createBatch(sampleBatch(batchId, units), jobs);
  return jobs;
}

describe('Journal', () => {
  it('opens a file in WAL mode, creating its folder and the schema', () => {
    const j = journal(join(tempDir(), 'nested', 'dir', 'station.db'));
    expect(j.pragma('journal_mode')).toBe('wal');
    expect(j.pragma('synchronous')).toBe(1); // NORMAL
    expect(j.schemaVersion()).toBe(MIGRATIONS[MIGRATIONS.length - 1]!.version);
  });

  it('reopens an existing file without re-running migrations', () => {
    const file = join(tempDir(), 'station.db');
    const a = Journal.open(file);
    seed(a);
    a.close();
    const b = journal(file);
    expect(b.getJobs('b1')).toHaveLength(3);
    expect(b.schemaVersion()).toBe(MIGRATIONS[MIGRATIONS.length - 1]!.version);
  });

  it('round-trips a batch and jobs exactly (absent optionals stay absent)', () => {
    const j = journal();
    const units = [sampleUnit(0), { ...sampleUnit(1), serialNumber: undefined, name: 'bench <1>' }];
    delete units[1]!.serialNumber;
    const jobs = [queuedJob('b1', units[0]!, 0), passedJob('b1', units[1]!, 1)];
    const batch = { ...sampleBatch('b1', units), startedAt: '2025-03-01T08:02:00.000Z', pausedReason: 'stop the line' };
    j.createBatch(batch, jobs);
    expect(j.getJobs('b1')).toStrictEqual(jobs);
    expect(j.getJob(jobs[1]!.jobId)).toStrictEqual(jobs[1]);
    const back = j.getBatch('b1')!;
    expect(back).toStrictEqual({
      ...batch,
      counts: { total: 2, queued: 1, running: 0, passed: 1, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 },
    });
    expect(JSON.stringify(back)).not.toContain('null');
    expect(j.getBatch('nope')).toBeUndefined();
  });

  it('updates a batch and clears a field given as undefined', () => {
    const j = journal();
    seed(j);
    j.updateBatch('b1', { state: 'paused', pausedReason: '3 failures in a row' });
    expect(j.getBatch('b1')).toMatchObject({ state: 'paused', pausedReason: '3 failures in a row' });
    j.updateBatch('b1', { state: 'running', pausedReason: undefined, startedAt: '2025-03-01T09:00:00.000Z' });
    const b = j.getBatch('b1')!;
    expect(b.state).toBe('running');
    expect('pausedReason' in b).toBe(false);
    expect(b.startedAt).toBe('2025-03-01T09:00:00.000Z');
  });

  it('records transitions in order with per-job seq and updates the job row', () => {
    const j = journal();
    const [job] = seed(j);
    let cur = job!;
    const path: JobView['state'][] = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'passed'];
    path.forEach((state, i) => {
      const next: JobView = { ...cur, state, attempts: 1, progressBytes: i * 100, ...(state === 'passed' ? { result: 'ok' as const } : {}) };
      expect(j.recordTransition(next, cur.state, `2025-03-01T08:02:0${i}.000Z`)).toBe(i + 1);
      cur = next;
    });
    const ts = j.getTransitions(cur.jobId);
    expect(ts.map((t) => t.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(ts.map((t) => t.to)).toEqual(path);
    expect(ts[0]).toStrictEqual({ jobId: cur.jobId, seq: 1, at: '2025-03-01T08:02:00.000Z', from: 'queued', to: 'connecting', attempt: 1, progressBytes: 0 });
    expect(ts[6]!.result).toBe('ok');
    expect(j.getJob(cur.jobId)).toStrictEqual(cur);
    // Another job's seq starts at 1.
    const other = j.getJobs('b1')[1]!;
    expect(j.recordTransition({ ...other, state: 'connecting' }, 'queued')).toBe(1);
  });

  it('journals 10 000 transitions (prepared statements, one transaction each)', () => {
    const j = journal();
    const jobs = seed(j, 'b1', 10);
    for (let n = 0; n < 10_000; n++) {
      const job = jobs[n % 10]!;
      j.recordTransition({ ...job, state: n % 2 ? 'transferring' : 'backoff', progressBytes: n }, job.state);
    }
    expect(j.getTransitions(jobs[3]!.jobId)).toHaveLength(1000);
    expect(j.getBatch('b1')!.counts.running).toBe(10);
  });

  it('saves progress checkpoints without a transition', () => {
    const j = journal();
    const [job] = seed(j);
    j.saveProgress(job!.jobId, 4096, 1200);
    j.saveProgress(job!.jobId, 8192);
    expect(j.getJob(job!.jobId)).toMatchObject({ progressBytes: 8192, rateBytesPerSec: 1200 });
    expect(j.getTransitions(job!.jobId)).toEqual([]);
  });

  it('keeps attempts and trace tails per attempt', () => {
    const j = journal();
    const [job] = seed(j);
    const id = job!.jobId;
    j.startAttempt(id, 1, 0, '2025-03-01T08:02:00.000Z');
    j.endAttempt(id, 1, 'disconnected', 'TRANSPORT_LOST', 'transferring', '2025-03-01T08:02:10.000Z');
    j.startAttempt(id, 2, 40960, '2025-03-01T08:02:12.000Z');
    expect(j.getAttempts(id)).toStrictEqual([
      { attempt: 1, startedAt: '2025-03-01T08:02:00.000Z', endedAt: '2025-03-01T08:02:10.000Z', result: 'disconnected', errorCode: 'TRANSPORT_LOST', stage: 'transferring', resumeFromBytes: 0 },
      { attempt: 2, startedAt: '2025-03-01T08:02:12.000Z', resumeFromBytes: 40960 },
    ]);
    j.saveTrace(id, 1, [{ tMs: 0, dir: 'tx', hex: '01' }]);
    j.saveTrace(id, 1, [{ tMs: 0, dir: 'tx', hex: '02' }, { tMs: 5, dir: 'note', text: 'lost' }]);
    j.saveTrace(id, 2, [{ tMs: 1, dir: 'rx', hex: '06' }]);
    expect(j.getTrace(id)).toStrictEqual([
      { attempt: 1, lines: [{ tMs: 0, dir: 'tx', hex: '02' }, { tMs: 5, dir: 'note', text: 'lost' }] },
      { attempt: 2, lines: [{ tMs: 1, dir: 'rx', hex: '06' }] },
    ]);
  });

  it('lists batches newest first with paging', () => {
    const j = journal();
    for (const [id, at] of [['a', '2025-01-01'], ['b', '2025-03-01'], ['c', '2025-02-01']] as const) {
      j.createBatch({ ...sampleBatch(id, []), createdAt: at }, []);
    }
    expect(j.listBatches().map((b) => b.batchId)).toEqual(['b', 'c', 'a']);
    expect(j.listBatches({ limit: 1, offset: 1 }).map((b) => b.batchId)).toEqual(['c']);
  });

  it('searches jobs by serial number, address and unit id, treating % and _ literally', () => {
    const j = journal();
    const ble = { unitId: 'ble:AA:BB:CC:00:11:22', transport: 'ble' as const, protocol: 'llsync-ota' as const, address: 'AA:BB:CC:00:11:22' };
    const odd = { ...sampleUnit(9), serialNumber: 'X_1%' };
    j.createBatch(sampleBatch('b1', []), [queuedJob('b1', sampleUnit(1), 1), queuedJob('b1', ble, 2), queuedJob('b1', odd, 3)]);
    expect(j.searchJobs('SN-0001').map((x) => x.unit.unitId)).toEqual(['serial:/dev/ttyUSB1']);
    expect(j.searchJobs('cc:00:11').map((x) => x.unit.unitId)).toEqual(['ble:AA:BB:CC:00:11:22']);
    expect(j.searchJobs('ttyUSB9')).toHaveLength(1);
    expect(j.searchJobs('X_1%')).toHaveLength(1);
    expect(j.searchJobs('X%1')).toHaveLength(0);
    expect(j.searchJobs('ttyUSB')).toHaveLength(2);
  });

  it('marks a crashed running batch and its in-flight jobs interrupted', () => {
    const j = journal();
    const jobs = seed(j, 'b1', 5);
    seed(j, 'done', 1);
    j.updateBatch('b1', { state: 'running' });
    const states: JobView['state'][] = ['transferring', 'backoff', 'passed', 'queued', 'confirming'];
    jobs.forEach((job, i) => {
      j.recordTransition({ ...job, state: states[i]!, attempts: 1, progressBytes: 512 }, 'queued');
      j.startAttempt(job.jobId, 1, 0);
    });
    j.endAttempt(jobs[2]!.jobId, 1, 'ok', undefined, 'confirming');

    expect(j.markInterrupted('2025-03-01T10:00:00.000Z')).toEqual(['b1']);
    expect(j.getBatch('b1')!.state).toBe('interrupted');
    expect(j.getBatch('done')!.state).toBe('created');
    expect(j.getJobs('b1').map((x) => x.state)).toEqual(['interrupted', 'interrupted', 'passed', 'queued', 'interrupted']);
    const first = j.getJob(jobs[0]!.jobId)!;
    expect(first).toMatchObject({ errorCode: 'STATION_INTERRUPTED', progressBytes: 512, attempts: 1 });
    expect(j.getTransitions(first.jobId).at(-1)).toMatchObject({ seq: 2, from: 'transferring', to: 'interrupted', at: '2025-03-01T10:00:00.000Z' });
    expect(j.getAttempts(first.jobId)[0]).toMatchObject({ result: 'station_error', errorCode: 'STATION_INTERRUPTED', stage: 'transferring' });
    expect(j.getAttempts(jobs[2]!.jobId)[0]).toMatchObject({ result: 'ok' });
    expect(j.getBatch('b1')!.counts).toMatchObject({ interrupted: 3, running: 0, passed: 1, queued: 1 });
    // Idempotent: nothing left to mark.
    expect(j.markInterrupted('2025-03-01T10:01:00.000Z')).toEqual([]);
  });

  it('counts backoff as running', () => {
    const j = journal();
    const jobs = seed(j, 'b1', 3);
    j.recordTransition({ ...jobs[0]!, state: 'backoff' }, 'queued');
    j.recordTransition({ ...jobs[1]!, state: 'negotiating' }, 'queued');
    expect(j.getBatch('b1')!.counts).toMatchObject({ total: 3, running: 2, queued: 1 });
  });
});
