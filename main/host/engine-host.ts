/**
 * The engine host: opens the Engine and the station API in the thread or process it runs in and
 * serves them over a HostPort, so jobs, the broker and the journal never share the thread that
 * serves the UI (Electron main, `flashline serve`'s HTTP/WebSocket thread). Must not import
 * electron (it runs in an Electron utility process and in plain Node alike).
 */
import { Engine } from '../engine/engine.js';
import { errorView, toStationError } from '../engine/errors.js';
import { openSettings } from '../engine/settings/settings.js';
import { startConfiguredCloud } from '../engine/cloud-service.js';
import { createStationApi, type StationApi } from '../server/api.js';
import { STATION_METHODS } from '../contract/ipc.js';
import type { HostPort, HostReply, HostRequest } from './host-port.js';

/** Serves an existing StationApi over a port (the host side of the relay). Returns a detach function. */
export function serveApiOnPort(api: StationApi, port: HostPort): () => void {
  const watches = new Map<number, () => void>();
  const post = (r: HostReply) => port.post(r);
  const detach = port.onMessage((raw) => {
    const m = raw as HostRequest;
    if (!m || typeof m !== 'object') return;
    if (m.t === 'call' && Number.isInteger(m.id) && (STATION_METHODS as readonly string[]).includes(m.method)) {
      void api.handlers[m.method](m.req).then((result) => post({ t: 'result', id: m.id, result }));
    } else if (m.t === 'watch' && Number.isInteger(m.watchId)) {
      watches.get(m.watchId)?.();
      const r = api.watch(m.batchId, (event) => post({ t: 'event', watchId: m.watchId, event }));
      if (r.ok) watches.set(m.watchId, r.value);
      else post({ t: 'watch-failed', watchId: m.watchId, error: r.error });
    } else if (m.t === 'unwatch') {
      watches.get(m.watchId)?.();
      watches.delete(m.watchId);
    }
  });
  return () => {
    detach();
    for (const offFn of watches.values()) offFn();
    watches.clear();
  };
}

/**
 * Waits for `init` on the port, opens the station, answers `ready` and serves calls until
 * `close`, which closes the engine (in-flight units journaled as interrupted) and answers `closed`.
 * Returns a shutdown for a parent that went away (same close, no answer).
 */
export function startEngineHost(port: HostPort, onClosed: () => void = () => undefined): () => void {
  let engine: Engine | null = null;
  let detachApi: (() => void) | null = null;
  let stopRoster: (() => void) | undefined;
  let closing = false;
  const close = (answer: boolean) => {
    if (closing) return;
    closing = true;
    detachApi?.();
    stopRoster?.();
    void (engine ? engine.close() : Promise.resolve())
      .catch(() => undefined)
      .then(() => {
        if (answer) port.post({ t: 'closed' } satisfies HostReply);
        onClosed();
      });
  };
  port.onMessage((raw) => {
    const m = raw as HostRequest;
    if (!m || typeof m !== 'object') return;
    if (m.t === 'init' && !engine && !closing) {
      try {
        const o = m.options;
        const settings = openSettings(o.dataDir);
        engine = Engine.open({ dataDir: o.dataDir, stationId: o.stationId ?? settings.get('stationId'), operator: o.operator ?? settings.get('operator') });
        detachApi = serveApiOnPort(createStationApi({ engine, settings, browserMode: o.browserMode }), port);
        // Issue 9 §4: the local cloud runs as long as the station does, when networked units are configured.
        const opened = engine;
        void startConfiguredCloud(opened, o.dataDir, (l) => process.stderr.write(l + '\n')).then((stop) => {
          if (closing) stop?.();
          else stopRoster = stop;
        });
        port.post({ t: 'ready' } satisfies HostReply);
      } catch (e) {
        port.post({ t: 'init-failed', error: errorView(toStationError(e)) } satisfies HostReply);
      }
    } else if (m.t === 'close') {
      close(true);
    }
  });
  return () => close(false);
}
