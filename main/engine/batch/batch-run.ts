/**
 * One running batch: owns its job runners, the pause/cancel/retry commands, stop-the-line, and
 * the event stream (a snapshot, then revisioned deltas coalesced to ≤ 10 per second). Every job
 * change is written to the journal synchronously before it is queued for publishing.
 * Must not import transports, protocols or virtual units (jobs get them from the engine), nor electron.
 */
import type { BatchCounts, BatchEvent, BatchState, BatchView, JobState, JobView, TraceLine } from '../../contract/dto.js';
import { ACTIVE_STATES } from '../../contract/dto.js';
import type { Journal } from '../journal/journal.js';
import { JobRunner, type JobDeps, type JobSink } from '../job/runner.js';
import { isFinal } from '../job/machine.js';
import { Scheduler } from '../pool/scheduler.js';
import { toStationError, type StationError } from '../errors.js';
import type { PreflightDecision } from '../line/mes.js';
import { classifyIoError, releaseReserve } from '../data-dir.js';

/** Journal failures that stop the batch (the disk, not the data): anything else is a bug and throws. */
const STOPPING_CODES: ReadonlySet<string> = new Set(['DISK_FULL', 'DATA_DIR_READ_ONLY', 'DATA_DIR_PERMISSION', 'DATA_DIR_IO_ERROR', 'DATA_DIR_NOT_DIRECTORY']);
export const EVENT_INTERVAL_MS = 100; // ≤ 10 deltas per second per batch
const PROGRESS_CHECKPOINT_MS = 250;

export interface BatchRunDeps {
  journal: Journal;
  scheduler: Scheduler;
  /** Builds the runner dependencies for one job (transport, driver, image, options), with the MES pre-flight's choice when there was one. */
  jobDeps(job: JobView, sink: JobSink, decision?: PreflightDecision): JobDeps;
  /** MES pre-flight, asked per unit right before it starts (issue 11); never throws. */
  preflight?: (job: JobView) => Promise<PreflightDecision>;
  /** The data folder: on a full disk its reserve is given back so the stop itself can be journaled. */
  dataDir?: string;
}

export class BatchRun {
  private readonly runners = new Map<string, JobRunner>();
  private readonly running = new Set<Promise<void>>();
  private readonly listeners = new Set<(e: BatchEvent) => void>();
  private readonly dirty = new Set<string>();
  private batchDirty = false;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private rev = 0;
  private readonly lastCheckpoint = new Map<string, number>();
  private consecutiveFailures = 0;
  private doneWaiters: (() => void)[] = [];
  private readonly jobsById: Map<string, JobView>;
  /** Jobs waiting for their MES pre-flight answer (not yet a runner). */
  private readonly preflighting = new Set<string>();
  /** Set when the journal's disk failed (full, read-only, I/O error): the batch stopped at a resumable point. */
  stopError: StationError | null = null;

  constructor(readonly batch: BatchView, jobs: JobView[], private readonly deps: BatchRunDeps) {
    this.jobsById = new Map(jobs.map((j) => [j.jobId, j]));
  }

  /** Resolves when no job is left to run (all final, or the batch was cancelled and nothing is in flight). */
  whenDone(): Promise<void> {
    const open = this.jobs.some((j) => !isFinal(j.state));
    if (this.running.size === 0 && (!open || this.batch.state === 'cancelled' || this.stopError)) return Promise.resolve();
    return new Promise((r) => this.doneWaiters.push(r));
  }

  get jobs(): JobView[] {
    return [...this.jobsById.values()];
  }

  subscribe(cb: (e: BatchEvent) => void): () => void {
    this.listeners.add(cb);
    cb({ type: 'snapshot', batchId: this.batch.batchId, rev: this.rev, batch: this.view(), jobs: this.jobs.map(clone) });
    return () => this.listeners.delete(cb);
  }

  view(): BatchView {
    return { ...this.batch, counts: countJobs(this.jobs) };
  }

  /** Start (or continue) every job that is not final. */
  start(): void {
    this.stopError = null;
    const now = new Date().toISOString();
    this.setBatchState('running', { startedAt: this.batch.startedAt ?? now, pausedReason: undefined });
    this.deps.scheduler.setPaused(false);
    for (const job of this.jobsById.values()) {
      if (isFinal(job.state) || this.runners.has(job.jobId) || this.preflighting.has(job.jobId)) continue;
      if (job.state === 'interrupted' || job.state === 'backoff') this.moveJob(job, 'queued');
      this.launch(job);
    }
    this.checkDone();
  }

  pause(reason = 'paused by the operator'): void {
    if (this.batch.state !== 'running') return;
    this.deps.scheduler.setPaused(true);
    this.setBatchState('paused', { pausedReason: reason });
  }

  resume(): void {
    if (this.batch.state !== 'paused' && this.batch.state !== 'interrupted') return;
    this.consecutiveFailures = 0;
    this.start();
  }

  cancel(): void {
    for (const job of this.jobsById.values()) {
      if (job.state === 'queued' && !this.runners.has(job.jobId)) this.moveJob(job, 'cancelled', { result: 'cancelled', errorCode: 'JOB_CANCELLED', message: 'cancelled by the operator' });
    }
    for (const r of this.runners.values()) r.abort('cancel');
    this.setBatchState('cancelled', {});
    this.deps.scheduler.setPaused(false); // let waiting runners see their abort
    this.checkDone();
  }

  /** Stop the batch because the station is shutting down: in-flight jobs become interrupted. */
  async shutdown(): Promise<void> {
    for (const r of this.runners.values()) r.abort('shutdown');
    await Promise.allSettled([...this.running]);
    if (this.batch.state === 'running' || this.batch.state === 'paused') this.setBatchState('interrupted', {});
    this.flush();
  }

  cancelJob(jobId: string): boolean {
    const job = this.jobsById.get(jobId);
    if (!job || isFinal(job.state)) return false;
    const r = this.runners.get(jobId);
    if (r) r.abort('cancel');
    else this.moveJob(job, 'cancelled', { result: 'cancelled', errorCode: 'JOB_CANCELLED', message: 'cancelled by the operator' });
    this.checkDone();
    return true;
  }

  /** Operator retry of a failed/cancelled/skipped unit: it queues again with its attempt count kept. */
  retryJob(jobId: string): boolean {
    const job = this.jobsById.get(jobId);
    if (!job || !['failed', 'cancelled', 'skipped'].includes(job.state) || this.runners.has(jobId) || this.preflighting.has(jobId)) return false;
    this.moveJob(job, 'queued', { result: undefined, errorCode: undefined, message: undefined, endedAt: undefined });
    if (this.batch.state === 'finished' || this.batch.state === 'cancelled') this.setBatchState('running', { endedAt: undefined });
    this.launch(job);
    return true;
  }

  private launch(job: JobView): void {
    if (this.deps.preflight) this.launchAfterPreflight(job, this.deps.preflight);
    else this.launchNow(job);
  }

  /** Ask the MES first: a deny skips the unit with its reason; a policy block fails it; allow runs it. */
  private launchAfterPreflight(job: JobView, preflight: (job: JobView) => Promise<PreflightDecision>): void {
    this.preflighting.add(job.jobId);
    const p = (async () => {
      let d: PreflightDecision;
      try {
        d = await preflight(job);
      } catch (e) {
        d = { allow: false, errorCode: 'MES_UNREACHABLE', reason: `MES pre-flight failed: ${e instanceof Error ? e.message : String(e)}` };
      }
      this.preflighting.delete(job.jobId);
      if (isFinal(job.state)) return; // cancelled while asking
      const now = new Date().toISOString();
      if (this.batch.state === 'cancelled') {
        this.moveJob(job, 'cancelled', { result: 'cancelled', errorCode: 'JOB_CANCELLED', message: 'cancelled by the operator', endedAt: now });
      } else if (!d.allow && d.errorCode === 'MES_DENIED') {
        this.moveJob(job, 'skipped', { errorCode: 'MES_DENIED', message: d.reason, skipReason: d.reason, endedAt: now });
      } else if (!d.allow) {
        this.moveJob(job, 'failed', { result: 'policy_blocked', errorCode: d.errorCode ?? 'MES_UNREACHABLE', message: d.reason, endedAt: now });
      } else {
        // Allowed by policy after an MES error: say so on the unit's record before it runs.
        if (d.note) this.moveJob(job, job.state, { message: d.note });
        this.launchNow(job, d);
      }
    })().finally(() => {
      this.preflighting.delete(job.jobId);
      this.running.delete(p);
      this.checkDone();
    });
    this.running.add(p);
  }

  private launchNow(job: JobView, decision?: PreflightDecision): void {
    const sink = this.sinkFor();
    let runner: JobRunner;
    try {
      runner = new JobRunner(job, this.deps.jobDeps(job, sink, decision));
    } catch (e) {
      // No transport or driver for this unit: a clear per-unit failure, the batch goes on.
      const err = toStationError(e);
      this.moveJob(job, 'failed', { result: err.result, errorCode: err.code, message: err.message, endedAt: new Date().toISOString() });
      return;
    }
    this.runners.set(job.jobId, runner);
    const p = runner
      .run()
      .catch((e) => {
        // A bug in a runner must not take the batch down: fail that unit only.
        if (!isFinal(job.state) && !this.stopError) {
          const msg = e instanceof Error ? e.message : String(e);
          try {
            this.moveJob(job, 'failed', { result: 'station_error', errorCode: 'INTERNAL', message: msg, endedAt: new Date().toISOString() });
          } catch {
            /* journal unavailable: nothing more we can do for this unit */
          }
        }
      })
      .finally(() => {
        this.runners.delete(job.jobId);
        this.running.delete(p);
        this.checkDone();
      });
    this.running.add(p);
  }

  /**
   * Every journal write of the batch goes through here. A disk failure (full, read-only, I/O)
   * stops the whole batch at a resumable point instead of escaping into a session callback:
   * runners are aborted as on shutdown (their units become interrupted), the reserve is given
   * back so those writes fit, and the write that failed is tried once more. Nothing is thrown.
   */
  private journaled(write: () => void): void {
    try {
      write();
      return;
    } catch (e) {
      const io = classifyIoError(e, this.deps.dataDir ?? '');
      if (!io || !STOPPING_CODES.has(io.code)) throw e;
      this.stopForIo(io);
    }
    try {
      write();
    } catch {
      /* still failing: the journal keeps the last committed state; the next start marks it interrupted */
    }
  }

  private stopForIo(err: StationError): void {
    if (this.stopError) return;
    this.stopError = err;
    if (this.deps.dataDir) releaseReserve(this.deps.dataDir);
    for (const r of this.runners.values()) r.abort('shutdown');
    this.deps.scheduler.setPaused(false); // waiting runners see their abort
  }

  private sinkFor(): JobSink {
    const journal = this.deps.journal;
    return {
      transition: (job: JobView, from: JobState) => {
        this.journaled(() => journal.recordTransition(job, from));
        this.markDirty(job.jobId);
        if (job.state === 'failed') this.onFailure();
        else if (job.state === 'passed') this.consecutiveFailures = 0;
      },
      progress: (job: JobView) => {
        const now = performance.now();
        if (now - (this.lastCheckpoint.get(job.jobId) ?? 0) >= PROGRESS_CHECKPOINT_MS) {
          this.lastCheckpoint.set(job.jobId, now);
          this.journaled(() => journal.saveProgress(job.jobId, job.progressBytes));
        }
        this.markDirty(job.jobId);
      },
      attemptStarted: (job: JobView, resumeFromBytes: number) => this.journaled(() => journal.startAttempt(job.jobId, job.attempts, resumeFromBytes)),
      attemptEnded: (job: JobView, stage: string, err?: StationError) =>
        this.journaled(() => journal.endAttempt(job.jobId, job.attempts, err ? err.result : 'ok', err?.code, stage)),
      trace: (job: JobView, lines: TraceLine[]) => this.journaled(() => journal.saveTrace(job.jobId, job.attempts, lines)),
    };
  }

  private onFailure(): void {
    this.consecutiveFailures++;
    const stl = this.batch.plan.stopTheLine;
    if (!stl || this.batch.state !== 'running') return;
    const counts = countJobs(this.jobs);
    const finished = counts.passed + counts.failed;
    if (stl.consecutiveFailures && this.consecutiveFailures >= stl.consecutiveFailures) {
      this.pause(`stop-the-line: ${this.consecutiveFailures} failures in a row`);
    } else if (stl.failureRate !== undefined && finished >= (stl.minFinished ?? 1) && counts.failed / finished > stl.failureRate) {
      this.pause(`stop-the-line: failure rate ${Math.round((counts.failed / finished) * 100)} % over ${Math.round(stl.failureRate * 100)} %`);
    } else if (stl.sameFailureShare !== undefined && finished >= (stl.minFinished ?? 1)) {
      // Most units failing the same way is a line problem (wrong image, fixture, profile), not units.
      const byCode = new Map<string, number>();
      for (const j of this.jobs) if (j.state === 'failed') byCode.set(j.errorCode ?? j.result ?? '?', (byCode.get(j.errorCode ?? j.result ?? '?') ?? 0) + 1);
      const [code, n] = [...byCode].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
      if (n / finished > stl.sameFailureShare) this.pause(`stop-the-line: ${n} of ${finished} finished units failed the same way (${code})`);
    }
  }

  private moveJob(job: JobView, to: JobState, patch: Partial<JobView> = {}): void {
    const from = job.state;
    Object.assign(job, patch);
    job.state = to;
    this.journaled(() => this.deps.journal.recordTransition(job, from));
    this.markDirty(job.jobId);
  }

  private setBatchState(state: BatchState, patch: Partial<BatchView>): void {
    Object.assign(this.batch, patch);
    this.batch.state = state;
    this.journaled(() => this.deps.journal.updateBatch(this.batch.batchId, { state, startedAt: this.batch.startedAt, endedAt: this.batch.endedAt, pausedReason: this.batch.pausedReason }));
    this.batchDirty = true;
    this.scheduleFlush();
  }

  private checkDone(): void {
    if (this.running.size > 0) return;
    if (this.stopError) {
      // Everything in flight has been journaled as interrupted: the batch waits for `resume`.
      if (this.batch.state === 'running' || this.batch.state === 'paused') this.setBatchState('interrupted', { pausedReason: `${this.stopError.code}: ${this.stopError.message}` });
      this.flush();
      const waiters = this.doneWaiters;
      this.doneWaiters = [];
      waiters.forEach((w) => w());
      return;
    }
    const open = this.jobs.some((j) => !isFinal(j.state));
    if (!open && (this.batch.state === 'running' || this.batch.state === 'cancelled' || this.batch.state === 'paused')) {
      this.setBatchState(this.batch.state === 'cancelled' ? 'cancelled' : 'finished', { endedAt: new Date().toISOString(), pausedReason: undefined });
    }
    if (!open || this.batch.state === 'cancelled') {
      this.flush();
      const waiters = this.doneWaiters;
      this.doneWaiters = [];
      waiters.forEach((w) => w());
    }
  }

  private markDirty(jobId: string): void {
    this.dirty.add(jobId);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => this.flush(), EVENT_INTERVAL_MS);
  }

  /** Publish one coalesced delta now. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.dirty.size === 0 && !this.batchDirty) return;
    const jobs = [...this.dirty].map((id) => clone(this.jobsById.get(id)!));
    this.dirty.clear();
    this.batchDirty = false;
    this.rev++;
    const ev: BatchEvent = { type: 'delta', batchId: this.batch.batchId, rev: this.rev, batch: this.view(), jobs };
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch {
        /* a listener's bug must not stop the batch */
      }
    }
  }
}

export function countJobs(jobs: JobView[]): BatchCounts {
  const c: BatchCounts = { total: jobs.length, queued: 0, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 };
  for (const j of jobs) {
    if (j.state === 'queued') c.queued++;
    else if (j.state === 'passed') c.passed++;
    else if (j.state === 'failed') c.failed++;
    else if (j.state === 'skipped') c.skipped++;
    else if (j.state === 'cancelled') c.cancelled++;
    else if (j.state === 'interrupted') c.interrupted++;
    else if ((ACTIVE_STATES as readonly string[]).includes(j.state) || j.state === 'backoff') c.running++;
  }
  return c;
}

function clone(j: JobView): JobView {
  return { ...j, unit: j.unit, sent: { ...j.sent }, confirmed: { ...j.confirmed } };
}
