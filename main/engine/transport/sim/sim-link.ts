/**
 * An in-memory link pair with a link model: each direction is a wire of `bytesPerSecond` with
 * `latencyMs` of propagation, writes are cut into MTU-sized chunks, host→device chunks may be
 * lost. Delivery is ordered and time-accurate: each direction keeps a queue and one timer, and
 * a write resolves when its last byte has left the sender, which gives real back-pressure.
 */
import type { TransportKind } from '../../../contract/dto.js';
import type { DevicePort, Link } from '../types.js';
import { StationError } from '../../errors.js';
import { TraceRing } from '../trace.js';
import type { SimLinkModel } from '../../../contract/dto.js';
import { abortError } from '../../clock.js';

export const DEFAULT_SIM_LINK: SimLinkModel = {
  bytesPerSecond: 11520, // 115200 baud 8N1
  latencyMs: 1,
  mtuBytes: 4096,
  lossRate: 0,
};

type Listener<T> = (v: T) => void;

/**
 * The simulated time of a link pair. Timers fire up to ~1 ms late (whole-millisecond
 * granularity); a reply sent while handling a delivery is stamped at the delivery's ideal
 * arrival time instead of the late wall-clock time, so timer lateness does not pile up on every
 * round trip (discrete-event style). Reset once the delivery's synchronous and promise work is done.
 */
class PairClock {
  private virtualNow: number | null = null;
  private resetArmed = false;
  now(): number {
    return this.virtualNow ?? performance.now();
  }
  during(at: number): void {
    this.virtualNow = at; // may be up to half a ms ahead: flush takes what is due within 0.5 ms
    if (!this.resetArmed) {
      this.resetArmed = true;
      setImmediate(() => {
        this.virtualNow = null;
        this.resetArmed = false;
      });
    }
  }
}

/** One direction of the wire. */
class Wire {
  private busyUntil = 0;
  private queue: { at: number; data: Uint8Array }[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  closed = false;
  constructor(private readonly model: SimLinkModel, private readonly clock: PairClock, private readonly deliver: (d: Uint8Array) => void) {}

  /** Returns the time (performance.now() scale) at which the last byte has left. */
  send(data: Uint8Array, drop: boolean): number {
    const now = this.clock.now();
    const start = Math.max(now, this.busyUntil);
    const end = start + (data.length * 1000) / this.model.bytesPerSecond;
    this.busyUntil = end;
    if (!drop) {
      this.queue.push({ at: end + this.model.latencyMs, data });
      this.arm();
    }
    return end;
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0 || this.closed) return;
    const delay = Math.max(0, this.queue[0]!.at - performance.now());
    this.timer = setTimeout(() => this.flush(), delay);
  }

  private flush(): void {
    this.timer = null;
    const now = performance.now() + 0.5; // timers fire on whole ms; accept what is due within half a ms
    while (this.queue.length && this.queue[0]!.at <= now && !this.closed) {
      const item = this.queue.shift()!;
      this.clock.during(item.at);
      this.deliver(item.data);
    }
    this.arm();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A small deterministic PRNG so loss is reproducible per unit. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

export interface SimLinkPair {
  host: Link;
  device: DevicePort & { onClosedByHost(cb: () => void): () => void };
}

export function createSimLinkPair(unitId: string, model: SimLinkModel, opts: { kind?: TransportKind; seed?: number } = {}): SimLinkPair {
  const hostData = new Set<Listener<Uint8Array>>();
  const hostLost = new Set<Listener<StationError>>();
  const devData = new Set<Listener<Uint8Array>>();
  const devClosed = new Set<() => void>();
  const trace = new TraceRing();
  const rand = seededRandom(opts.seed ?? hash(unitId));
  let open = true;

  const clock = new PairClock();
  const toDevice = new Wire(model, clock, (d) => devData.forEach((cb) => cb(d)));
  const toHost = new Wire(model, clock, (d) => {
    trace.rx(d);
    hostData.forEach((cb) => cb(d));
  });

  const shutdown = () => {
    open = false;
    toDevice.close();
    toHost.close();
  };

  const host: Link = {
    kind: opts.kind ?? 'sim',
    unitId,
    mtuBytes: model.mtuBytes,
    trace,
    get isOpen() {
      return open;
    },
    async write(data, signal) {
      if (!open) throw new StationError('TRANSPORT_LOST', 'link is closed', { unitId });
      if (signal?.aborted) throw signal.reason ?? abortError();
      trace.tx(data);
      let end = 0;
      for (let off = 0; off < data.length; off += model.mtuBytes) {
        const chunk = data.slice(off, off + model.mtuBytes);
        end = toDevice.send(chunk, model.lossRate > 0 && rand() < model.lossRate);
      }
      const wait = end - performance.now();
      if (wait > 1) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }, wait);
          const onAbort = () => {
            clearTimeout(t);
            reject(signal!.reason ?? abortError());
          };
          signal?.addEventListener('abort', onAbort, { once: true });
        });
      }
      if (!open) throw new StationError('TRANSPORT_LOST', 'link lost while writing', { unitId });
    },
    onData(cb) {
      hostData.add(cb);
      return () => hostData.delete(cb);
    },
    onLost(cb) {
      hostLost.add(cb);
      return () => hostLost.delete(cb);
    },
    async close() {
      if (!open) return;
      shutdown();
      devClosed.forEach((cb) => cb());
    },
  };

  const device: SimLinkPair['device'] = {
    get isOpen() {
      return open;
    },
    write(data) {
      if (!open) return;
      toHost.send(data, false);
    },
    onData(cb) {
      devData.add(cb);
      return () => devData.delete(cb);
    },
    drop() {
      if (!open) return;
      shutdown();
      trace.note('link dropped by device');
      const err = new StationError('TRANSPORT_LOST', 'the unit dropped the link', { unitId });
      hostLost.forEach((cb) => cb(err));
    },
    onClosedByHost(cb) {
      devClosed.add(cb);
      return () => devClosed.delete(cb);
    },
  };
  return { host, device };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
