/**
 * Plain Node (`flashline serve`, benches): the engine host in a worker thread of this process,
 * reached through a RemoteStationApi. Runs the built engine-host.js next to this module when
 * there is one, else the TypeScript entry through the same tsx bootstrap as pooled workers.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { siblingModule } from '../engine/workers/worker-pool.js';
import type { EngineHostOptions } from './host-port.js';
import { portOfWorker } from './host-port.js';
import { connectStationApi, type RemoteStationApi } from './remote-api.js';

/** Milliseconds a closed host may take to leave before its thread is terminated. */
const EXIT_GRACE_MS = 3000;

export interface EngineWorker {
  api: RemoteStationApi;
  worker: Worker;
  /** Closes the engine (journals in-flight units as interrupted) and ends the thread. */
  close(): Promise<void>;
}

function hostEntryUrl(): URL {
  const built = new URL('./engine-host.js', import.meta.url);
  // Bundled desktop/CLI output keeps engine-host.js beside this code; sources use the .ts entry.
  if (import.meta.url.endsWith('.js') && existsSync(fileURLToPath(built))) return built;
  return siblingModule(import.meta.url, 'engine-host-entry');
}

export async function startEngineWorker(options: EngineHostOptions): Promise<EngineWorker> {
  const boot = new URL('../engine/workers/worker-boot.mjs', import.meta.url);
  const entry = hostEntryUrl();
  const worker = new Worker(entry.href.endsWith('.ts') && existsSync(fileURLToPath(boot)) ? boot : entry, { workerData: { entry: entry.href }, name: 'flashline-engine' });
  const api = connectStationApi(portOfWorker(worker));
  try {
    await api.init(options);
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  const exitedEarly = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    api,
    worker,
    async close() {
      await api.close();
      const t = setTimeout(() => void worker.terminate(), EXIT_GRACE_MS);
      await exitedEarly;
      clearTimeout(t);
    },
  };
}
