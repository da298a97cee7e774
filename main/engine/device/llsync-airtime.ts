/**
 * The BLE radio model behind the simulated noble bindings: per-connection events (interval,
 * packets per event, controller TX buffer) and one adapter whose airtime all its connections
 * share. Computes when each ATT packet is on the air; owns no devices and no protocol.
 */

export interface BleLinkModel {
  /** Connection interval the central picked (ms). */
  connIntervalMs: number;
  /** Link-layer packets per connection event and direction. */
  packetsPerEvent: number;
  /** Largest ATT_MTU the peripheral accepts in an exchange. */
  maxAttMtu: number;
  /** Probability a host→device write without response is lost (e.g. controller overflow). */
  lossRate: number;
  rssiDbm: number;
  /** Connection set-up: LE Create Connection to the first event. */
  connectMs: number;
}

export interface AdapterModel {
  id: string;
  /** PHY byte rate on air (2M PHY: 250 bytes/ms). */
  airBytesPerMs: number;
  /** Link-layer + L2CAP + ATT overhead per packet, bytes. */
  overheadBytesPerPacket: number;
  /** Inter-frame spaces and the empty ack PDU per packet, ms. */
  gapMsPerPacket: number;
  /** Packets a connection may have queued in the controller before a write waits. */
  txBufferPackets: number;
  /** Connections the controller can hold at once. */
  maxConnections: number;
  advIntervalMs: number;
}

export const DEFAULT_BLE_LINK: BleLinkModel = {
  connIntervalMs: 7.5,
  packetsPerEvent: 6,
  maxAttMtu: 247,
  lossRate: 0,
  rssiDbm: -55,
  connectMs: 30,
};

export const DEFAULT_ADAPTER: AdapterModel = {
  id: 'sim0',
  airBytesPerMs: 250,
  overheadBytesPerPacket: 14,
  gapMsPerPacket: 0.35,
  txBufferPackets: 8,
  maxConnections: 16,
  advIntervalMs: 100,
};

/** The adapter's shared air: packets of all its connections go out one after another. */
export class AdapterAirtime {
  private busyUntilMs = 0;
  airMs = 0;
  constructor(readonly model: AdapterModel) {}

  packetAirMs(bytes: number): number {
    return (bytes + this.model.overheadBytesPerPacket) / this.model.airBytesPerMs + this.model.gapMsPerPacket;
  }

  /** Reserve air for a packet not before `atMs`; returns when it has been sent. */
  reserve(atMs: number, bytes: number): number {
    const start = Math.max(atMs, this.busyUntilMs);
    const air = this.packetAirMs(bytes);
    this.busyUntilMs = start + air;
    this.airMs += air;
    return this.busyUntilMs;
  }

  /** Payload bytes/s the adapter carries when saturated with packets of `writeBytes` (payloadBytes each). */
  ceilingBytesPerSec(writeBytes: number, payloadBytes: number): number {
    return (payloadBytes * 1000) / this.packetAirMs(writeBytes);
  }
}

/** One direction of one connection: connection events, packets per event, shared adapter air. */
export class ConnectionDirection {
  private eventIdx = -1;
  private usedInEvent = 0;
  private readonly inFlight: number[] = [];
  constructor(private readonly anchorMs: number, private readonly link: BleLinkModel, private readonly air: AdapterAirtime) {}

  /** When a packet submitted at `nowMs` is on air at the peer. */
  schedule(nowMs: number, bytes: number): number {
    const ci = this.link.connIntervalMs;
    let idx = Math.max(this.eventIdx, Math.ceil((nowMs - this.anchorMs) / ci));
    if (idx === this.eventIdx && this.usedInEvent >= this.link.packetsPerEvent) idx += 1;
    if (idx !== this.eventIdx) {
      this.eventIdx = idx;
      this.usedInEvent = 0;
    }
    this.usedInEvent += 1;
    const done = this.air.reserve(Math.max(nowMs, this.anchorMs + idx * ci), bytes);
    this.inFlight.push(done);
    return done;
  }

  /** When the controller has room for one more packet (the write without response completes). */
  bufferFreeAt(nowMs: number): number {
    while (this.inFlight.length && this.inFlight[0]! <= nowMs) this.inFlight.shift();
    const k = this.inFlight.length - this.air.model.txBufferPackets;
    return k >= 0 ? this.inFlight[k]! : nowMs;
  }
}

/** Runs callbacks at given times in submission order, with one timer. */
export class TimedQueue {
  private q: { at: number; fn: () => void }[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  push(atMs: number, fn: () => void): void {
    if (this.closed) return;
    this.q.push({ at: atMs, fn });
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.q.length === 0 || this.closed) return;
    this.timer = setTimeout(() => this.run(), Math.max(0, this.q[0]!.at - performance.now()));
  }

  private run(): void {
    this.timer = null;
    const now = performance.now() + 0.5;
    while (this.q.length && this.q[0]!.at <= now && !this.closed) this.q.shift()!.fn();
    this.arm();
  }

  close(): void {
    this.closed = true;
    this.q = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
