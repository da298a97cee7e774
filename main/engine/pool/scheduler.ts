/**
 * Slot scheduler: a global cap plus per-resource caps (one job per serial port, a BLE adapter's
 * connection slots). Waiters are served first-come among those whose resources are free, so one
 * busy port does not hold up the rest. A paused scheduler grants nothing; held slots stay held.
 * Must not import transports, protocols, devices, jobs or the journal.
 */
import { abortError } from '../clock.js';

export interface SlotRequest {
  /** Resources this job occupies, e.g. ["serial:/dev/ttyUSB0"] or ["ble:hci0"]. */
  resources: string[];
}

interface Waiter {
  req: SlotRequest;
  grant: (release: () => void) => void;
  fail: (e: unknown) => void;
}

export class Scheduler {
  private active = 0;
  private readonly held = new Map<string, number>();
  private waiters: Waiter[] = [];
  private paused = false;

  constructor(private globalCap: number, private readonly capOf: (resource: string) => number) {}

  get running(): number {
    return this.active;
  }

  setGlobalCap(n: number): void {
    this.globalCap = Math.max(1, n);
    this.pump();
  }

  setPaused(p: boolean): void {
    this.paused = p;
    if (!p) this.pump();
  }

  /** Resolves with a release function once a slot and every resource are free. */
  acquire(req: SlotRequest, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? abortError());
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        req,
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        fail: reject,
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(signal!.reason ?? abortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
      this.pump();
    });
  }

  private fits(req: SlotRequest): boolean {
    if (this.active >= this.globalCap) return false;
    return req.resources.every((r) => (this.held.get(r) ?? 0) < this.capOf(r));
  }

  private pump(): void {
    if (this.paused) return;
    for (let i = 0; i < this.waiters.length && this.active < this.globalCap; ) {
      const w = this.waiters[i]!;
      if (!this.fits(w.req)) {
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      this.active++;
      for (const r of w.req.resources) this.held.set(r, (this.held.get(r) ?? 0) + 1);
      let released = false;
      w.grant(() => {
        if (released) return;
        released = true;
        this.active--;
        for (const r of w.req.resources) this.held.set(r, (this.held.get(r) ?? 1) - 1);
        this.pump();
      });
    }
  }
}
