/// <reference lib="dom" />
// The StationBridge over the WebSocket of `flashline serve`: one call frame per method, results
// matched by id, batch events routed to watchers. Reconnects and re-watches (the server answers
// a watch with a fresh snapshot, so stores resync by themselves).
import type { BatchEvent } from '../main/contract/dto.js';
import type { Result, StationBridge, StationMethod, WsClientFrame, WsServerFrame } from '../main/contract/ipc.js';

// The method list mirrors contract/ipc.ts STATION_METHODS; the mapped type below fails to compile if one is missing.
export const METHODS: { [M in StationMethod]: true } = {
  stationInfo: true, errorTexts: true, importPackage: true, listPackages: true, resolveTargets: true, scanUnits: true,
  createBatch: true, startBatch: true, pauseBatch: true, resumeBatch: true, cancelBatch: true, cancelJob: true, retryJob: true,
  listBatches: true, getBatch: true, jobDetail: true, searchJobs: true, exportReport: true, getSettings: true, setSettings: true,
  recoverUnit: true, rmaStatus: true, listRmaJobs: true, rmaDetail: true,
  listScanMappings: true, setScanMappings: true, roleStatus: true, unlockEngineer: true, lockEngineer: true, setEngineerSecret: true, setStopAfterFailures: true, listAudit: true,
  listProfiles: true, saveProfile: true, deleteProfile: true,
};
const RECONNECT_MS = 1000;

export interface WsBridgeStatus {
  connected: boolean;
}

export function createWsBridge(url: string, onStatus: (s: WsBridgeStatus) => void = () => undefined): StationBridge {
  let ws: WebSocket | null = null;
  let nextId = 1;
  const pending = new Map<number, (r: Result<unknown>) => void>();
  const outbox: string[] = [];
  const watchers = new Map<string, Set<(e: BatchEvent) => void>>();

  const send = (f: WsClientFrame): void => {
    const text = JSON.stringify(f);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
    else outbox.push(text);
  };
  const connect = (): void => {
    ws = new WebSocket(url);
    ws.onopen = () => {
      onStatus({ connected: true });
      for (const id of watchers.keys()) ws!.send(JSON.stringify({ t: 'watch', batchId: id } satisfies WsClientFrame));
      for (const text of outbox.splice(0)) ws!.send(text);
    };
    ws.onmessage = (m) => {
      const f = JSON.parse(String(m.data)) as WsServerFrame;
      if (f.t === 'result') {
        pending.get(f.id)?.(f.result);
        pending.delete(f.id);
      } else if (f.t === 'event') {
        // A copy: a watcher may resubscribe (and so add to this set) while being called.
        for (const fn of [...(watchers.get(f.event.batchId) ?? [])]) fn(f.event);
      }
    };
    ws.onclose = () => {
      onStatus({ connected: false });
      // Calls in flight are lost with the socket: answer them so no store waits forever.
      for (const [id, resolve] of pending) {
        resolve({ ok: false, error: { code: 'TRANSPORT_LOST', result: 'station_error', message: 'connection to the station lost', operatorText: { en: 'Lost connection to the station.', 'zh-CN': '与工位的连接已断开。' }, retryable: true } });
        pending.delete(id);
      }
      setTimeout(connect, RECONNECT_MS);
    };
  };
  connect();

  const calls = Object.fromEntries(
    (Object.keys(METHODS) as StationMethod[]).map((method) => [
      method,
      (req: unknown) =>
        new Promise<Result<unknown>>((resolve) => {
          const id = nextId++;
          pending.set(id, resolve);
          send({ t: 'call', id, method, req: req ?? {} });
        }),
    ]),
  );
  return {
    ...(calls as Omit<StationBridge, 'onBatchEvent'>),
    onBatchEvent(batchId, fn) {
      let set = watchers.get(batchId);
      if (!set) {
        set = new Set();
        watchers.set(batchId, set);
      }
      set.add(fn);
      send({ t: 'watch', batchId });
      return () => {
        set.delete(fn);
        if (set.size === 0) {
          watchers.delete(batchId);
          send({ t: 'unwatch', batchId });
        }
      };
    },
  };
}
