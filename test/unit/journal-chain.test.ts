/**
 * The journal is tamper-evident (issue 10 §4): batches, transitions and finished attempts are
 * hash-chained as they are written (the link lives in each row), job rows are pinned by their last
 * transition, and verifyChain finds an edited, deleted or inserted row. A journal written before
 * the chain migrates (schema v2) and is chained from then on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobView } from '../../main/contract/dto.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { MIGRATIONS } from '../../main/engine/journal/schema.js';
import { passedJob, queuedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

const dirs: string[] = [];
const open: { close(): void }[] = [];
afterEach(() => {
  for (const j of open.splice(0)) j.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function file(): string {
  const d = mkdtempSync(join(tmpdir(), 'flashline-chain-'));
  dirs.push(d);
  return join(d, 'journal.sqlite');
}

/** A small but complete history: a batch of 3, one unit failing once then passing, one failing, one skipped at creation. */
function writeHistory(path: string): JobView[] {
  const j = Journal.open(path);
  const units = [sampleUnit(1), sampleUnit(2), sampleUnit(3)];
  const jobs = [queuedJob('B1', units[0]!, 1), queuedJob('B1', units[1]!, 2), { ...queuedJob('B1', units[2]!, 3), state: 'skipped' as const, message: 'on the deny list' }];
  j.createBatch(sampleBatch('B1', units), jobs);
  j.updateBatch('B1', { state: 'running', startedAt: '2025-03-01T08:02:00.000Z' });
  const a = { ...jobs[0]!, state: 'connecting' as const, attempts: 1 };
  j.startAttempt(a.jobId, 1, 0);
  j.recordTransition(a, 'queued');
  j.saveProgress(a.jobId, 5000); // progress checkpoints are not transitions and must not break anything
  j.endAttempt(a.jobId, 1, 'timeout', 'PROTOCOL_TIMEOUT', 'transfer');
  j.recordTransition({ ...a, state: 'backoff', errorCode: 'PROTOCOL_TIMEOUT' }, 'connecting');
  j.startAttempt(a.jobId, 2, 5000);
  j.recordTransition({ ...a, state: 'transferring', attempts: 2 }, 'backoff');
  j.endAttempt(a.jobId, 2, 'ok', undefined, 'confirm');
  j.recordTransition({ ...passedJob('B1', units[0]!, 1), jobId: a.jobId }, 'transferring');
  const b = { ...jobs[1]!, state: 'connecting' as const, attempts: 1 };
  j.startAttempt(b.jobId, 1, 0);
  j.recordTransition(b, 'queued');
  j.endAttempt(b.jobId, 1, 'timeout', 'DEVICE_NOT_RESPONDING', 'connect');
  j.recordTransition({ ...b, state: 'failed', result: 'timeout', errorCode: 'DEVICE_NOT_RESPONDING' }, 'connecting');
  j.saveRma(b.jobId, 'RMA-1', JSON.stringify({ technician: 'Wu', trace: [] })); // RMA notes: not chained, must not break it
  j.close();
  return jobs;
}

function check(path: string) {
  const j = Journal.open(path);
  open.push(j);
  return j.verifyChain();
}

function raw(path: string, sql: string, ...params: unknown[]): void {
  const db = new Database(path);
  db.prepare(sql).run(...params);
  db.close();
}

describe('journal hash chain', () => {
  it('an untouched journal verifies; every row carries its link', () => {
    const path = file();
    writeHistory(path);
    const c = check(path);
    expect(c).toMatchObject({ ok: true, errors: [], jobs: 3, openAttempts: 0 });
    expect(c.links).toBe(1 + 2 + 6 + 3); // batch + 2 batch states + transitions + finished attempts
    expect(c.head.seq).toBe(c.links);
    const db = new Database(path, { readonly: true });
    for (const t of ['transitions', 'attempts', 'batches', 'batch_states']) {
      expect(db.prepare(`SELECT COUNT(*) AS n FROM ${t} WHERE chain_hash IS NULL OR chain_seq IS NULL`).get()).toEqual({ n: 0 });
    }
    db.close();
  });

  const TAMPER: [string, string, unknown[], RegExp][] = [
    ['an edited transition', "UPDATE transitions SET message = 'all good' WHERE seq = 2 AND job_id = 'B1-j1'", [], /transition B1-j1#2: contents differ/],
    ['an edited attempt', "UPDATE attempts SET error_code = 'JOB_CANCELLED' WHERE job_id = 'B1-j1' AND attempt = 1", [], /attempt B1-j1#1: contents differ/],
    ['an edited job result', "UPDATE jobs SET state = 'passed', result = 'ok', error_code = NULL WHERE id = 'B1-j2'", [], /job B1-j2: row differs/],
    ['an edited confirmed hash', "UPDATE jobs SET confirmed_crc32 = 'deadbeef' WHERE id = 'B1-j1'", [], /job B1-j1: row differs/],
    ['an edited skipped job (pinned at creation)', "UPDATE jobs SET message = 'already at 1.4.0' WHERE id = 'B1-j3'", [], /job B1-j3: row differs/],
    ['an edited batch', "UPDATE batches SET operator = 'someone else'", [], /batch B1: contents differ/],
    ['an edited batch state', "UPDATE batches SET state = 'finished', ended_at = '2025-03-01T09:00:00Z'", [], /batch B1: state or times differ/],
    ['a deleted batch state', "DELETE FROM batch_states WHERE chain_seq = (SELECT MAX(chain_seq) FROM batch_states)", [], /batch B1: state or times differ|a row was deleted/],
    ['a deleted transition', "DELETE FROM transitions WHERE job_id = 'B1-j1' AND seq = 2", [], /missing before .* \(a row was deleted\)/],
    ['a deleted attempt', "DELETE FROM attempts WHERE job_id = 'B1-j1' AND attempt = 1", [], /a row was deleted/],
    ['the last row deleted', "DELETE FROM transitions WHERE chain_seq = (SELECT seq FROM chain_head)", [], /rows removed from the end|row differs/],
    ['a deleted job row', "DELETE FROM jobs WHERE id = 'B1-j3'", [], /job B1-j3: row missing/],
    [
      'an inserted transition (no link)',
      "INSERT INTO transitions (job_id, seq, at, from_state, to_state, attempt, progress_bytes) VALUES ('B1-j2', 99, '2025-03-01T09:00:00Z', 'failed', 'passed', 1, 0)",
      [],
      /transition B1-j2#99: not in the chain/,
    ],
    [
      'an inserted transition (link copied from another row)',
      "INSERT INTO transitions (job_id, seq, at, from_state, to_state, attempt, progress_bytes, job_hash, chain_seq, chain_hash) SELECT job_id, 98, at, 'failed', 'passed', attempt, progress_bytes, job_hash, chain_seq, chain_hash FROM transitions WHERE job_id = 'B1-j2' ORDER BY seq DESC LIMIT 1",
      [],
      /taken twice/,
    ],
    [
      'an inserted job row',
      "INSERT INTO jobs (id, batch_id, unit_id, address, unit_json, state, progress_bytes, total_bytes, attempts, resumable) VALUES ('B1-j9', 'B1', 'x', 'x', '{}', 'passed', 0, 0, 1, 0)",
      [],
      /job B1-j9: not in the journal chain/,
    ],
    ['cleared chain columns', "UPDATE attempts SET chain_seq = NULL, chain_hash = NULL WHERE job_id = 'B1-j2'", [], /attempt B1-j2#1: not in the chain/],
  ];

  it.each(TAMPER)('finds %s', (_name, sql, params, expected) => {
    const path = file();
    writeHistory(path);
    raw(path, sql, ...params);
    const c = check(path);
    expect(c.ok).toBe(false);
    expect(c.errors.join('\n')).toMatch(expected);
  });

  it('recomputing one edited row\'s own hash is not enough: the next link breaks', () => {
    const path = file();
    writeHistory(path);
    raw(path, "UPDATE transitions SET message = 'all good', chain_hash = 'f'||substr(chain_hash, 2) WHERE seq = 2 AND job_id = 'B1-j1'");
    const c = check(path);
    expect(c.ok).toBe(false);
    expect(c.errors.length).toBeGreaterThanOrEqual(2); // the row itself and the link after it
  });

  it('crash recovery (markInterrupted) keeps the chain intact and links the closed attempt', () => {
    const path = file();
    const j = Journal.open(path);
    const units = [sampleUnit(1)];
    const jobs = [queuedJob('B2', units[0]!, 1)];
    j.createBatch({ ...sampleBatch('B2', units), state: 'running' }, jobs);
    j.startAttempt(jobs[0]!.jobId, 1, 0);
    j.recordTransition({ ...jobs[0]!, state: 'transferring', attempts: 1 }, 'queued');
    j.close();
    const k = Journal.open(path);
    expect(k.markInterrupted('2025-03-01T10:00:00.000Z')).toEqual(['B2']);
    expect(k.verifyChain()).toMatchObject({ ok: true, openAttempts: 0 });
    expect(k.getAttempts(jobs[0]!.jobId)[0]).toMatchObject({ errorCode: 'STATION_INTERRUPTED' });
    k.close();
  });

  it('an open attempt is not linked until it ends', () => {
    const path = file();
    const j = Journal.open(path);
    open.push(j);
    const units = [sampleUnit(1)];
    const jobs = [queuedJob('B3', units[0]!, 1)];
    j.createBatch(sampleBatch('B3', units), jobs);
    j.startAttempt(jobs[0]!.jobId, 1, 0);
    expect(j.verifyChain()).toMatchObject({ ok: true, openAttempts: 1 });
    j.endAttempt(jobs[0]!.jobId, 1, 'ok', undefined, 'confirm');
    expect(j.verifyChain()).toMatchObject({ ok: true, openAttempts: 0 });
    expect(j.chainHead()).toMatch(/^3:[0-9a-f]{64}$/);
    expect(j.chainLinkAt(3)).toBe(j.chainHead().split(':')[1]);
  });

  it('persists confirmedBy, attempt causes and the skip reason on the job row', () => {
    const path = file();
    const j = Journal.open(path);
    open.push(j);
    const units = [sampleUnit(1), sampleUnit(2)];
    const pass: JobView = { ...passedJob('B4', units[0]!, 1), attemptCauses: [{ attempt: 1, code: 'PROTOCOL_TIMEOUT', result: 'timeout' }] };
    const skip: JobView = { ...queuedJob('B4', units[1]!, 2), state: 'skipped', errorCode: 'VERSION_AT_TARGET', skipReason: 'already at 1.4.0' };
    j.createBatch(sampleBatch('B4', units), [pass, skip]);
    expect(j.getJobs('B4')).toStrictEqual([pass, skip]);
    expect(j.verifyChain().ok).toBe(true);
  });
});

describe('a journal written before the chain (schema v1)', () => {
  function writeV1(path: string): void {
    const db = new Database(path);
    db.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    db.exec(MIGRATIONS[0]!.sql);
    db.prepare('INSERT INTO schema_version VALUES (1, ?)').run('2025-01-01T00:00:00Z');
    db.prepare("INSERT INTO batches VALUES ('OLD', 'finished', 'Li', 'ST-1', '{}', '{}', '2025-01-01T08:00:00Z', NULL, NULL, NULL)").run();
    const job = db.prepare(
      `INSERT INTO jobs (id, batch_id, unit_id, address, unit_json, state, progress_bytes, total_bytes, attempts, result, confirmed_crc32, resumable)
       VALUES (?, 'OLD', ?, ?, '{"unitId":"u","transport":"serial","protocol":"ymodem","address":"/dev/x"}', ?, 10, 10, 1, ?, ?, 0)`,
    );
    job.run('OLD-1', 'u1', '/dev/ttyUSB1', 'passed', 'ok', '2cd27a54');
    job.run('OLD-2', 'u2', '/dev/ttyUSB2', 'queued', null, null);
    db.prepare("INSERT INTO transitions VALUES ('OLD-1', 1, '2025-01-01T08:01:00Z', 'queued', 'connecting', 1, 0, NULL, NULL, NULL)").run();
    db.prepare("INSERT INTO transitions VALUES ('OLD-1', 2, '2025-01-01T08:02:00Z', 'connecting', 'passed', 1, 10, 'ok', NULL, NULL)").run();
    db.prepare("INSERT INTO attempts VALUES ('OLD-1', 1, '2025-01-01T08:01:00Z', '2025-01-01T08:02:00Z', 'ok', NULL, 'confirm', 0)").run();
    db.close();
  }

  it('migrates: every existing row is linked, and it verifies', () => {
    const path = file();
    writeV1(path);
    const j = Journal.open(path);
    open.push(j);
    expect(j.schemaVersion()).toBe(MIGRATIONS[MIGRATIONS.length - 1]!.version);
    expect(j.verifyChain()).toMatchObject({ ok: true, links: 5, jobs: 2 }); // batch, its state, 2 transitions, 1 attempt
    expect(j.getJobs('OLD').map((x) => x.state)).toEqual(['passed', 'queued']);
    // New writes continue the chain after the migrated rows.
    j.recordTransition({ ...j.getJob('OLD-2')!, state: 'connecting', attempts: 1 }, 'queued');
    j.updateBatch('OLD', { state: 'running' });
    expect(j.verifyChain()).toMatchObject({ ok: true, links: 7 });
  });

  it('after migrating, an edit to a migrated row is found', () => {
    const path = file();
    writeV1(path);
    Journal.open(path).close();
    raw(path, "UPDATE jobs SET confirmed_crc32 = 'deadbeef' WHERE id = 'OLD-1'");
    raw(path, "UPDATE transitions SET at = '2025-01-01T09:00:00Z' WHERE job_id = 'OLD-1' AND seq = 1");
    const c = check(path);
    expect(c.ok).toBe(false);
    expect(c.errors.join('\n')).toMatch(/job OLD-1: row differs/);
    expect(c.errors.join('\n')).toMatch(/transition OLD-1#1: contents differ/);
  });
});
