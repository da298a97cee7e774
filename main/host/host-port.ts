/**
 * The message channel between the engine host and whoever serves the UI: the frames both ends
 * speak, and adapters that turn a worker thread, a forked child, or an Electron utility process
 * (structurally typed: this folder never imports electron) into one small HostPort.
 */
import type { BatchEvent } from '../contract/dto.js';
import type { Result, StationMethod } from '../contract/ipc.js';
import type { ErrorView } from '../contract/dto.js';

/** What the engine host needs to open the station. */
export interface EngineHostOptions {
  dataDir: string;
  stationId?: string;
  operator?: string;
  /** stationInfo().browserMode: true for `flashline serve`, false for the desktop app. */
  browserMode: boolean;
}

export type HostRequest =
  | { t: 'init'; options: EngineHostOptions }
  | { t: 'call'; id: number; method: StationMethod; req: unknown }
  | { t: 'watch'; watchId: number; batchId: string }
  | { t: 'unwatch'; watchId: number }
  | { t: 'close' };

export type HostReply =
  | { t: 'ready' }
  | { t: 'init-failed'; error: ErrorView }
  | { t: 'result'; id: number; result: Result<unknown> }
  | { t: 'event'; watchId: number; event: BatchEvent }
  | { t: 'watch-failed'; watchId: number; error: ErrorView }
  | { t: 'closed' };

/** One end of the channel. `onExit` (relay side only) fires when the host's thread or process is gone. */
export interface HostPort {
  post(msg: unknown): void;
  onMessage(cb: (msg: unknown) => void): () => void;
  onExit?(cb: (why: string) => void): () => void;
}

interface EmitterLike {
  on(event: string, fn: (...a: any[]) => void): unknown;
  off?(event: string, fn: (...a: any[]) => void): unknown;
  removeListener?(event: string, fn: (...a: any[]) => void): unknown;
}
function off(e: EmitterLike, event: string, fn: (...a: any[]) => void): void {
  if (e.off) e.off(event, fn);
  else e.removeListener?.(event, fn);
}
function listen(e: EmitterLike, event: string, fn: (...a: any[]) => void): () => void {
  e.on(event, fn);
  return () => off(e, event, fn);
}

/** A node:worker_threads Worker (relay side) or its parentPort (host side): both postMessage + 'message'. */
export function portOfWorker(w: EmitterLike & { postMessage(m: unknown): void }): HostPort {
  return {
    post: (m) => w.postMessage(m),
    onMessage: (cb) => listen(w, 'message', cb),
    onExit: (cb) => listen(w, 'exit', (code: number) => cb(`engine thread exited with code ${code}`)),
  };
}

/** A forked child (relay side; fork with serialization: 'advanced' so bytes stay Uint8Array). */
export function portOfChild(c: EmitterLike & { send(m: unknown): boolean; connected?: boolean }): HostPort {
  return {
    // A child that is gone reports through onExit; a late frame to it is dropped, not thrown.
    post: (m) => void (c.connected !== false && c.send(m)),
    onMessage: (cb) => listen(c, 'message', cb),
    onExit: (cb) => listen(c, 'exit', (code: number | null, signal: string | null) => cb(`engine process exited (${signal ?? code})`)),
  };
}

/** Electron's UtilityProcess (main side): postMessage + 'message' with the data itself + 'exit'. */
export function portOfUtilityProcess(u: EmitterLike & { postMessage(m: unknown): void }): HostPort {
  return {
    post: (m) => u.postMessage(m),
    onMessage: (cb) => listen(u, 'message', cb),
    onExit: (cb) => listen(u, 'exit', (code: number) => cb(`engine utility process exited with code ${code}`)),
  };
}

/** Electron's process.parentPort inside a utility process: messages arrive as { data }. */
export function portOfElectronParent(p: EmitterLike & { postMessage(m: unknown): void }): HostPort {
  return {
    post: (m) => p.postMessage(m),
    onMessage: (cb) => listen(p, 'message', (e: { data: unknown }) => cb(e.data)),
  };
}

/** Inside a forked child: process.send / process.on('message'). */
export function portOfProcess(p: EmitterLike & { send?: (m: unknown) => boolean }): HostPort {
  if (!p.send) throw new Error('this process has no IPC channel to its parent');
  const send = p.send.bind(p);
  const live = p as { connected?: boolean };
  return { post: (m) => void (live.connected !== false && send(m)), onMessage: (cb) => listen(p, 'message', cb) };
}
