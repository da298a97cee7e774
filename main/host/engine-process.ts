/**
 * Plain Node (`flashline serve`, benches): the engine host in a child process of this one,
 * reached through a RemoteStationApi over the IPC channel — what an Electron utility process is
 * to the desktop main process. A child, not a worker thread: serialport's native poller is not
 * worker-thread safe (it aborts the process when a worker's port reads). Runs the built
 * engine-host.js beside this module when there is one, else the TypeScript entry through tsx.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { siblingModule } from '../engine/workers/worker-pool.js';
import type { EngineHostOptions } from './host-port.js';
import { portOfChild } from './host-port.js';
import { connectStationApi, type RemoteStationApi } from './remote-api.js';

/** Milliseconds a closed host may take to leave before it is killed. */
const EXIT_GRACE_MS = 3000;

export interface EngineProcess {
  api: RemoteStationApi;
  child: ChildProcess;
  /** Closes the engine (journals in-flight units as interrupted) and waits for the process to end. */
  close(): Promise<void>;
}

export function engineHostEntry(): string {
  const built = new URL('./engine-host.js', import.meta.url);
  // Bundled output keeps engine-host.js beside this code; sources use the .ts entry.
  if (import.meta.url.endsWith('.js') && existsSync(fileURLToPath(built))) return fileURLToPath(built);
  return fileURLToPath(siblingModule(import.meta.url, 'engine-host-entry'));
}

export async function startEngineProcess(options: EngineHostOptions): Promise<EngineProcess> {
  const entry = engineHostEntry();
  const child = fork(entry, [], {
    execArgv: entry.endsWith('.ts') ? ['--import', 'tsx'] : [],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const api = connectStationApi(portOfChild(child));
  try {
    await api.init(options);
  } catch (e) {
    child.kill();
    throw e;
  }
  return {
    api,
    child,
    async close() {
      await api.close();
      const t = setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS);
      await exited;
      clearTimeout(t);
    },
  };
}
