/**
 * The station's crash-safe record of batches, jobs, transitions, attempts and trace tails, in
 * SQLite (better-sqlite3, synchronous by design: each write is one short transaction).
 * Owns the JobView/BatchView ↔ row mapping; knows nothing about scheduling or protocols.
 * Must not import transports, protocols, devices, jobs or electron.
 */
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type {
  AttemptCause,
  BatchCounts,
  BatchView,
  JobState,
  JobView,
  ResultCode,
  TraceLine,
  TransitionView,
  UnitRef,
} from '../../contract/dto.js';
import { ACTIVE_STATES } from '../../contract/dto.js';
import { StationError } from '../errors.js';
import { MIGRATIONS } from './schema.js';
import { appendBatchState, appendLink, chainHead, jobHash, verifyJournal, type JournalCheck } from './chain.js';

export interface JournalOptions {
  /**
   * WAL + NORMAL (the default) never corrupts the database and loses nothing when the station
   * process dies (SIGKILL, crash): committed transactions sit in the WAL in the OS page cache.
   * Only a power cut or OS crash can drop the last few commits — the job then resumes from an
   * earlier state, which the device's own reported offset makes harmless. FULL fsyncs the WAL on
   * every commit, closing that window at a few ms per transition on a laptop SSD.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** Open for reading only (another station process owns the folder): no migration, no writes. */
  readonly?: boolean;
}

export interface AttemptView {
  attempt: number;
  startedAt: string;
  endedAt?: string;
  result?: ResultCode;
  errorCode?: string;
  stage?: string;
  resumeFromBytes: number;
}

/** States a crash can leave a job in mid-flight: they become `interrupted` on the next start. */
const IN_FLIGHT_STATES: readonly JobState[] = [...ACTIVE_STATES, 'backoff'];
const RUNNING_STATES: ReadonlySet<JobState> = new Set(IN_FLIGHT_STATES);

interface BatchRow {
  id: string;
  state: string;
  operator: string;
  station_id: string;
  package_json: string;
  plan_json: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  paused_reason: string | null;
}

interface JobRow {
  id: string;
  batch_id: string;
  unit_id: string;
  serial_number: string | null;
  address: string;
  unit_json: string;
  state: string;
  progress_bytes: number;
  total_bytes: number;
  rate_bps: number | null;
  attempts: number;
  result: string | null;
  error_code: string | null;
  device_code: string | null;
  message: string | null;
  version_before: string | null;
  version_after: string | null;
  sent_crc32: string | null;
  sent_md5: string | null;
  confirmed_crc32: string | null;
  confirmed_md5: string | null;
  started_at: string | null;
  ended_at: string | null;
  resumable: number;
  /** Schema v2: HashView.confirmedBy joined with '+' ('' = none confirmed), attempt causes JSON, skip reason. */
  confirmed_by: string | null;
  attempt_causes: string | null;
  skip_reason: string | null;
}

/** A job row as read: the RMA columns come from JOB_SELECT, never written by upsertJob. */
interface JobReadRow extends JobRow {
  rma_ticket?: string | null;
  rma_technician?: string | null;
  rma_trace_entries?: number | null;
}

interface TransitionRow {
  job_id: string;
  seq: number;
  at: string;
  from_state: string;
  to_state: string;
  attempt: number;
  progress_bytes: number;
  result: string | null;
  error_code: string | null;
  message: string | null;
  job_hash: string | null;
  chain_seq: number | null;
  chain_hash: string | null;
}

interface AttemptRow {
  attempt: number;
  started_at: string;
  ended_at: string | null;
  result: string | null;
  error_code: string | null;
  stage: string | null;
  resume_from_bytes: number;
}

const JOB_COLUMNS = [
  'id', 'batch_id', 'unit_id', 'serial_number', 'address', 'unit_json', 'state', 'progress_bytes',
  'total_bytes', 'rate_bps', 'attempts', 'result', 'error_code', 'device_code', 'message',
  'version_before', 'version_after', 'sent_crc32', 'sent_md5', 'confirmed_crc32', 'confirmed_md5',
  'started_at', 'ended_at', 'resumable', 'confirmed_by', 'attempt_causes', 'skip_reason',
] as const satisfies readonly (keyof JobRow)[];

/**
 * Every read of a job goes through this: the RMA ticket, and the technician and trace length
 * taken out of the notes JSON by SQLite, so listing jobs never ships a unit's full raw trace to JS.
 * json_valid guards rows whose notes are not JSON (json_extract would raise on them).
 */
const JOB_SELECT = `SELECT ${JOB_COLUMNS.map((c) => 'jobs.' + c).join(', ')}, jobs.rma_ticket,
  CASE WHEN json_valid(jobs.notes) THEN json_extract(jobs.notes, '$.technician') END AS rma_technician,
  CASE WHEN json_valid(jobs.notes) THEN json_array_length(jobs.notes, '$.trace') END AS rma_trace_entries
  FROM jobs`;

const UPSERT_JOB_SQL = `INSERT INTO jobs (${JOB_COLUMNS.join(', ')})
  VALUES (${JOB_COLUMNS.map((c) => '@' + c).join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${JOB_COLUMNS.filter((c) => c !== 'id')
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')}`;

export class Journal {
  private readonly upsertJob: Database.Statement<JobRow>;
  private readonly nextSeq: Database.Statement<[string], { seq: number }>;
  private readonly insertTransition: Database.Statement<TransitionRow>;
  private readonly updateProgress: Database.Statement<[number, number | null, string]>;
  private readonly selectJob: Database.Statement<[string], JobReadRow>;
  private readonly selectJobs: Database.Statement<[string], JobReadRow>;
  private readonly selectCounts: Database.Statement<[string], { state: string; n: number }>;
  private readonly transitionTx: (job: JobView, from: JobState, at: string) => number;

  private constructor(private readonly db: Database.Database) {
    this.upsertJob = db.prepare<JobRow>(UPSERT_JOB_SQL);
    this.nextSeq = db.prepare<[string], { seq: number }>(
      'SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM transitions WHERE job_id = ?',
    );
    this.insertTransition = db.prepare<TransitionRow>(
      `INSERT INTO transitions (job_id, seq, at, from_state, to_state, attempt, progress_bytes, result, error_code, message, job_hash, chain_seq, chain_hash)
       VALUES (@job_id, @seq, @at, @from_state, @to_state, @attempt, @progress_bytes, @result, @error_code, @message, @job_hash, @chain_seq, @chain_hash)`,
    );
    this.updateProgress = db.prepare<[number, number | null, string]>(
      'UPDATE jobs SET progress_bytes = ?, rate_bps = COALESCE(?, rate_bps) WHERE id = ?',
    );
    this.selectJob = db.prepare<[string], JobReadRow>(`${JOB_SELECT} WHERE jobs.id = ?`);
    this.selectJobs = db.prepare<[string], JobReadRow>(`${JOB_SELECT} WHERE jobs.batch_id = ? ORDER BY jobs.rowid`);
    this.selectCounts = db.prepare<[string], { state: string; n: number }>(
      'SELECT state, COUNT(*) AS n FROM jobs WHERE batch_id = ? GROUP BY state',
    );
    this.transitionTx = db.transaction((job: JobView, from: JobState, at: string): number => {
      const params = jobToParams(job);
      this.upsertJob.run(params);
      const seq = this.nextSeq.get(job.jobId)?.seq ?? 1;
      const row = {
        job_id: job.jobId,
        seq,
        at,
        from_state: from,
        to_state: job.state,
        attempt: job.attempts,
        progress_bytes: job.progressBytes,
        result: job.result ?? null,
        error_code: job.errorCode ?? null,
        message: job.message ?? null,
        // Pins the job row as written with this transition: verify-journal compares the row to it.
        job_hash: jobHash(params as unknown as Record<string, unknown>),
      };
      this.insertTransition.run({ ...row, ...appendLink(this.db, 'transition', row) });
      return seq;
    });
  }

  static open(file: string, opts: JournalOptions = {}): Journal {
    if (opts.readonly) return openReadonly(file);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    // The CLI and the app may open the same file; wait for the other writer instead of failing.
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return new Journal(db);
  }

  /** Highest schema migration applied. */
  schemaVersion(): number {
    return currentVersion(this.db);
  }

  /** Raw pragma access for diagnostics and tests (e.g. `journal_mode`). */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  createBatch(b: BatchView, jobs: JobView[]): void {
    const insertBatch = this.db.prepare<BatchRow & { chain_jobs: string; chain_seq: number; chain_hash: string }>(
      `INSERT INTO batches (id, state, operator, station_id, package_json, plan_json, created_at, started_at, ended_at, paused_reason, chain_jobs, chain_seq, chain_hash)
       VALUES (@id, @state, @operator, @station_id, @package_json, @plan_json, @created_at, @started_at, @ended_at, @paused_reason, @chain_jobs, @chain_seq, @chain_hash)`,
    );
    this.db.transaction(() => {
      const jobRows = jobs.map(jobToParams);
      const row = {
        id: b.batchId,
        state: b.state,
        operator: b.operator,
        station_id: b.stationId,
        package_json: JSON.stringify(b.packageInfo),
        plan_json: JSON.stringify(b.plan),
        created_at: b.createdAt,
        started_at: b.startedAt ?? null,
        ended_at: b.endedAt ?? null,
        paused_reason: b.pausedReason ?? null,
        // Each job row as created, pinned in the batch's chain link (jobs that never move keep it).
        chain_jobs: JSON.stringify(Object.fromEntries(jobRows.map((j) => [j.id, jobHash(j as unknown as Record<string, unknown>)]))),
      };
      insertBatch.run({ ...row, ...appendLink(this.db, 'batch', row) });
      appendBatchState(this.db, b.batchId, b.createdAt);
      for (const params of jobRows) this.upsertJob.run(params);
    })();
  }

  /** A key present with value `undefined` clears the column (e.g. pausedReason on resume). */
  updateBatch(batchId: string, patch: Partial<Pick<BatchView, 'state' | 'startedAt' | 'endedAt' | 'pausedReason'>>): void {
    const columns: Record<string, string> = { state: 'state', startedAt: 'started_at', endedAt: 'ended_at', pausedReason: 'paused_reason' };
    const sets: string[] = [];
    const values: (string | null)[] = [];
    for (const [key, column] of Object.entries(columns)) {
      if (!(key in patch)) continue;
      sets.push(`${column} = ?`);
      values.push((patch as Record<string, string | undefined>)[key] ?? null);
    }
    if (sets.length === 0) return;
    this.db
      .transaction(() => {
        this.db.prepare(`UPDATE batches SET ${sets.join(', ')} WHERE id = ?`).run(...values, batchId);
        appendBatchState(this.db, batchId, new Date().toISOString()); // the change is a link of the journal chain
      })
      .immediate();
  }

  /** Write the job's new row AND the transition in ONE transaction; returns the transition seq. Called before the event is published. */
  recordTransition(job: JobView, from: JobState, at: string = new Date().toISOString()): number {
    return this.transitionTx(job, from, at);
  }

  /** Progress checkpoint without a transition: acknowledged bytes and, when known, the rate. */
  saveProgress(jobId: string, progressBytes: number, rateBytesPerSec?: number): void {
    this.updateProgress.run(progressBytes, rateBytesPerSec ?? null, jobId);
  }

  startAttempt(jobId: string, attempt: number, resumeFromBytes: number, at: string = new Date().toISOString()): void {
    this.db
      .prepare(
        `INSERT INTO attempts (job_id, attempt, started_at, resume_from_bytes) VALUES (?, ?, ?, ?)
         ON CONFLICT (job_id, attempt) DO UPDATE SET started_at = excluded.started_at,
           resume_from_bytes = excluded.resume_from_bytes, ended_at = NULL, result = NULL, error_code = NULL, stage = NULL
         WHERE attempts.chain_seq IS NULL`,
      )
      .run(jobId, attempt, at, resumeFromBytes);
  }

  /** Closes the attempt and links it into the journal chain (a finished attempt is never rewritten). */
  endAttempt(jobId: string, attempt: number, result: ResultCode, errorCode: string | undefined, stage: string, at: string = new Date().toISOString()): void {
    // IMMEDIATE: take the write lock before reading the row, so another writer cannot slip in between.
    this.db.transaction(() => this.closeAttemptLinked(jobId, attempt, { ended_at: at, result, error_code: errorCode ?? null, stage })).immediate();
  }

  private closeAttemptLinked(jobId: string, attempt: number, end: { ended_at: string; result: string; error_code: string | null; stage: string }): void {
    const open = this.db
      .prepare<[string, number], Record<string, unknown>>('SELECT * FROM attempts WHERE job_id = ? AND attempt = ? AND chain_seq IS NULL')
      .get(jobId, attempt);
    if (!open) return;
    const row = { ...open, ...end };
    const link = appendLink(this.db, 'attempt', row);
    this.db
      .prepare('UPDATE attempts SET ended_at = ?, result = ?, error_code = ?, stage = ?, chain_seq = ?, chain_hash = ? WHERE job_id = ? AND attempt = ?')
      .run(end.ended_at, end.result, end.error_code, end.stage, link.chain_seq, link.chain_hash, jobId, attempt);
  }

  /** The journal chain's head as `SEQ:SHA256`: what a report carries to pin the journal. */
  chainHead(): string {
    const h = chainHead(this.db);
    return `${h.seq}:${h.hash}`;
  }

  /** The chain link at a position (to check a report's journal_head), or undefined. */
  chainLinkAt(seq: number): string | undefined {
    const r = this.db
      .prepare<[number, number, number, number], { chain_hash: string }>(
        `SELECT chain_hash FROM batches WHERE chain_seq = ? UNION ALL SELECT chain_hash FROM transitions WHERE chain_seq = ?
         UNION ALL SELECT chain_hash FROM attempts WHERE chain_seq = ? UNION ALL SELECT chain_hash FROM batch_states WHERE chain_seq = ?`,
      )
      .get(seq, seq, seq, seq);
    return r?.chain_hash;
  }

  /** Recomputes the journal chain and every job row's pin (read-only). */
  verifyChain(): JournalCheck {
    return verifyJournal(this.db);
  }

  /** Every failed attempt's cause, in order (issue 9 §1); station stops and cancels are not causes. */
  getAttemptCauses(jobId: string): AttemptCause[] {
    return this.db
      .prepare<[string], { attempt: number; error_code: string; result: string }>(
        `SELECT attempt, error_code, result FROM attempts WHERE job_id = ? AND error_code IS NOT NULL
         AND error_code NOT IN ('JOB_CANCELLED', 'STATION_INTERRUPTED') ORDER BY attempt`,
      )
      .all(jobId)
      .map((r) => ({ attempt: r.attempt, code: r.error_code, result: r.result as ResultCode }));
  }

  /** Keeps one trace tail per attempt; saving again replaces it. */
  saveTrace(jobId: string, attempt: number, lines: TraceLine[]): void {
    this.db
      .prepare(
        `INSERT INTO traces (job_id, attempt, lines_json) VALUES (?, ?, ?)
         ON CONFLICT (job_id, attempt) DO UPDATE SET lines_json = excluded.lines_json`,
      )
      .run(jobId, attempt, JSON.stringify(lines));
  }

  getBatch(batchId: string): BatchView | undefined {
    const row = this.db.prepare<[string], BatchRow>('SELECT * FROM batches WHERE id = ?').get(batchId);
    return row && this.batchFromRow(row);
  }

  /** Newest first. */
  listBatches(opts: { limit?: number; offset?: number } = {}): BatchView[] {
    return this.db
      .prepare<[number, number], BatchRow>('SELECT * FROM batches ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?')
      .all(opts.limit ?? 50, opts.offset ?? 0)
      .map((row) => this.batchFromRow(row));
  }

  /** In the order the jobs were created. */
  getJobs(batchId: string): JobView[] {
    const jobs = this.selectJobs.all(batchId).map(jobFromRow);
    // Every failed attempt's cause (issue 9 §1), from the attempts table.
    const causes = new Map<string, AttemptCause[]>();
    const rows = this.db
      .prepare<[string], { job_id: string; attempt: number; error_code: string; result: string }>(
        `SELECT a.job_id, a.attempt, a.error_code, a.result FROM attempts a JOIN jobs j ON j.id = a.job_id
         WHERE j.batch_id = ? AND a.error_code IS NOT NULL AND a.error_code NOT IN ('JOB_CANCELLED', 'STATION_INTERRUPTED')
         ORDER BY a.job_id, a.attempt`,
      )
      .all(batchId);
    for (const r of rows) {
      const list = causes.get(r.job_id) ?? [];
      list.push({ attempt: r.attempt, code: r.error_code, result: r.result as ResultCode });
      causes.set(r.job_id, list);
    }
    for (const j of jobs) {
      const c = causes.get(j.jobId);
      if (c) j.attemptCauses = c;
    }
    return jobs;
  }

  getJob(jobId: string): JobView | undefined {
    const row = this.selectJob.get(jobId);
    if (!row) return undefined;
    const job = jobFromRow(row);
    const causes = this.getAttemptCauses(jobId);
    if (causes.length) job.attemptCauses = causes;
    return job;
  }

  getTransitions(jobId: string): TransitionView[] {
    return this.db
      .prepare<[string], TransitionRow>('SELECT * FROM transitions WHERE job_id = ? ORDER BY seq')
      .all(jobId)
      .map((r) => {
        const t: TransitionView = {
          jobId: r.job_id,
          seq: r.seq,
          at: r.at,
          from: r.from_state as JobState,
          to: r.to_state as JobState,
          attempt: r.attempt,
          progressBytes: r.progress_bytes,
        };
        if (r.result !== null) t.result = r.result as ResultCode;
        if (r.error_code !== null) t.errorCode = r.error_code;
        if (r.message !== null) t.message = r.message;
        return t;
      });
  }

  getAttempts(jobId: string): AttemptView[] {
    return this.db
      .prepare<[string], AttemptRow>('SELECT * FROM attempts WHERE job_id = ? ORDER BY attempt')
      .all(jobId)
      .map((r) => {
        const a: AttemptView = { attempt: r.attempt, startedAt: r.started_at, resumeFromBytes: r.resume_from_bytes };
        if (r.ended_at !== null) a.endedAt = r.ended_at;
        if (r.result !== null) a.result = r.result as ResultCode;
        if (r.error_code !== null) a.errorCode = r.error_code;
        if (r.stage !== null) a.stage = r.stage;
        return a;
      });
  }

  /** Every failed attempt's cause per job of a batch, from the attempts table (issue 9 §1). */
  attemptCausesForBatch(batchId: string): Map<string, AttemptCause[]> {
    const rows = this.db
      .prepare<[string], { job_id: string; attempt: number; result: string; error_code: string }>(
        `SELECT attempts.job_id, attempts.attempt, attempts.result, attempts.error_code FROM attempts JOIN jobs ON jobs.id = attempts.job_id
         WHERE jobs.batch_id = ? AND attempts.result IS NOT NULL AND attempts.result != 'ok' AND attempts.error_code IS NOT NULL
         ORDER BY attempts.job_id, attempts.attempt`,
      )
      .all(batchId);
    const out = new Map<string, AttemptCause[]>();
    for (const r of rows) {
      const list = out.get(r.job_id) ?? [];
      list.push({ attempt: r.attempt, code: r.error_code, result: r.result as ResultCode });
      out.set(r.job_id, list);
    }
    return out;
  }

  getTrace(jobId: string): { attempt: number; lines: TraceLine[] }[] {
    return this.db
      .prepare<[string], { attempt: number; lines_json: string }>('SELECT attempt, lines_json FROM traces WHERE job_id = ? ORDER BY attempt')
      .all(jobId)
      .map((r) => ({ attempt: r.attempt, lines: JSON.parse(r.lines_json) as TraceLine[] }));
  }

  /** RMA workflow (issue 4): the ticket and a JSON record (technician, probe, full raw trace) on the job's row. */
  saveRma(jobId: string, ticket: string, notesJson: string): void {
    const r = this.db.prepare('UPDATE jobs SET rma_ticket = ?, notes = ? WHERE id = ?').run(ticket, notesJson, jobId);
    if (r.changes !== 1) throw new StationError('INTERNAL', `no job ${jobId} to attach RMA ticket ${ticket} to`);
  }

  getRma(jobId: string): { ticket: string; notesJson: string | null } | undefined {
    const row = this.db.prepare<[string], { rma_ticket: string | null; notes: string | null }>('SELECT rma_ticket, notes FROM jobs WHERE id = ?').get(jobId);
    return row?.rma_ticket ? { ticket: row.rma_ticket, notesJson: row.notes } : undefined;
  }

  /** Jobs recorded under an RMA ticket, newest first. */
  jobsByTicket(ticket: string): JobView[] {
    return this.db.prepare<[string], JobReadRow>(`${JOB_SELECT} WHERE jobs.rma_ticket = ? ORDER BY jobs.rowid DESC`).all(ticket).map(jobFromRow);
  }

  /** Substring match on serial number, address (port path, BLE MAC/id) or unit id; newest first. */
  searchJobs(q: string, limit = 200): JobView[] {
    const pattern = `%${q.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
    return this.db
      .prepare<[string, string, string, number], JobReadRow>(
        `${JOB_SELECT}
         WHERE jobs.serial_number LIKE ? ESCAPE '\\' OR jobs.address LIKE ? ESCAPE '\\' OR jobs.unit_id LIKE ? ESCAPE '\\'
         ORDER BY jobs.rowid DESC LIMIT ?`,
      )
      .all(pattern, pattern, pattern, limit)
      .map(jobFromRow);
  }

  /**
   * On start-up after a crash: every batch still 'running' becomes 'interrupted', and every job
   * caught in flight (connecting..confirming, backoff) becomes 'interrupted' with a transition and
   * its open attempt closed. Paused batches keep their state but their in-flight jobs are marked
   * too, since a pause lets running jobs finish and the crash may have cut them. Returns the
   * batch ids touched.
   */
  markInterrupted(at: string): string[] {
    return this.db.transaction((): string[] => {
      const touched = new Set<string>();
      const running = this.db.prepare<[], { id: string }>("SELECT id FROM batches WHERE state = 'running'").all();
      for (const { id } of running) touched.add(id);
      this.db.prepare("UPDATE batches SET state = 'interrupted' WHERE state = 'running'").run();
      for (const { id } of running) appendBatchState(this.db, id, at);

      const marks = IN_FLIGHT_STATES.map(() => '?').join(', ');
      const stuck = this.db
        .prepare<JobState[], JobRow>(
          `SELECT jobs.* FROM jobs JOIN batches ON batches.id = jobs.batch_id
           WHERE batches.state IN ('interrupted', 'paused') AND jobs.state IN (${marks}) ORDER BY jobs.rowid`,
        )
        .all(...IN_FLIGHT_STATES);
      const openAttempts = this.db.prepare<[string], { attempt: number }>('SELECT attempt FROM attempts WHERE job_id = ? AND ended_at IS NULL ORDER BY attempt');
      for (const row of stuck) {
        const job = jobFromRow(row);
        for (const { attempt } of openAttempts.all(job.jobId)) {
          this.closeAttemptLinked(job.jobId, attempt, { ended_at: at, result: 'station_error', error_code: 'STATION_INTERRUPTED', stage: job.state });
        }
        this.transitionTx(
          { ...job, state: 'interrupted', errorCode: 'STATION_INTERRUPTED', message: `station stopped while ${job.state}` },
          job.state,
          at,
        );
        touched.add(job.batchId);
      }
      return [...touched];
    })();
  }

  private auditReady = false;
  /**
   * The audit log (issue 13 §4): every engineer action and every batch start/cancel, append-only.
   * Its table is created on first use (IF NOT EXISTS) so it needs no schema migration.
   */
  audit(e: { at?: string; role: string; actor: string; action: string; target?: string; detail?: string }): number {
    this.ensureAudit();
    const r = this.db
      .prepare('INSERT INTO audit_log (at, role, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.at ?? new Date().toISOString(), e.role, e.actor, e.action, e.target ?? null, e.detail ?? null);
    return Number(r.lastInsertRowid);
  }

  /** Audit entries, newest first. */
  listAudit(limit = 200): { seq: number; at: string; role: string; actor: string; action: string; target?: string; detail?: string }[] {
    this.ensureAudit();
    const rows = this.db
      .prepare<[number], { seq: number; at: string; role: string; actor: string; action: string; target: string | null; detail: string | null }>('SELECT seq, at, role, actor, action, target, detail FROM audit_log ORDER BY seq DESC LIMIT ?')
      .all(limit);
    return rows.map((r) => ({ seq: r.seq, at: r.at, role: r.role, actor: r.actor, action: r.action, ...(r.target !== null ? { target: r.target } : {}), ...(r.detail !== null ? { detail: r.detail } : {}) }));
  }

  private ensureAudit(): void {
    if (this.auditReady) return;
    this.db.exec('CREATE TABLE IF NOT EXISTS audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, role TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT, detail TEXT)');
    this.auditReady = true;
  }

  close(): void {
    this.db.close();
    this.afterClose?.();
  }

  /** Set by openReadonly when it read a snapshot (removed on close). */
  private afterClose?: () => void;

  /** @internal */
  static fromSnapshot(db: Database.Database, cleanup: () => void): Journal {
    const j = new Journal(db);
    j.afterClose = cleanup;
    return j;
  }

  private batchFromRow(row: BatchRow): BatchView {
    const b: BatchView = {
      batchId: row.id,
      state: row.state as BatchView['state'],
      operator: row.operator,
      stationId: row.station_id,
      packageInfo: JSON.parse(row.package_json) as BatchView['packageInfo'],
      plan: JSON.parse(row.plan_json) as BatchView['plan'],
      createdAt: row.created_at,
      counts: this.countJobs(row.id),
    };
    if (row.started_at !== null) b.startedAt = row.started_at;
    if (row.ended_at !== null) b.endedAt = row.ended_at;
    if (row.paused_reason !== null) b.pausedReason = row.paused_reason;
    return b;
  }

  private countJobs(batchId: string): BatchCounts {
    const c: BatchCounts = { total: 0, queued: 0, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 };
    for (const { state, n } of this.selectCounts.all(batchId)) {
      c.total += n;
      const s = state as JobState;
      if (RUNNING_STATES.has(s)) c.running += n;
      else if (s in c) c[s as Exclude<keyof BatchCounts, 'total' | 'running'>] += n;
    }
    return c;
  }
}

/**
 * Read-only open. A WAL database on a read-only file system whose writer has exited has no
 * -shm file and SQLite cannot create one; nothing can change such a file, so a private copy is
 * read instead (removed on close).
 */
function openReadonly(file: string): Journal {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
    return Journal.fromSnapshot(db, () => undefined);
  } catch (e) {
    db?.close();
    if ((e as { code?: string }).code !== 'SQLITE_CANTOPEN' || !existsSync(file) || dirWritable(dirname(file))) throw e;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'flashline-ro-journal-'));
  const copy = join(tmp, basename(file));
  copyFileSync(file, copy);
  if (existsSync(file + '-wal')) copyFileSync(file + '-wal', copy + '-wal');
  const snap = new Database(copy, { readonly: true, fileMustExist: true });
  return Journal.fromSnapshot(snap, () => rmSync(tmp, { recursive: true, force: true }));
}

function dirWritable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function currentVersion(db: Database.Database): number {
  return db.prepare<[], { v: number | null }>('SELECT MAX(version) AS v FROM schema_version').get()?.v ?? 0;
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  const have = currentVersion(db);
  const newest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
  if (have > newest) {
    // A newer station build wrote this file; guessing at its schema could corrupt QA records.
    throw new StationError('INTERNAL', `journal schema v${have} is newer than this station build (v${newest})`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= have) continue;
    db.transaction(() => {
      db.exec(m.sql);
      m.after?.(db);
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(m.version, new Date().toISOString());
    })();
  }
}

function jobToParams(job: JobView): JobRow {
  return {
    id: job.jobId,
    batch_id: job.batchId,
    unit_id: job.unit.unitId,
    serial_number: job.unit.serialNumber ?? job.unit.sim?.serialNumber ?? null,
    address: job.unit.address,
    unit_json: JSON.stringify(job.unit),
    state: job.state,
    progress_bytes: job.progressBytes,
    total_bytes: job.totalBytes,
    rate_bps: job.rateBytesPerSec ?? null,
    attempts: job.attempts,
    result: job.result ?? null,
    error_code: job.errorCode ?? null,
    device_code: job.deviceCode ?? null,
    message: job.message ?? null,
    version_before: job.versionBefore ?? null,
    version_after: job.versionAfter ?? null,
    sent_crc32: job.sent.crc32 ?? null,
    sent_md5: job.sent.md5 ?? null,
    confirmed_crc32: job.confirmed.crc32 ?? null,
    confirmed_md5: job.confirmed.md5 ?? null,
    started_at: job.startedAt ?? null,
    ended_at: job.endedAt ?? null,
    resumable: job.resumable ? 1 : 0,
    confirmed_by: job.confirmed.confirmedBy ? job.confirmed.confirmedBy.join('+') : null,
    attempt_causes: job.attemptCauses ? JSON.stringify(job.attemptCauses) : null,
    skip_reason: job.skipReason ?? null,
  };
}

/** NULL columns become absent keys, never `null`, so a JobView round-trips exactly. */
function jobFromRow(r: JobReadRow): JobView {
  const job: JobView = {
    jobId: r.id,
    batchId: r.batch_id,
    unit: JSON.parse(r.unit_json) as UnitRef,
    state: r.state as JobState,
    progressBytes: r.progress_bytes,
    totalBytes: r.total_bytes,
    attempts: r.attempts,
    sent: hashes(r.sent_crc32, r.sent_md5),
    confirmed: hashes(r.confirmed_crc32, r.confirmed_md5),
    resumable: r.resumable === 1,
  };
  if (r.result !== null) job.result = r.result as ResultCode;
  if (r.error_code !== null) job.errorCode = r.error_code;
  if (r.device_code !== null) job.deviceCode = r.device_code;
  if (r.message !== null) job.message = r.message;
  if (r.state === 'skipped' && r.message !== null) job.skipReason = r.message;
  if (r.version_before !== null) job.versionBefore = r.version_before;
  if (r.version_after !== null) job.versionAfter = r.version_after;
  if (r.started_at !== null) job.startedAt = r.started_at;
  if (r.ended_at !== null) job.endedAt = r.ended_at;
  if (r.rate_bps !== null) job.rateBytesPerSec = r.rate_bps;
  if (r.rma_ticket) job.rmaTicket = r.rma_ticket;
  if (typeof r.rma_technician === 'string' && r.rma_technician) job.technician = r.rma_technician;
  if (typeof r.rma_trace_entries === 'number') job.rmaTraceEntries = r.rma_trace_entries;
  if (r.confirmed_by !== null && r.confirmed_by !== undefined) job.confirmed.confirmedBy = (r.confirmed_by ? r.confirmed_by.split('+') : []) as NonNullable<JobView['confirmed']['confirmedBy']>;
  if (r.attempt_causes) job.attemptCauses = JSON.parse(r.attempt_causes) as AttemptCause[];
  if (r.skip_reason !== null && r.skip_reason !== undefined) job.skipReason = r.skip_reason;
  return job;
}

function hashes(crc32: string | null, md5: string | null): JobView['sent'] {
  const h: JobView['sent'] = {};
  if (crc32 !== null) h.crc32 = crc32;
  if (md5 !== null) h.md5 = md5;
  return h;
}
