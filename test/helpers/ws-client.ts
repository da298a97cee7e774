/**
 * A WebSocket client of `flashline serve` for tests: typed calls and every batch event sent.
 */
import WebSocket from 'ws';
import type { BatchEvent } from '../../main/contract/dto.js';
import type { Result, WsServerFrame } from '../../main/contract/ipc.js';

export interface StationWsClient {
  ws: WebSocket;
  call<T>(method: string, req: unknown): Promise<Result<T>>;
  watch(batchId: string): void;
  events: BatchEvent[];
  /** Watches the station refused (unknown batch). */
  watchErrors: Extract<WsServerFrame, { t: 'watchError' }>[];
  close(): void;
}

export async function connectStation(port: number, token: string): Promise<StationWsClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}`, { origin: `http://127.0.0.1:${port}` });
  await new Promise((r) => ws.once('open', r));
  const results = new Map<number, (v: unknown) => void>();
  const events: BatchEvent[] = [];
  const watchErrors: Extract<WsServerFrame, { t: 'watchError' }>[] = [];
  ws.on('message', (d) => {
    const f = JSON.parse(d.toString()) as WsServerFrame;
    if (f.t === 'result') results.get(f.id)?.(f.result);
    else if (f.t === 'event') events.push(f.event);
    else watchErrors.push(f);
  });
  let id = 0;
  return {
    ws,
    events,
    watchErrors,
    call: <T>(method: string, req: unknown) =>
      new Promise<Result<T>>((resolve) => {
        results.set(++id, resolve as (v: unknown) => void);
        ws.send(JSON.stringify({ t: 'call', id, method, req }));
      }),
    watch: (batchId: string) => ws.send(JSON.stringify({ t: 'watch', batchId })),
    close: () => ws.close(),
  };
}
