/**
 * Registers one IPC handler per station method (contract/ipc.ts) on ipcMain, plus watch/unwatch
 * for batch events. Every handler checks the sender frame first and returns a Result — never
 * throws across IPC; payload validation is in server/api.ts, shared with browser mode.
 */
import type { BatchEvent } from '../contract/dto.js';
import { IPC_BATCH_EVENT, IPC_PREFIX, IPC_UNWATCH, IPC_WATCH, STATION_METHODS, type Result } from '../contract/ipc.js';
import type { StationApi } from '../server/api.js';

export interface IpcEventLike {
  senderFrame?: { url: string } | null;
  sender: { id: number; send(channel: string, payload: unknown): void; once(event: 'destroyed', fn: () => void): unknown; isDestroyed?(): boolean };
}

export interface IpcMainLike {
  handle(channel: string, fn: (event: IpcEventLike, req: unknown) => unknown): void;
  removeHandler(channel: string): void;
}

export const FORBIDDEN: Result<never> = {
  ok: false,
  error: { code: 'CONFIG_INVALID', result: 'station_error', message: 'IPC from an untrusted frame was refused', operatorText: { en: 'Refused: request from an untrusted page.', 'zh-CN': '已拒绝：请求来自不受信任的页面。' }, retryable: false },
};

export function registerIpc(ipcMain: IpcMainLike, api: StationApi, isTrusted: (frameUrl: string | undefined) => boolean): () => void {
  const channels: string[] = [];
  const handle = (channel: string, fn: (event: IpcEventLike, req: unknown) => unknown) => {
    channels.push(channel);
    ipcMain.handle(channel, (event, req) => (isTrusted(event.senderFrame?.url) ? fn(event, req) : FORBIDDEN));
  };
  for (const m of STATION_METHODS) handle(IPC_PREFIX + m, (_e, req) => api.handlers[m](req));

  // watches per renderer (webContents id) → batch id → unsubscribe
  const watches = new Map<number, Map<string, () => void>>();
  handle(IPC_WATCH, (event, batchId) => {
    let mine = watches.get(event.sender.id);
    if (!mine) {
      const created = new Map<string, () => void>();
      watches.set(event.sender.id, created);
      event.sender.once('destroyed', () => {
        for (const off of created.values()) off();
        watches.delete(event.sender.id);
      });
      mine = created;
    }
    const id = typeof batchId === 'string' ? batchId : '';
    mine.get(id)?.();
    const r = api.watch(batchId, (e: BatchEvent) => {
      if (!event.sender.isDestroyed?.()) event.sender.send(IPC_BATCH_EVENT, e);
    });
    if (r.ok) mine.set(id, r.value);
    return r.ok ? { ok: true, value: null } : r;
  });
  handle(IPC_UNWATCH, (event, batchId) => {
    const mine = watches.get(event.sender.id);
    const id = typeof batchId === 'string' ? batchId : '';
    mine?.get(id)?.();
    mine?.delete(id);
    return { ok: true, value: null };
  });
  return () => {
    for (const c of channels) ipcMain.removeHandler(c);
    for (const m of watches.values()) for (const off of m.values()) off();
    watches.clear();
  };
}
