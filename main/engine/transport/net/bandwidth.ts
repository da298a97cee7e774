/**
 * Fair sharing of the firmware server's upload bandwidth between concurrent downloads
 * (DESIGN.md: "MQTT downloads bounded by bandwidth"). A token bucket refilled on a tick; waiting
 * downloads are served round-robin so one fast socket cannot starve the others. Knows no HTTP.
 */
const TICK_MS = 10;

interface Waiter {
  streamId: number;
  bytes: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class FairShare {
  private tokens = 0;
  private queue: Waiter[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastRefill = performance.now();
  private nextStream = 1;
  private readonly bytesSent = new Map<number, number>();

  /** @param bytesPerSecond total rate; 0 = unlimited (loopback tests, benchmarks). */
  constructor(private readonly bytesPerSecond: number) {}

  openStream(): number {
    const id = this.nextStream++;
    this.bytesSent.set(id, 0);
    return id;
  }

  closeStream(id: number): void {
    this.bytesSent.delete(id);
    const mine = this.queue.filter((w) => w.streamId === id);
    this.queue = this.queue.filter((w) => w.streamId !== id);
    for (const w of mine) w.reject(new Error('stream closed'));
  }

  /** Wait until `bytes` may be sent on this stream. */
  take(streamId: number, bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) {
      this.bytesSent.set(streamId, (this.bytesSent.get(streamId) ?? 0) + bytes);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ streamId, bytes, resolve, reject });
      this.pump();
    });
  }

  get activeStreams(): number {
    return this.bytesSent.size;
  }

  private refill(): void {
    const now = performance.now();
    // Cap the bucket at one tick's worth (at least one chunk) so an idle period gives no burst.
    const cap = Math.max((this.bytesPerSecond * TICK_MS) / 1000, 16 * 1024);
    this.tokens = Math.min(cap, this.tokens + ((now - this.lastRefill) * this.bytesPerSecond) / 1000);
    this.lastRefill = now;
  }

  private pump(): void {
    this.refill();
    // Round-robin: the waiter at the head is served, then goes to the back with its next request.
    while (this.queue.length > 0) {
      const w = this.queue[0]!;
      if (this.tokens < w.bytes && this.tokens < (this.bytesPerSecond * TICK_MS) / 1000) break;
      this.queue.shift();
      this.tokens -= w.bytes;
      this.bytesSent.set(w.streamId, (this.bytesSent.get(w.streamId) ?? 0) + w.bytes);
      w.resolve();
    }
    if (this.queue.length > 0 && !this.timer) {
      this.timer = setInterval(() => this.pump(), TICK_MS);
    } else if (this.queue.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const w of this.queue) w.reject(new Error('disposed'));
    this.queue = [];
  }
}
