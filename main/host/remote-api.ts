/**
 * The relay side: a StationApi whose every call and watch goes to the engine host over a
 * HostPort. The UI-serving thread (Electron main, the serve HTTP/WebSocket thread) keeps only
 * this: no jobs, no journal, no broker. A host that dies turns pending and later calls into
 * INTERNAL errors (Results, never throws).
 */
import { STATION_METHODS, type Result } from '../contract/ipc.js';
import type { BatchEvent, ErrorView } from '../contract/dto.js';
import { errorView, isStationErrorCode, StationError } from '../engine/errors.js';
import type { Handlers, StationApi } from '../server/api.js';
import type { EngineHostOptions, HostPort, HostReply } from './host-port.js';

const DEFAULT_CLOSE_MS = 15_000;

export interface RemoteStationApi extends StationApi {
  /** Opens the station in the host; rejects with the host's StationError when it cannot. */
  init(options: EngineHostOptions): Promise<void>;
  /** Asks the host to close the engine; resolves when it did or `timeoutMs` passed. */
  close(timeoutMs?: number): Promise<void>;
  /** Set once the host is gone (exit or close). */
  readonly stopped: string | null;
}

export function connectStationApi(port: HostPort): RemoteStationApi {
  let nextId = 1;
  let nextWatch = 1;
  let stopped: string | null = null;
  const pending = new Map<number, (r: Result<unknown>) => void>();
  const watchers = new Map<number, (e: BatchEvent) => void>();
  const watchErrors = new Map<number, (error: ErrorView) => void>();
  let onReady: ((err: ErrorView | null) => void) | null = null;
  let onClosed: (() => void) | null = null;

  const gone = (why: string): { ok: false; error: ErrorView } => ({ ok: false, error: errorView(new StationError('INTERNAL', `the station engine is not running (${why})`)) });
  const stop = (why: string) => {
    if (stopped) return;
    stopped = why;
    for (const resolve of pending.values()) resolve(gone(why));
    pending.clear();
    watchers.clear();
    watchErrors.clear();
    onReady?.(gone(why).error);
    onClosed?.();
  };

  port.onMessage((raw) => {
    const m = raw as HostReply;
    if (!m || typeof m !== 'object') return;
    if (m.t === 'result') {
      const resolve = pending.get(m.id);
      pending.delete(m.id);
      resolve?.(m.result);
    } else if (m.t === 'event') {
      watchers.get(m.watchId)?.(m.event);
    } else if (m.t === 'watch-failed') {
      // The host refused the watch (no such batch): say so instead of staying silent.
      watchers.delete(m.watchId);
      const onError = watchErrors.get(m.watchId);
      watchErrors.delete(m.watchId);
      onError?.(m.error);
    } else if (m.t === 'ready') {
      onReady?.(null);
    } else if (m.t === 'init-failed') {
      onReady?.(m.error);
    } else if (m.t === 'closed') {
      stop('closed');
    }
  });
  port.onExit?.((why) => stop(why));

  const call = (method: (typeof STATION_METHODS)[number], req: unknown): Promise<Result<unknown>> => {
    if (stopped) return Promise.resolve(gone(stopped));
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      port.post({ t: 'call', id, method, req });
    });
  };
  const handlers = Object.fromEntries(STATION_METHODS.map((m) => [m, (req: unknown) => call(m, req)])) as unknown as Handlers;

  return {
    handlers,
    get stopped() {
      return stopped;
    },
    watch(batchId, fn, onError) {
      // The same check the host makes, so a bad id is refused here, synchronously, as before.
      if (typeof batchId !== 'string' || batchId.length === 0 || batchId.length > 128) {
        return { ok: false, error: errorView(new StationError('CONFIG_INVALID', 'invalid request: batchId must be a string of 1..128 characters')) };
      }
      if (stopped) return gone(stopped);
      const watchId = nextWatch++;
      watchers.set(watchId, fn);
      if (onError) watchErrors.set(watchId, onError);
      port.post({ t: 'watch', watchId, batchId });
      return {
        ok: true,
        value: () => {
          watchErrors.delete(watchId);
          if (!watchers.delete(watchId) || stopped) return;
          port.post({ t: 'unwatch', watchId });
        },
      };
    },
    init(options) {
      return new Promise<void>((resolve, reject) => {
        onReady = (err) => {
          onReady = null;
          if (err) reject(new StationError(isStationErrorCode(err.code) ? err.code : 'INTERNAL', err.message));
          else resolve();
        };
        port.post({ t: 'init', options });
      });
    },
    close(timeoutMs = DEFAULT_CLOSE_MS) {
      if (stopped) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          stop(`no answer to close within ${timeoutMs} ms`);
          resolve();
        }, timeoutMs);
        onClosed = () => {
          clearTimeout(t);
          resolve();
        };
        port.post({ t: 'close' });
      });
    },
  };
}
