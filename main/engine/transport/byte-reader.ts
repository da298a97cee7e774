/**
 * Buffers a link's inbound bytes so a protocol session can read them with deadlines.
 * Reads reject with PROTOCOL_TIMEOUT on expiry, TRANSPORT_LOST when the link goes away, and the
 * signal's reason when aborted. Holds no protocol knowledge.
 */
import type { Link } from './types.js';
import { StationError } from '../errors.js';
import { abortError } from '../clock.js';

interface Waiter {
  wake: () => void;
}

export class ByteReader {
  private chunks: Uint8Array[] = [];
  private head = 0; // offset into chunks[0]
  private size = 0;
  private lost: StationError | null = null;
  private waiter: Waiter | null = null;
  private readonly offData: () => void;
  private readonly offLost: () => void;

  constructor(link: Link) {
    this.offData = link.onData((c) => {
      if (c.length === 0) return;
      this.chunks.push(c);
      this.size += c.length;
      this.waiter?.wake();
    });
    this.offLost = link.onLost((e) => {
      this.lost = e;
      this.waiter?.wake();
    });
  }

  get available(): number {
    return this.size;
  }

  dispose(): void {
    this.offData();
    this.offLost();
    this.waiter?.wake();
  }

  /** Drop everything buffered; returns the dropped bytes (so a caller can look for CAN). */
  drain(): Uint8Array {
    const out = this.take(this.size);
    return out;
  }

  /** Read exactly one byte. */
  async readByte(timeoutMs: number, signal?: AbortSignal): Promise<number> {
    await this.waitUntil(() => this.size >= 1, timeoutMs, signal);
    return this.take(1)[0]!;
  }

  /** Read exactly n bytes. */
  async read(n: number, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    await this.waitUntil(() => this.size >= n, timeoutMs, signal);
    return this.take(n);
  }

  /** Read up to and including the first occurrence of `delim` (e.g. "\n"); the line excludes it. */
  async readUntil(delim: number, timeoutMs: number, signal?: AbortSignal, maxBytes = 4096): Promise<Uint8Array> {
    let idx = -1;
    await this.waitUntil(() => {
      idx = this.indexOf(delim);
      if (idx < 0 && this.size > maxBytes) throw new StationError('PROTOCOL_BAD_FRAME', `no delimiter within ${maxBytes} bytes`);
      return idx >= 0;
    }, timeoutMs, signal);
    const line = this.take(idx + 1);
    return line.subarray(0, idx);
  }

  /** Wait for at least one byte or until the deadline; returns false on timeout instead of throwing. */
  async waitForData(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.waitUntil(() => this.size > 0, timeoutMs, signal);
      return true;
    } catch (e) {
      if (e instanceof StationError && e.code === 'PROTOCOL_TIMEOUT') return false;
      throw e;
    }
  }

  /** Peek at the next byte without consuming it, or -1. */
  peek(): number {
    if (this.size === 0) return -1;
    return this.chunks[0]![this.head]!;
  }

  private indexOf(b: number): number {
    let base = 0;
    for (let ci = 0; ci < this.chunks.length; ci++) {
      const c = this.chunks[ci]!;
      const from = ci === 0 ? this.head : 0;
      const i = c.indexOf(b, from);
      if (i >= 0) return base + (i - from);
      base += c.length - from;
    }
    return -1;
  }

  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      const k = Math.min(avail, n - off);
      out.set(c.subarray(this.head, this.head + k), off);
      off += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.size -= n;
    return out;
  }

  private waitUntil(ready: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (ready()) return Promise.resolve();
    if (this.lost) return Promise.reject(this.lost);
    if (signal?.aborted) return Promise.reject(signal.reason ?? abortError());
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (err?: unknown) => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiter = null;
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => finish(signal!.reason ?? abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => finish(new StationError('PROTOCOL_TIMEOUT', `no reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = {
        wake: () => {
          try {
            if (ready()) return finish();
          } catch (e) {
            return finish(e);
          }
          if (this.lost) finish(this.lost);
        },
      };
    });
  }
}
