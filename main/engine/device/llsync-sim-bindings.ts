/**
 * Simulated noble bindings (the interface `@abandonware/noble/with-bindings` takes): one adapter
 * with virtual LLSync peripherals that advertise, accept connections, exchange the MTU, expose
 * FFE0/FFE1/FFE3/FFE4 and move every ATT packet through the airtime model. The real noble
 * library and the station's real BLE transport run unchanged on top. Knows no OTA logic.
 */
import { EventEmitter } from 'node:events';
import { LLSYNC_ADV_SERVICE_16, LLSYNC_CHAR_DATA, LLSYNC_CHAR_DEVICE_INFO, LLSYNC_CHAR_EVENT, LLSYNC_CHAR_OTA, LLSYNC_SERVICE_UUID } from '../protocol/llsync-ota/frames.js';
import { AdapterAirtime, ConnectionDirection, DEFAULT_ADAPTER, DEFAULT_BLE_LINK, TimedQueue, type AdapterModel, type BleLinkModel } from './llsync-airtime.js';
import type { LlsyncPeripheral } from './llsync-peripheral.js';

/** noble's default request in its HCI binding is 256; the transport passes `mtu` in connect parameters. */
const NOBLE_DEFAULT_MTU_REQUEST = 256;
const ATT_DEFAULT_MTU = 23;
const HCI_REMOTE_USER_TERMINATED = 0x13;
const HCI_LOCAL_HOST_TERMINATED = 0x16;
const HCI_CONNECTION_TIMEOUT = 0x08;

interface SimPeripheralEntry {
  uuid: string;
  address: string;
  device: LlsyncPeripheral;
  link: BleLinkModel;
  localName: string;
}

interface SimConnection {
  entry: SimPeripheralEntry;
  toDevice: ConnectionDirection;
  toHost: ConnectionDirection;
  qDevice: TimedQueue;
  qHost: TimedQueue;
  qAck: TimedQueue;
  open: boolean;
  rand: () => number;
}

export class LlsyncSimBindings extends EventEmitter {
  readonly air: AdapterAirtime;
  private readonly peripherals = new Map<string, SimPeripheralEntry>();
  private readonly connections = new Map<string, SimConnection>();
  private pendingConnect: { uuid: string; mtu: number } | null = null;
  private scanTimer: ReturnType<typeof setInterval> | null = null;
  private scanFilter: string[] = [];
  /** Highest number of simultaneous connections seen (tests assert the per-adapter cap). */
  maxConnectionsSeen = 0;
  connectsRefused = 0;

  constructor(readonly adapter: AdapterModel = DEFAULT_ADAPTER) {
    super();
    this.air = new AdapterAirtime(adapter);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  addPeripheral(device: LlsyncPeripheral, opts: { link?: Partial<BleLinkModel>; localName?: string } = {}): string {
    const address = device.config.mac.toLowerCase();
    const uuid = address.replace(/:/g, '');
    this.peripherals.set(uuid, { uuid, address, device, link: { ...DEFAULT_BLE_LINK, ...opts.link }, localName: opts.localName ?? `LLSync-${uuid.slice(-4)}` });
    return uuid;
  }

  peripheral(uuid: string): LlsyncPeripheral | undefined {
    return this.peripherals.get(uuid)?.device;
  }

  // ---- noble bindings interface -------------------------------------------------------------

  init(): void {
    setImmediate(() => {
      this.emit('addressChange', 'c0:ff:ee:00:00:00');
      this.emit('stateChange', 'poweredOn');
    });
  }

  setScanParameters(): void {
    setImmediate(() => this.emit('scanParametersSet'));
  }

  startScanning(serviceUuids?: string[], _allowDuplicates?: boolean): void {
    this.scanFilter = (serviceUuids ?? []).map((u) => u.toLowerCase());
    if (!this.scanTimer) {
      this.scanTimer = setInterval(() => this.advertise(), this.adapter.advIntervalMs);
      this.scanTimer.unref?.();
    }
    setImmediate(() => {
      this.emit('scanStart', false);
      this.advertise();
    });
  }

  stopScanning(): void {
    if (this.scanTimer) clearInterval(this.scanTimer);
    this.scanTimer = null;
    setImmediate(() => this.emit('scanStop'));
  }

  private advertise(): void {
    if (!this.scanTimer) return;
    for (const e of this.peripherals.values()) {
      if (!e.device.advertising) continue;
      if (this.scanFilter.length && !this.scanFilter.includes(LLSYNC_ADV_SERVICE_16) && !this.scanFilter.includes(LLSYNC_SERVICE_UUID)) continue;
      const advertisement = {
        localName: e.localName,
        serviceUuids: [LLSYNC_ADV_SERVICE_16],
        manufacturerData: Buffer.from(e.device.manufacturerData()),
        serviceData: [],
        serviceSolicitationUuids: [],
        txPowerLevel: 0,
      };
      this.emit('discover', e.uuid, e.address, 'public', true, advertisement, e.link.rssiDbm, true);
    }
  }

  /** LE Create Connection: one pending at a time; waits for the peripheral to advertise. */
  connect(uuid: string, parameters?: { mtu?: number }): void {
    const e = this.peripherals.get(uuid);
    if (this.pendingConnect) {
      this.connectsRefused += 1;
      setImmediate(() => this.emit('connect', uuid, new Error('Command Disallowed (0x0c): a connection is already being created')));
      return;
    }
    if (!e) return; // like a real controller: waits for an advertisement that never comes
    this.pendingConnect = { uuid, mtu: parameters?.mtu ?? NOBLE_DEFAULT_MTU_REQUEST };
    this.tryComplete();
  }

  private tryComplete(): void {
    const p = this.pendingConnect;
    if (!p) return;
    const e = this.peripherals.get(p.uuid)!;
    if (!e.device.advertising || this.connections.size >= this.adapter.maxConnections) {
      setTimeout(() => this.tryComplete(), this.adapter.advIntervalMs).unref?.();
      return;
    }
    setTimeout(() => {
      if (this.pendingConnect !== p) return; // cancelled
      this.pendingConnect = null;
      if (!e.device.advertising) {
        this.pendingConnect = p;
        return this.tryComplete();
      }
      this.openConnection(e, p.mtu);
    }, e.link.connectMs);
  }

  cancelConnect(uuid: string): void {
    if (this.pendingConnect?.uuid === uuid) this.pendingConnect = null;
  }

  private openConnection(e: SimPeripheralEntry, mtuRequest: number): void {
    const now = performance.now();
    const c: SimConnection = {
      entry: e,
      toDevice: new ConnectionDirection(now, e.link, this.air),
      toHost: new ConnectionDirection(now, e.link, this.air),
      qDevice: new TimedQueue(),
      qHost: new TimedQueue(),
      qAck: new TimedQueue(),
      open: true,
      rand: seeded(e.uuid),
    };
    this.connections.set(e.uuid, c);
    this.maxConnectionsSeen = Math.max(this.maxConnectionsSeen, this.connections.size);
    // ATT MTU exchange (noble's HCI binding asks right after connecting), two events later — or,
    // per device profile, only after LLSync login, or never (stacks that report no MTU).
    const mtu = Math.max(ATT_DEFAULT_MTU, Math.min(mtuRequest, e.link.maxAttMtu));
    let exchanged = false;
    const exchangeMtu = () => {
      if (exchanged) return;
      exchanged = true;
      c.qHost.push(performance.now() + 2 * e.link.connIntervalMs, () => {
        if (!c.open) return;
        e.device.onAttMtu(mtu);
        this.emit('onMtu', e.uuid, mtu);
      });
    };
    const when = e.device.config.mtuExchange ?? 'on-connect';
    e.device.connect(
      {
        notify: (value) => this.deviceNotify(c, value),
        drop: () => this.closeConnection(c, HCI_CONNECTION_TIMEOUT),
        loggedIn: () => {
          if (when === 'after-login') exchangeMtu();
        },
      },
      ATT_DEFAULT_MTU,
    );
    this.emit('connect', e.uuid, null);
    if (when === 'on-connect') exchangeMtu();
  }

  private closeConnection(c: SimConnection, reason: number): void {
    if (!c.open) return;
    c.open = false;
    c.qDevice.close();
    c.qHost.close();
    c.qAck.close();
    this.connections.delete(c.entry.uuid);
    c.entry.device.disconnected();
    setImmediate(() => this.emit('disconnect', c.entry.uuid, reason));
  }

  disconnect(uuid: string): void {
    const c = this.connections.get(uuid);
    if (c) this.closeConnection(c, HCI_LOCAL_HOST_TERMINATED);
    else setImmediate(() => this.emit('disconnect', uuid, HCI_REMOTE_USER_TERMINATED));
  }

  updateRssi(uuid: string): void {
    const e = this.peripherals.get(uuid);
    setImmediate(() => this.emit('rssiUpdate', uuid, e?.link.rssiDbm ?? -127));
  }

  discoverServices(uuid: string, _uuids?: string[]): void {
    const c = this.connections.get(uuid);
    if (!c) return; // noble gets no answer on a dead link: the transport's deadline catches it
    c.qHost.push(performance.now() + c.entry.link.connIntervalMs, () => this.emit('servicesDiscover', uuid, [LLSYNC_SERVICE_UUID]));
  }

  discoverIncludedServices(uuid: string, serviceUuid: string): void {
    setImmediate(() => this.emit('includedServicesDiscover', uuid, serviceUuid, []));
  }

  discoverCharacteristics(uuid: string, serviceUuid: string, _uuids?: string[]): void {
    const c = this.connections.get(uuid);
    if (!c || serviceUuid !== LLSYNC_SERVICE_UUID) return;
    const chars = [
      { uuid: LLSYNC_CHAR_DEVICE_INFO, properties: ['write'] },
      { uuid: LLSYNC_CHAR_DATA, properties: ['write'] },
      { uuid: LLSYNC_CHAR_EVENT, properties: ['notify'] },
      { uuid: LLSYNC_CHAR_OTA, properties: ['writeWithoutResponse'] },
    ];
    c.qHost.push(performance.now() + c.entry.link.connIntervalMs, () => this.emit('characteristicsDiscover', uuid, serviceUuid, chars));
  }

  discoverDescriptors(uuid: string, serviceUuid: string, characteristicUuid: string): void {
    setImmediate(() => this.emit('descriptorsDiscover', uuid, serviceUuid, characteristicUuid, ['2902']));
  }

  read(uuid: string, serviceUuid: string, characteristicUuid: string): void {
    setImmediate(() => this.emit('read', uuid, serviceUuid, characteristicUuid, Buffer.alloc(0), false));
  }

  notify(uuid: string, serviceUuid: string, characteristicUuid: string, notify: boolean): void {
    const c = this.connections.get(uuid);
    if (!c) return;
    // The CCCD write is one ATT request/response.
    c.qHost.push(performance.now() + c.entry.link.connIntervalMs, () => this.emit('notify', uuid, serviceUuid, characteristicUuid, notify));
  }

  write(uuid: string, serviceUuid: string, characteristicUuid: string, data: Buffer, withoutResponse: boolean): void {
    const c = this.connections.get(uuid);
    if (!c) return; // noble: a write on a dead link never completes
    const now = performance.now();
    const bytes = new Uint8Array(data);
    const onAir = c.toDevice.schedule(now, bytes.length + 3);
    const lost = withoutResponse && c.entry.link.lossRate > 0 && c.rand() < c.entry.link.lossRate;
    if (!lost) c.qDevice.push(onAir, () => c.open && c.entry.device.onWrite(characteristicUuid, bytes));
    const ackAt = withoutResponse ? c.toDevice.bufferFreeAt(now) : onAir + c.entry.link.connIntervalMs;
    c.qAck.push(ackAt, () => c.open && this.emit('write', uuid, serviceUuid, characteristicUuid));
  }

  private deviceNotify(c: SimConnection, value: Uint8Array): void {
    if (!c.open) return;
    const at = c.toHost.schedule(performance.now(), value.length + 3);
    const copy = Buffer.from(value);
    c.qHost.push(at, () => c.open && this.emit('read', c.entry.uuid, LLSYNC_SERVICE_UUID, LLSYNC_CHAR_EVENT, copy, true));
  }

  readValue(uuid: string, s: string, ch: string, d: string): void {
    setImmediate(() => this.emit('valueRead', uuid, s, ch, d, Buffer.alloc(0)));
  }
  writeValue(uuid: string, s: string, ch: string, d: string): void {
    setImmediate(() => this.emit('valueWrite', uuid, s, ch, d));
  }
  reset(): void {
    for (const c of [...this.connections.values()]) this.closeConnection(c, HCI_LOCAL_HOST_TERMINATED);
  }

  /** Stop timers and drop every connection (station shutdown). */
  dispose(): void {
    if (this.scanTimer) clearInterval(this.scanTimer);
    this.scanTimer = null;
    this.pendingConnect = null;
    for (const c of [...this.connections.values()]) this.closeConnection(c, HCI_LOCAL_HOST_TERMINATED);
    for (const e of this.peripherals.values()) e.device.dispose();
  }
}

function seeded(s: string): () => number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  let x = h >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}
