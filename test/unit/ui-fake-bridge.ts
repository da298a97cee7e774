/**
 * An in-memory StationBridge for store and component tests: answers each method from a
 * handler table the test fills, records calls, and lets the test push batch events.
 */
import type { BatchEvent, BatchView, JobState, JobView } from '../../main/contract/dto.js';
import { STATION_METHODS, type Result, type StationBridge, type StationMethod } from '../../main/contract/ipc.js';

export interface FakeBridge extends StationBridge {
  calls: { method: StationMethod | 'onBatchEvent' | 'unsubscribe'; req: unknown }[];
  answer<M extends StationMethod>(method: M, fn: (req: Parameters<StationBridge[M]>[0]) => Awaited<ReturnType<StationBridge[M]>>): void;
  push(e: BatchEvent): void;
  listeners(batchId: string): number;
}

export function createFakeBridge(): FakeBridge {
  const table = new Map<string, (req: unknown) => Result<unknown>>();
  const listeners = new Map<string, Set<(e: BatchEvent) => void>>();
  const calls: FakeBridge['calls'] = [];
  const methods = Object.fromEntries(
    STATION_METHODS.map((m) => [
      m,
      async (req: unknown) => {
        calls.push({ method: m, req });
        const fn = table.get(m);
        return fn ? fn(req) : { ok: true, value: null };
      },
    ]),
  );
  return {
    ...(methods as unknown as Omit<StationBridge, 'onBatchEvent'>),
    calls,
    answer(method, fn) {
      table.set(method, fn as (req: unknown) => Result<unknown>);
    },
    onBatchEvent(batchId, fn) {
      calls.push({ method: 'onBatchEvent', req: batchId });
      const set = listeners.get(batchId) ?? new Set();
      listeners.set(batchId, set);
      set.add(fn);
      return () => {
        calls.push({ method: 'unsubscribe', req: batchId });
        set.delete(fn);
      };
    },
    push(e) {
      for (const fn of [...(listeners.get(e.batchId) ?? [])]) fn(e);
    },
    listeners: (batchId) => listeners.get(batchId)?.size ?? 0,
  };
}

export function makeJob(i: number, state: JobState = 'queued', extra: Partial<JobView> = {}): JobView {
  return {
    jobId: `B1-${String(i).padStart(4, '0')}`,
    batchId: 'B1',
    unit: { unitId: `sim:ymodem:${i}`, transport: 'sim', protocol: 'ymodem', address: `ymodem:${i}`, name: `ymodem #${i}`, serialNumber: `SN${i}` },
    state,
    progressBytes: 0,
    totalBytes: 1000,
    attempts: 0,
    sent: { crc32: 'aabbccdd', md5: '0123456789abcdef0123456789abcdef' },
    confirmed: {},
    resumable: false,
    ...extra,
  };
}

export function makeBatch(jobs: JobView[], extra: Partial<BatchView> = {}): BatchView {
  const c = { total: jobs.length, queued: 0, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 };
  for (const j of jobs) {
    if (j.state === 'passed' || j.state === 'failed' || j.state === 'skipped' || j.state === 'cancelled' || j.state === 'queued' || j.state === 'interrupted') c[j.state]++;
    else c.running++;
  }
  return {
    batchId: 'B1',
    state: 'running',
    operator: 'op',
    stationId: 'st',
    packageInfo: { id: 'p1', sourcePath: '/x', format: 'bin', components: [], signature: 'none', loadedAt: '2024-01-01T00:00:00Z' },
    plan: { packageId: 'p1', units: [], versionGate: { skipIfAtTarget: true }, policy: {}, retry: { maxAttempts: 3, backoffMs: 1, backoffMaxMs: 1 }, concurrency: { global: 8, perBleAdapter: 6 } },
    createdAt: '2024-01-01T00:00:00Z',
    counts: c,
    ...extra,
  };
}
