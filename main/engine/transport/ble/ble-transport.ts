/**
 * The `ble` transport on @abandonware/noble: one owner of the adapter (a Scanner that hands
 * sightings to waiting opens), connection slots per adapter, connects queued one at a time,
 * a deadline on every noble call (noble has none, and a disconnect does not reject pending GATT
 * calls), MTU exchange, pipe discovery and a GattLink. Knows no OTA dialect: the pipe spec
 * (service, write and notify characteristics) comes from the protocol that asks for a link
 * (ProtocolDriver.ble, passed in by the engine). Must not import protocols or virtual units.
 */
import type { ProtocolId, UnitRef } from '../../../contract/dto.js';
import { StationError } from '../../errors.js';
import { abortError } from '../../clock.js';
import { TraceRing } from '../trace.js';
import type { BlePipeSpec, BleScanFilter, BleSighting, GattLink, Transport } from '../types.js';

/** The slice of noble this transport uses (noble itself, or noble over simulated bindings). */
export interface NobleApi {
  state: string;
  on(event: string, cb: (...args: any[]) => void): unknown;
  removeListener(event: string, cb: (...args: any[]) => void): unknown;
  startScanning(uuids: string[], allowDuplicates: boolean, cb?: (err?: Error | null) => void): void;
  stopScanning(cb?: () => void): void;
}
export interface NoblePeripheral {
  id: string;
  address: string;
  rssi: number;
  mtu: number | null;
  state: string;
  advertisement: { localName?: string; serviceUuids?: string[]; manufacturerData?: Buffer };
  connect(opts: Record<string, unknown> | undefined, cb: (err?: Error | null) => void): void;
  cancelConnect(): void;
  disconnect(cb?: () => void): void;
  discoverServices(uuids: string[], cb: (err: unknown, services: NobleService[]) => void): void;
  once(ev: string, cb: (...a: any[]) => void): unknown;
  on(ev: string, cb: (...a: any[]) => void): unknown;
  removeListener(ev: string, cb: (...a: any[]) => void): unknown;
}
interface NobleService {
  uuid: string;
  discoverCharacteristics(uuids: string[], cb: (err: unknown, chars: NobleCharacteristic[]) => void): void;
}
interface NobleCharacteristic {
  uuid: string;
  properties: string[];
  write(data: Buffer, withoutResponse: boolean, cb: (err?: unknown) => void): void;
  subscribe(cb: (err?: unknown) => void): void;
  on(ev: string, cb: (...a: any[]) => void): unknown;
  removeListener(ev: string, cb: (...a: any[]) => void): unknown;
}

export type { BleScanFilter, BleSighting } from '../types.js';

export interface BleTransportOptions {
  adapterId: string;
  /** Lazily load noble; returns an error string when there is no adapter (never throws). */
  loadNoble: () => { noble: NobleApi } | { error: string };
  pipeFor: (protocol: ProtocolId) => BlePipeSpec | undefined;
  maxConnections?: number;
  scanTimeoutMs?: number;
  poweredOnTimeoutMs?: number;
  connectTimeoutMs?: number;
  gattTimeoutMs?: number;
  writeTimeoutMs?: number;
  disconnectTimeoutMs?: number;
  /** ATT MTU asked for in the exchange (§5: 247 → 244-byte writes). */
  requestMtu?: number;
  minRssiDbm?: number;
}

const DEFAULTS = {
  maxConnections: 6,
  // No scan cap of its own: the job's open signal fires at the profile's connect deadline (issue 9 §2).
  scanTimeoutMs: Number.POSITIVE_INFINITY,
  poweredOnTimeoutMs: 3000,
  connectTimeoutMs: 5000,
  gattTimeoutMs: 4000,
  writeTimeoutMs: 4000,
  disconnectTimeoutMs: 1500,
  requestMtu: 247,
};
const ATT_DEFAULT_MTU = 23;

export function normalizeBleId(s: string): string {
  return s.toLowerCase().replace(/[:-]/g, '');
}

/** Race `p` against a deadline and the signal; `onExpire` undoes a call noble will never finish. */
export function deadline<T>(p: Promise<T>, ms: number, what: string, signal?: AbortSignal, onExpire?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
    };
    // An infinite deadline leaves it to the signal (setTimeout would fire at once).
    const t = Number.isFinite(ms)
      ? setTimeout(() => {
          done();
          onExpire?.();
          reject(new StationError('TRANSPORT_TIMEOUT', `${what}: no answer from the BLE stack within ${ms} ms`));
        }, ms)
      : undefined;
    const onAbort = () => {
      done();
      onExpire?.();
      reject(signal!.reason ?? abortError());
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (e) => {
        done();
        reject(e);
      },
    );
  });
}

/** A counting semaphore with FIFO waiters. */
class Slots {
  private used = 0;
  private waiters: (() => void)[] = [];
  constructor(private readonly capacity: number) {}
  get inUse(): number {
    return this.used;
  }
  acquire(signal: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.used += 1;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.used -= 1;
          this.waiters.shift()?.();
        });
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== grant);
        reject(signal.reason ?? abortError());
      };
      if (signal.aborted) return onAbort();
      if (this.used < this.capacity) return grant();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }
}

/** One owner of scanning: runs while someone waits for a sighting or a scan is asked for. */
class Scanner {
  private readonly seen = new Map<string, { p: NoblePeripheral; s: BleSighting }>();
  private readonly waiters = new Set<(p: NoblePeripheral, s: BleSighting) => void>();
  private scanning = false;
  private holds = 0;
  private readonly onDiscover = (p: NoblePeripheral) => {
    const s: BleSighting = {
      id: p.id,
      address: p.address,
      rssiDbm: p.rssi,
      localName: p.advertisement?.localName,
      serviceUuids: p.advertisement?.serviceUuids ?? [],
      manufacturerData: p.advertisement?.manufacturerData ? new Uint8Array(p.advertisement.manufacturerData) : undefined,
      seenAt: performance.now(),
    };
    this.seen.set(p.id, { p, s });
    for (const w of [...this.waiters]) w(p, s);
  };

  constructor(private readonly noble: NobleApi, private readonly serviceUuids: () => string[]) {
    noble.on('discover', this.onDiscover);
  }

  private hold(): () => void {
    this.holds += 1;
    if (!this.scanning) {
      this.scanning = true;
      // Duplicates on: a unit that rebooted must be seen again.
      this.noble.startScanning(this.serviceUuids(), true, (err) => {
        if (err) this.scanning = false;
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      if (this.holds === 0 && this.scanning) {
        this.scanning = false;
        this.noble.stopScanning();
      }
    };
  }

  /** The next sighting (after now) that matches. */
  find(match: (s: BleSighting) => boolean, timeoutMs: number, signal: AbortSignal): Promise<{ p: NoblePeripheral; s: BleSighting }> {
    const release = this.hold();
    let w: ((p: NoblePeripheral, s: BleSighting) => void) | null = null;
    const found = new Promise<{ p: NoblePeripheral; s: BleSighting }>((resolve) => {
      w = (p, s) => {
        if (match(s)) resolve({ p, s });
      };
      this.waiters.add(w);
    });
    const cleanup = () => {
      if (w) this.waiters.delete(w);
      release();
    };
    return deadline(found, timeoutMs, 'scanning for the unit', signal).then(
      (v) => {
        cleanup();
        return v;
      },
      (e) => {
        cleanup();
        if (e instanceof StationError && e.code === 'TRANSPORT_TIMEOUT') throw new StationError('TRANSPORT_NOT_FOUND', Number.isFinite(timeoutMs) ? `no advertisement from the unit within ${timeoutMs} ms` : "no advertisement from the unit before the connect deadline");
        throw e;
      },
    );
  }

  /** Sightings for `durationMs` (the CLI's scan). */
  async collect(durationMs: number, filter: BleScanFilter): Promise<BleSighting[]> {
    const release = this.hold();
    const start = performance.now();
    await new Promise((r) => setTimeout(r, durationMs));
    release();
    return [...this.seen.values()].map((v) => v.s).filter((s) => s.seenAt >= start && matchesFilter(s, filter));
  }

  dispose(): void {
    this.noble.removeListener('discover', this.onDiscover);
    if (this.scanning) this.noble.stopScanning();
    this.scanning = false;
  }
}

export function matchesFilter(s: BleSighting, f: BleScanFilter): boolean {
  if (f.serviceUuids?.length && !s.serviceUuids.some((u) => f.serviceUuids!.includes(u.toLowerCase()))) return false;
  if (f.companyId !== undefined) {
    const md = s.manufacturerData;
    if (!md || md.length < 2 || (md[0]! | (md[1]! << 8)) !== f.companyId) return false;
  }
  if (f.namePrefix && !(s.localName ?? '').startsWith(f.namePrefix)) return false;
  if (f.minRssiDbm !== undefined && s.rssiDbm < f.minRssiDbm) return false;
  return true;
}

export class BleTransport implements Transport {
  readonly kind = 'ble' as const;
  private readonly o: Required<Omit<BleTransportOptions, 'minRssiDbm'>> & { minRssiDbm?: number };
  private nobleState: { noble: NobleApi; scanner: Scanner } | { error: string } | null = null;
  private readonly slots: Slots;
  private connectLock: Promise<void> = Promise.resolve();
  private readonly links = new Set<NobleGattLink>();

  constructor(opts: BleTransportOptions) {
    this.o = { ...DEFAULTS, ...opts };
    this.slots = new Slots(this.o.maxConnections);
  }

  get resource(): string {
    return `ble:${this.o.adapterId}`;
  }
  resourceOf(_unit: UnitRef): string {
    return this.resource;
  }
  capacityOf(resource: string): number {
    return resource === this.resource ? this.o.maxConnections : 1;
  }
  get connectedCount(): number {
    return this.slots.inUse;
  }

  /** noble is loaded on first use only: a machine without an adapter never touches HCI at start-up. */
  private nobleOrThrow(): { noble: NobleApi; scanner: Scanner } {
    if (!this.nobleState) {
      const r = this.o.loadNoble();
      this.nobleState = 'error' in r ? r : { noble: r.noble, scanner: new Scanner(r.noble, () => this.scanUuids()) };
    }
    if ('error' in this.nobleState) throw new StationError('NO_BLE_ADAPTER', this.nobleState.error, { retryable: false });
    return this.nobleState;
  }

  private scanUuids(): string[] {
    return [];
  }

  private async poweredOn(noble: NobleApi, signal: AbortSignal): Promise<void> {
    if (noble.state === 'poweredOn') return;
    let cb: ((s: string) => void) | null = null;
    const p = new Promise<void>((resolve, reject) => {
      cb = (s: string) => {
        if (s === 'poweredOn') resolve();
        else if (s === 'unsupported' || s === 'unauthorized') reject(new StationError('NO_BLE_ADAPTER', `Bluetooth adapter is ${s}`, { retryable: false }));
      };
      noble.on('stateChange', cb);
    });
    try {
      await deadline(p, this.o.poweredOnTimeoutMs, 'waiting for the adapter', signal);
    } catch (e) {
      if (e instanceof StationError && e.code === 'TRANSPORT_TIMEOUT') throw new StationError('ADAPTER_OFF', `adapter state is ${noble.state}`, { retryable: false });
      throw e;
    } finally {
      if (cb) noble.removeListener('stateChange', cb);
    }
  }

  async scan(durationMs: number, filter: BleScanFilter = {}): Promise<BleSighting[]> {
    const { noble, scanner } = this.nobleOrThrow();
    await this.poweredOn(noble, AbortSignal.timeout(this.o.poweredOnTimeoutMs + 100));
    return scanner.collect(durationMs, { minRssiDbm: this.o.minRssiDbm, ...filter });
  }

  async open(unit: UnitRef, signal: AbortSignal): Promise<GattLink> {
    const pipe = this.o.pipeFor(unit.protocol);
    if (!pipe) throw new StationError('CONFIG_INVALID', `no BLE pipe for protocol ${unit.protocol}`, { unitId: unit.unitId, retryable: false });
    const { noble, scanner } = this.nobleOrThrow();
    await this.poweredOn(noble, signal);
    const release = await this.slots.acquire(signal);
    let peripheral: NoblePeripheral | null = null;
    let connected = false;
    try {
      const want = normalizeBleId(unit.address);
      const t0 = performance.now();
      const { p, s } = await scanner.find((s) => s.seenAt >= t0 && (normalizeBleId(s.id) === want || normalizeBleId(s.address) === want) && (this.o.minRssiDbm === undefined || s.rssiDbm >= this.o.minRssiDbm), this.o.scanTimeoutMs, signal);
      peripheral = p;
      // One LE Create Connection at a time per adapter, like the HCI stack.
      await this.serialConnect(async () => {
        await deadline(
          new Promise<void>((resolve, reject) => p.connect({ mtu: this.o.requestMtu }, (err) => (err ? reject(new StationError('TRANSPORT_NOT_FOUND', `connect failed: ${err.message}`)) : resolve()))),
          this.o.connectTimeoutMs,
          'connecting',
          signal,
          () => p.cancelConnect(),
        );
      });
      connected = true;
      const services = await deadline(
        new Promise<NobleService[]>((resolve, reject) => p.discoverServices([pipe.serviceUuid], (err, sv) => (err ? reject(new StationError('TRANSPORT_NOT_FOUND', String(err))) : resolve(sv)))),
        this.o.gattTimeoutMs,
        'discovering services',
        signal,
      );
      const service = services.find((sv) => sv.uuid === pipe.serviceUuid);
      if (!service) throw new StationError('TRANSPORT_NOT_FOUND', `the unit has no service ${pipe.serviceUuid}`, { retryable: false });
      const wanted = [...pipe.writeUuids, pipe.notifyUuid];
      const chars = await deadline(
        new Promise<NobleCharacteristic[]>((resolve, reject) => service.discoverCharacteristics(wanted, (err, cs) => (err ? reject(new StationError('TRANSPORT_NOT_FOUND', String(err))) : resolve(cs)))),
        this.o.gattTimeoutMs,
        'discovering characteristics',
        signal,
      );
      const byUuid = new Map(chars.map((c) => [c.uuid, c]));
      const missing = wanted.filter((u) => !byUuid.has(u));
      if (missing.length) throw new StationError('TRANSPORT_NOT_FOUND', `the unit lacks characteristics ${missing.join(', ')}`, { retryable: false });
      const notifyChar = byUuid.get(pipe.notifyUuid)!;
      await deadline(
        new Promise<void>((resolve, reject) => notifyChar.subscribe((err) => (err ? reject(new StationError('TRANSPORT_LOST', String(err))) : resolve()))),
        this.o.gattTimeoutMs,
        'enabling notifications',
        signal,
      );
      // No wait for the MTU exchange: its result may come after login or never (some stacks do
      // not report it). The link reads peripheral.mtu live, so writes grow when it arrives.
      if (p.state !== 'connected') throw new StationError('TRANSPORT_LOST', 'the unit dropped the link while opening');
      const link = new NobleGattLink(unit.unitId, p, byUuid, notifyChar, pipe, s.manufacturerData, this.o, () => {
        this.links.delete(link);
        release();
      });
      this.links.add(link);
      return link;
    } catch (e) {
      if (peripheral && connected) await disconnectWithDeadline(peripheral, this.o.disconnectTimeoutMs);
      release();
      throw e;
    }
  }

  private serialConnect(fn: () => Promise<void>): Promise<void> {
    const run = this.connectLock.then(fn, fn);
    this.connectLock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async dispose(): Promise<void> {
    for (const l of [...this.links]) await l.close();
    if (this.nobleState && !('error' in this.nobleState)) this.nobleState.scanner.dispose();
  }
}

function disconnectWithDeadline(p: NoblePeripheral, ms: number): Promise<void> {
  return deadline(new Promise<void>((resolve) => p.disconnect(() => resolve())), ms, 'disconnecting').catch(() => undefined);
}

/** A GATT link over one connected noble peripheral. */
class NobleGattLink implements GattLink {
  readonly kind = 'ble' as const;
  readonly trace = new TraceRing();
  private open = true;
  private readonly dataCbs = new Set<(c: Uint8Array) => void>();
  private readonly lostCbs = new Set<(e: StationError) => void>();
  private readonly pending = new Set<(e: StationError) => void>();
  private writeChain: Promise<void> = Promise.resolve();
  private readonly onNotify = (data: Buffer, isNotification: boolean) => {
    if (isNotification === false) return;
    const chunk = new Uint8Array(data);
    this.trace.rx(chunk);
    this.dataCbs.forEach((cb) => cb(chunk));
  };
  private readonly onDisconnect = (reason?: number) => {
    if (!this.open) return;
    const err = new StationError('TRANSPORT_LOST', `BLE link lost (HCI reason 0x${(reason ?? 0).toString(16)})`, { unitId: this.unitId });
    this.trace.note('link lost');
    this.teardown(true);
    // noble does not reject pending GATT calls on a disconnect: we do.
    this.pending.forEach((rej) => rej(err));
    this.pending.clear();
    this.lostCbs.forEach((cb) => cb(err));
  };

  constructor(
    readonly unitId: string,
    private readonly p: NoblePeripheral,
    private readonly chars: Map<string, NobleCharacteristic>,
    private readonly notifyChar: NobleCharacteristic,
    private readonly pipe: BlePipeSpec,
    readonly manufacturerData: Uint8Array | undefined,
    private readonly o: { writeTimeoutMs: number; disconnectTimeoutMs: number },
    private readonly released: () => void,
  ) {
    notifyChar.on('data', this.onNotify);
    p.on('disconnect', this.onDisconnect);
  }

  get attMtu(): number {
    return this.p.mtu ?? ATT_DEFAULT_MTU;
  }
  get mtuBytes(): number {
    return this.attMtu - 3;
  }
  get isOpen(): boolean {
    return this.open;
  }

  write(data: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.writeCharacteristic(this.pipe.writeUuids[0]!, data, { withoutResponse: false }, signal);
  }

  writeCharacteristic(uuid: string, data: Uint8Array, opts: { withoutResponse: boolean }, signal?: AbortSignal): Promise<void> {
    const run = this.writeChain.then(() => this.writeNow(uuid, data, opts.withoutResponse, signal));
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private writeNow(uuid: string, data: Uint8Array, withoutResponse: boolean, signal?: AbortSignal): Promise<void> {
    if (!this.open) return Promise.reject(new StationError('TRANSPORT_LOST', 'link is closed', { unitId: this.unitId }));
    const ch = this.chars.get(uuid);
    if (!ch) return Promise.reject(new StationError('CONFIG_INVALID', `characteristic ${uuid} is not part of this link`));
    if (data.length > this.mtuBytes) return Promise.reject(new StationError('INTERNAL', `write of ${data.length} bytes exceeds ATT MTU ${this.attMtu} − 3`));
    this.trace.tx(data);
    let rejectPending: ((e: StationError) => void) | null = null;
    const p = new Promise<void>((resolve, reject) => {
      rejectPending = reject;
      this.pending.add(reject);
      ch.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), withoutResponse, (err) => (err ? reject(new StationError('TRANSPORT_LOST', String(err))) : resolve()));
    });
    return deadline(p, this.o.writeTimeoutMs, `writing ${uuid.slice(4, 8)}`, signal).finally(() => {
      if (rejectPending) this.pending.delete(rejectPending);
    });
  }

  onData(cb: (chunk: Uint8Array) => void): () => void {
    this.dataCbs.add(cb);
    return () => this.dataCbs.delete(cb);
  }
  onLost(cb: (err: StationError) => void): () => void {
    this.lostCbs.add(cb);
    return () => this.lostCbs.delete(cb);
  }

  private teardown(releaseSlot: boolean): void {
    this.open = false;
    this.notifyChar.removeListener('data', this.onNotify);
    this.p.removeListener('disconnect', this.onDisconnect);
    if (releaseSlot) this.released();
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.teardown(false);
    const err = new StationError('TRANSPORT_LOST', 'link closed by the station', { unitId: this.unitId });
    this.pending.forEach((rej) => rej(err));
    this.pending.clear();
    // The slot is free only once the controller has dropped the connection.
    await disconnectWithDeadline(this.p, this.o.disconnectTimeoutMs);
    this.released();
  }
}
