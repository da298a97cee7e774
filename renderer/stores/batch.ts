// The live batch: subscribes to the station's events (snapshot, then deltas applied in revision
// order; a gap resubscribes for a fresh snapshot), owns the grid's filter and every batch/job
// command. Jobs live in a shallowRef array and are replaced one object at a time, so a delta
// re-renders only the tiles whose job changed (the grid stays smooth at 500 units).
// Also what the screen must not lie about: counters that add up to the total in every state,
// units of a paused batch shown as paused, and units that made no progress for a while.
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { BatchEvent, BatchState, BatchView, ErrorView, JobState, JobView } from '../../main/contract/dto.js';
import { bridge } from '../bridge.js';

export type GridFilter = 'all' | 'running' | 'passed' | 'failed' | 'skipped' | 'queued';

const RUNNING: readonly JobState[] = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'backoff'];
const ACTIVE: readonly JobState[] = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming'];
/** A unit in an active state with no new byte or state for this long is shown as stalled. */
export const STALL_AFTER_MS = 60_000;
const STALL_CHECK_MS = 5_000;

/** Which filter bucket a job's state falls in (pure). */
export function bucketOf(state: JobState): Exclude<GridFilter, 'all'> | 'other' {
  if (RUNNING.includes(state)) return 'running';
  if (state === 'passed' || state === 'failed' || state === 'skipped' || state === 'queued') return state;
  return 'other';
}

/** The tally the counters show; every unit is in exactly one of these (pure). */
export interface Tally {
  total: number;
  running: number;
  retrying: number;
  queued: number;
  paused: number;
  passed: number;
  failed: number;
  skipped: number;
  cancelled: number;
  interrupted: number;
}
export const TALLY_KEYS = ['running', 'retrying', 'queued', 'paused', 'passed', 'failed', 'skipped', 'cancelled', 'interrupted'] as const;

/**
 * What a unit shows as its state (pure): a paused batch's units that wait (queued, waiting to
 * retry) are 'paused' — no rate, no ETA, not running; an interrupted batch's unfinished units
 * are 'interrupted'. Units in flight keep their own state.
 */
export type ShownState = JobState | 'paused';
export function shownState(job: JobView, batchState: BatchState | undefined): ShownState {
  if (batchState === 'paused' && (job.state === 'queued' || job.state === 'backoff' || job.state === 'interrupted')) return 'paused';
  if (batchState === 'interrupted' && !['passed', 'failed', 'cancelled', 'skipped'].includes(job.state)) return 'interrupted';
  return job.state;
}

export function tallyOf(jobs: readonly JobView[], batchState: BatchState | undefined): Tally {
  const t: Tally = { total: jobs.length, running: 0, retrying: 0, queued: 0, paused: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 };
  for (const j of jobs) {
    const s = shownState(j, batchState);
    if (s === 'backoff') t.retrying++;
    else if (ACTIVE.includes(s as JobState)) t.running++;
    else t[s as 'queued' | 'paused' | 'passed' | 'failed' | 'skipped' | 'cancelled' | 'interrupted']++;
  }
  return t;
}

/** A short sound through WebAudio: two high tones for a finished batch, three low ones for a stop. */
export function beep(kind: 'finished' | 'cancelled' | 'stopLine'): void {
  const Ctx = typeof window !== 'undefined' ? (window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext) : undefined;
  if (!Ctx) return;
  try {
    const ctx = new Ctx();
    const tones = kind === 'finished' ? [880, 1320] : [330, 330, 330];
    tones.forEach((hz, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = hz;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + i * 0.25);
      osc.stop(ctx.currentTime + i * 0.25 + 0.18);
    });
    setTimeout(() => void ctx.close(), 1500);
  } catch {
    // No audio device: the banner alone tells the operator.
  }
}

/** A batch's journaled counts as the grid tallies them (pure): an interrupted batch's unfinished units are interrupted, a paused batch's waiting ones paused. */
export function shownCounts(b: BatchView): BatchView['counts'] & { paused: number } {
  const c = { ...b.counts, paused: 0 };
  if (b.state === 'interrupted') {
    c.interrupted += c.queued + c.running;
    c.queued = 0;
    c.running = 0;
  } else if (b.state === 'paused') {
    c.paused = c.queued + c.interrupted;
    c.queued = 0;
    c.interrupted = 0;
  }
  return c;
}

export function matchesQuery(job: JobView, q: string): boolean {
  if (!q) return true;
  const needle = q.toLowerCase();
  return [job.unit.unitId, job.unit.name, job.unit.serialNumber, job.unit.address].some((s) => s?.toLowerCase().includes(needle));
}

/** Failures first, then units in flight, then the rest in plan order (pure, stable). */
export function failuresFirst(jobs: readonly JobView[]): JobView[] {
  const rank = (j: JobView) => (j.state === 'failed' ? 0 : ACTIVE.includes(j.state) || j.state === 'backoff' ? 1 : j.state === 'passed' ? 3 : 2);
  return jobs.map((j, i) => ({ j, i, r: rank(j) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.j);
}

export const useBatchStore = defineStore('batch', () => {
  const batchId = ref<string | null>(null);
  const batch = shallowRef<BatchView | null>(null);
  const jobs = shallowRef<JobView[]>([]);
  const rev = ref(-1);
  const readOnly = ref(false);
  const filter = ref<GridFilter>('all');
  const query = ref('');
  const lastError = ref<ErrorView | null>(null);
  /** Events applied, for the bench and diagnostics. */
  const appliedEvents = ref(0);
  /** jobId → whole minutes without progress, for active units stalled ≥ STALL_AFTER_MS. */
  const stalled = shallowRef<ReadonlyMap<string, number>>(new Map());
  let index = new Map<string, number>();
  let off: (() => void) | null = null;
  /** jobId → the last progress seen and when it changed. */
  const seen = new Map<string, { key: string; atMs: number }>();
  let now: () => number = () => Date.now();
  let stallTimer: ReturnType<typeof setInterval> | null = null;

  function note(j: JobView): void {
    const key = `${j.state}:${j.progressBytes}:${j.attempts}`;
    const s = seen.get(j.jobId);
    if (!s || s.key !== key) seen.set(j.jobId, { key, atMs: now() });
  }

  /** Recomputes the stalled units; replaces the map only when it changed (tiles patch on change). */
  function checkStalls(): void {
    const next = new Map<string, number>();
    const t = now();
    for (const j of jobs.value) {
      if (!ACTIVE.includes(j.state)) continue;
      const s = seen.get(j.jobId);
      if (s && t - s.atMs >= STALL_AFTER_MS) next.set(j.jobId, Math.floor((t - s.atMs) / 60_000));
    }
    const prev = stalled.value;
    if (next.size !== prev.size || [...next].some(([k, v]) => prev.get(k) !== v)) stalled.value = next;
  }
  /** The end of a batch or a stop-the-line, seen live: a banner and a sound for the floor. */
  const banner = ref<{ kind: 'finished' | 'cancelled' | 'stopLine'; reason?: string; batchId: string; passed: number; failed: number; total: number } | null>(null);
  const beeps = ref(0);
  let beeper: (kind: 'finished' | 'cancelled' | 'stopLine') => void = beep;
  function setBeeper(fn: (kind: 'finished' | 'cancelled' | 'stopLine') => void): void {
    beeper = fn;
  }
  function noticeEnd(prev: BatchState | undefined, next: BatchView): void {
    if (prev !== 'running' || next.state === 'running') return;
    const kind = next.state === 'finished' ? 'finished' : next.state === 'cancelled' ? 'cancelled' : next.state === 'paused' && next.pausedReason?.startsWith('stop-the-line') ? 'stopLine' : null;
    if (!kind) return;
    const c = shownCounts(next);
    banner.value = { kind, batchId: next.batchId, passed: c.passed, failed: c.failed, total: c.total, ...(next.pausedReason ? { reason: next.pausedReason } : {}) };
    beeps.value++;
    beeper(kind);
  }
  function dismissBanner(): void {
    banner.value = null;
  }
  function setClock(fn: () => number): void {
    now = fn;
  }

  function onEvent(e: BatchEvent): void {
    if (e.batchId !== batchId.value) return;
    if (e.type === 'snapshot') {
      batch.value = e.batch;
      jobs.value = e.jobs;
      index = new Map(e.jobs.map((j, i) => [j.jobId, i]));
      rev.value = e.rev;
      for (const j of e.jobs) note(j);
    } else {
      if (e.rev <= rev.value) return; // already in the snapshot
      if (e.rev !== rev.value + 1) {
        resubscribe(); // a delta was lost: ask for a fresh snapshot
        return;
      }
      rev.value = e.rev;
      if (e.batch) {
        noticeEnd(batch.value?.state, e.batch);
        batch.value = e.batch;
      }
      if (e.jobs.length) {
        const next = jobs.value.slice();
        for (const j of e.jobs) {
          note(j);
          const i = index.get(j.jobId);
          if (i === undefined) {
            index.set(j.jobId, next.length);
            next.push(j);
          } else next[i] = j;
        }
        jobs.value = next;
      }
    }
    appliedEvents.value++;
  }

  function resubscribe(): void {
    off?.();
    off = null;
    rev.value = -1;
    if (batchId.value) off = bridge().onBatchEvent(batchId.value, onEvent);
    if (!stallTimer && typeof setInterval !== 'undefined') stallTimer = setInterval(checkStalls, STALL_CHECK_MS);
  }

  function open(id: string, opts: { readOnly?: boolean } = {}): void {
    if (batchId.value !== id) {
      if (banner.value?.batchId !== id) banner.value = null; // the banner belongs to its batch
      batch.value = null;
      jobs.value = [];
      index = new Map();
      seen.clear();
      stalled.value = new Map();
    }
    batchId.value = id;
    readOnly.value = !!opts.readOnly;
    resubscribe();
  }

  function close(): void {
    off?.();
    off = null;
    if (stallTimer) clearInterval(stallTimer);
    stallTimer = null;
    batchId.value = null;
    batch.value = null;
    jobs.value = [];
  }

  const tally = computed(() => tallyOf(jobs.value, batch.value?.state));
  /** Kept for callers of the station's own counts (reports). */
  const counts = computed(() => batch.value?.counts ?? { total: 0, queued: 0, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 });
  const visibleJobs = computed(() => {
    const f = filter.value;
    const q = query.value.trim();
    if (f === 'all' && !q) return jobs.value;
    return jobs.value.filter((j) => (f === 'all' || bucketOf(j.state) === f) && matchesQuery(j, q));
  });
  const failedJobs = computed(() => jobs.value.filter((j) => j.state === 'failed'));

  async function command(fn: () => Promise<{ ok: boolean; error?: ErrorView }>): Promise<boolean> {
    const r = await fn();
    lastError.value = r.ok ? null : (r.error ?? null);
    return r.ok;
  }
  const id = () => batchId.value ?? '';
  const start = () => command(() => bridge().startBatch({ batchId: id() }));
  const pause = () => command(() => bridge().pauseBatch({ batchId: id() }));
  /**
   * Resume a paused batch, or one the station was stopped in the middle of. The station then runs
   * it live, so the watch is renewed (a batch that was not running only had a journal snapshot).
   */
  async function resume(): Promise<boolean> {
    const ok = await command(() => bridge().resumeBatch({ batchId: id() }));
    if (ok) {
      readOnly.value = false;
      resubscribe();
    }
    return ok;
  }
  const cancelAll = () => command(() => bridge().cancelBatch({ batchId: id() }));
  const cancelJob = (jobId: string) => command(() => bridge().cancelJob({ batchId: id(), jobId }));
  const retryJob = (jobId: string) => command(() => bridge().retryJob({ batchId: id(), jobId }));
  /** Retries every failed unit; true when the station took every one. */
  async function retryAllFailed(): Promise<boolean> {
    let all = true;
    for (const j of failedJobs.value) all = (await retryJob(j.jobId)) && all;
    return all;
  }

  return { banner, beeps, dismissBanner, setBeeper, batchId, batch, jobs, rev, readOnly, filter, query, lastError, appliedEvents, stalled, tally, counts, visibleJobs, failedJobs, onEvent, open, close, start, pause, resume, cancelAll, cancelJob, retryJob, retryAllFailed, checkStalls, setClock };
});
