/**
 * A small pool of worker threads that run named exports of task modules, so CPU work (hashing,
 * HEX/zip parsing, report rendering) never runs on the main thread. Owns spawning (see
 * worker-boot.mjs for running .ts sources), queueing and error rebuilding; knows no task.
 * Must not import the task domains (packages, reports) or electron.
 */
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type Transferable } from 'node:worker_threads';
import { isStationErrorCode, StationError } from '../errors.js';

/** A typed handle on `exportName` of the module at `moduleUrl`; the export takes one input and returns (a promise of) the output. */
export interface TaskRef<I, O> {
  readonly moduleUrl: string;
  readonly exportName: string;
  /** Type-only marker; never set. */
  readonly _types?: (input: I) => O;
}

export interface TaskRequest {
  moduleUrl: string;
  exportName: string;
  input: unknown;
}

export type TaskReply =
  | { ok: true; value: unknown }
  | { ok: false; error: { name: string; message: string; code?: string; stack?: string } };

/**
 * `defineTask<typeof tasks.digest>(siblingModule(import.meta.url, 'tasks'), 'digest')`.
 * Inputs and outputs cross a structured clone: SharedArrayBuffer views are shared, not copied.
 */
export function defineTask<F extends (input: never) => unknown>(moduleUrl: URL, exportName: string): TaskRef<Parameters<F>[0], Awaited<ReturnType<F>>> {
  return { moduleUrl: moduleUrl.href, exportName };
}

/** URL of a module next to `importMetaUrl`, with the same extension (.ts under tsx/vitest, .js when built). */
export function siblingModule(importMetaUrl: string, baseName: string): URL {
  return new URL(`./${baseName}${extname(fileURLToPath(importMetaUrl))}`, importMetaUrl);
}

const ENTRY = siblingModule(import.meta.url, 'worker-entry');
const BOOT = new URL('./worker-boot.mjs', import.meta.url);

interface Job {
  request: TaskRequest;
  transfer: readonly Transferable[];
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

export class WorkerPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(opts: { size?: number } = {}) {
    this.size = Math.max(1, opts.size ?? Math.min(4, availableParallelism()));
  }

  run<I, O>(task: TaskRef<I, O>, input: I, transfer: readonly Transferable[] = []): Promise<O> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    return new Promise<O>((resolve, reject) => {
      const request = { moduleUrl: task.moduleUrl, exportName: task.exportName, input };
      this.queue.push({ request, transfer, resolve: resolve as (v: unknown) => void, reject });
      this.dispatch();
    });
  }

  /** Stops every worker; queued and running tasks reject. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('worker pool closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => !s.job) ?? (this.slots.length < this.size ? this.spawn() : undefined);
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      // Hold the event loop open only while a task runs; idle workers must not keep the process alive.
      slot.worker.ref();
      slot.worker.postMessage(job.request, job.transfer);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(BOOT, { workerData: { entry: ENTRY.href } });
    const slot: Slot = { worker };
    worker.on('message', (reply: TaskReply) => {
      const job = slot.job;
      slot.job = undefined;
      worker.unref();
      if (job) {
        if (reply.ok) job.resolve(reply.value);
        else job.reject(rebuildError(reply.error));
      }
      this.dispatch();
    });
    const fail = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      slot.job?.reject(err);
      slot.job = undefined;
      if (!this.closed) this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }
}

function rebuildError(e: { name: string; message: string; code?: string; stack?: string }): Error {
  const err = e.code && isStationErrorCode(e.code) ? new StationError(e.code, e.message) : new Error(e.message);
  if (!(err instanceof StationError)) err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

let shared: WorkerPool | undefined;

/** The process-wide pool (lazily created; idle workers do not keep the process alive). */
export function sharedWorkerPool(): WorkerPool {
  shared ??= new WorkerPool();
  return shared;
}

/** Run one task on the shared pool. */
export function runInWorker<I, O>(task: TaskRef<I, O>, input: I, transfer: readonly Transferable[] = []): Promise<O> {
  return sharedWorkerPool().run(task, input, transfer);
}
