// The live batch: subscribes to the station's events (snapshot, then deltas applied in revision
// order; a gap resubscribes for a fresh snapshot), owns the grid's filter and every batch/job
// command. Jobs live in a shallowRef array and are replaced one object at a time, so a delta
// re-renders only the tiles whose job changed (the grid stays smooth at 500 units).
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { BatchEvent, BatchView, ErrorView, JobState, JobView } from '../../main/contract/dto.js';
import { bridge } from '../bridge.js';

export type GridFilter = 'all' | 'running' | 'passed' | 'failed' | 'skipped' | 'queued';

const RUNNING: readonly JobState[] = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'backoff'];

/** Which filter bucket a job's state falls in (pure). */
export function bucketOf(state: JobState): Exclude<GridFilter, 'all'> | 'other' {
  if (RUNNING.includes(state)) return 'running';
  if (state === 'passed' || state === 'failed' || state === 'skipped' || state === 'queued') return state;
  return 'other';
}

export function matchesQuery(job: JobView, q: string): boolean {
  if (!q) return true;
  const needle = q.toLowerCase();
  return [job.unit.unitId, job.unit.name, job.unit.serialNumber, job.unit.address].some((s) => s?.toLowerCase().includes(needle));
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
  let index = new Map<string, number>();
  let off: (() => void) | null = null;

  function onEvent(e: BatchEvent): void {
    if (e.batchId !== batchId.value) return;
    if (e.type === 'snapshot') {
      batch.value = e.batch;
      jobs.value = e.jobs;
      index = new Map(e.jobs.map((j, i) => [j.jobId, i]));
      rev.value = e.rev;
    } else {
      if (e.rev <= rev.value) return; // already in the snapshot
      if (e.rev !== rev.value + 1) {
        resubscribe(); // a delta was lost: ask for a fresh snapshot
        return;
      }
      rev.value = e.rev;
      if (e.batch) batch.value = e.batch;
      if (e.jobs.length) {
        const next = jobs.value.slice();
        for (const j of e.jobs) {
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
  }

  function open(id: string, opts: { readOnly?: boolean } = {}): void {
    if (batchId.value !== id) {
      batch.value = null;
      jobs.value = [];
      index = new Map();
    }
    batchId.value = id;
    readOnly.value = !!opts.readOnly;
    resubscribe();
  }

  function close(): void {
    off?.();
    off = null;
    batchId.value = null;
    batch.value = null;
    jobs.value = [];
  }

  const counts = computed(() => batch.value?.counts ?? { total: 0, queued: 0, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 });
  const visibleJobs = computed(() => {
    const f = filter.value;
    const q = query.value.trim();
    if (f === 'all' && !q) return jobs.value;
    return jobs.value.filter((j) => (f === 'all' || bucketOf(j.state) === f) && matchesQuery(j, q));
  });

  async function command(fn: () => Promise<{ ok: boolean; error?: ErrorView }>): Promise<boolean> {
    const r = await fn();
    lastError.value = r.ok ? null : (r.error ?? null);
    return r.ok;
  }
  const id = () => batchId.value ?? '';
  const start = () => command(() => bridge().startBatch({ batchId: id() }));
  const pause = () => command(() => bridge().pauseBatch({ batchId: id() }));
  const resume = () => command(() => bridge().resumeBatch({ batchId: id() }));
  const cancelAll = () => command(() => bridge().cancelBatch({ batchId: id() }));
  const cancelJob = (jobId: string) => command(() => bridge().cancelJob({ batchId: id(), jobId }));
  const retryJob = (jobId: string) => command(() => bridge().retryJob({ batchId: id(), jobId }));

  return { batchId, batch, jobs, rev, readOnly, filter, query, lastError, appliedEvents, counts, visibleJobs, onEvent, open, close, start, pause, resume, cancelAll, cancelJob, retryJob };
});
