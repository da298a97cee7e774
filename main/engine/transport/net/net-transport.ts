/**
 * The `net` transport: opens an MqttLink to a networked unit through the station's MQTT + HTTP
 * server (started lazily on first use, on configured addresses — 127.0.0.1 unless told
 * otherwise, never 0.0.0.0 by default). In sim mode it also powers the virtual networked units
 * (real mqtt.js clients with persistent memory). Knows no OTA dialect beyond naming topics.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { UnitRef } from '../../../contract/dto.js';
import { DeviceMemory } from '../../device/device-memory.js';
import { MqttVirtualDevice, type MqttDeviceFaults } from '../../device/mqtt-device.js';
import { StationError } from '../../errors.js';
import { abortError } from '../../clock.js';
import type { Link, Transport } from '../types.js';
import { CredentialStore, deviceKeyOf, parseCredentialCsv, type Dialect } from './auth.js';
import { NetMqttLink } from './mqtt-link.js';
import { NetStation, type NetStationOptions } from './station.js';

/** Every net job shares the broker; downloads are bounded by bandwidth, not by ports. */
export const NET_RESOURCE = 'net:broker';
const DEFAULT_CAPACITY = 200;
/** Below the runner's 15 s connect deadline, so the transport's own, clearer error wins. */
const DEFAULT_OPEN_TIMEOUT_MS = 12_000;
const SIM_TENCENT_PRODUCT = 'FLSIMTENC1'; // Tencent product ids are 10 characters (§4.2)
const SIM_ALIYUN_PRODUCT = 'a1FlSimAliy'; // Aliyun product keys are 11 characters
/** The fraction of the image a `disconnect` sim unit stores before its download is cut. */
const SIM_CUT_FRACTION = 0.4;
const SIM_BURN_SLOW_MS = 1500;

export interface NetTransportOptions extends Partial<Omit<NetStationOptions, 'credentials'>> {
  /** Credential CSV (dialect,product,device,secret). */
  credentialsCsv?: string;
  credentials?: CredentialStore;
  capacity?: number;
  openTimeoutMs?: number;
  /** Run virtual units for `sim` targets; their memory persists under this folder. */
  simStateDir?: string;
}

export class NetTransport implements Transport {
  readonly kind = 'net' as const;
  readonly station: NetStation;
  private readonly simDevices = new Map<string, MqttVirtualDevice>();
  private readonly credentials: CredentialStore;
  private disposed = false;
  private csvLoaded = false;

  constructor(private readonly opts: NetTransportOptions = {}) {
    this.credentials = opts.credentials ?? new CredentialStore();
    this.station = new NetStation({
      mode: opts.mode ?? 'embedded',
      host: opts.host ?? '127.0.0.1',
      mqttPort: opts.mqttPort ?? 1883,
      pskPort: opts.pskPort ?? null,
      httpPort: opts.httpPort ?? 80,
      urlHost: opts.urlHost,
      attachUrl: opts.attachUrl,
      attachUsername: opts.attachUsername,
      attachPassword: opts.attachPassword,
      bandwidthBytesPerSec: opts.bandwidthBytesPerSec ?? 0,
      credentials: this.credentials,
      dns: opts.dns ?? null,
    });
  }

  resourceOf(_unit: UnitRef): string {
    return NET_RESOURCE;
  }

  /**
   * Only `net:broker` is ours. Other resources answer undefined (the sim transport asks every
   * delegate and takes the first defined answer; Transport types the result as number).
   */
  capacityOf(resource: string): number {
    return (resource === NET_RESOURCE ? (this.opts.capacity ?? DEFAULT_CAPACITY) : undefined) as number;
  }

  private loadCsv(): void {
    if (this.csvLoaded || !this.opts.credentialsCsv) return;
    this.csvLoaded = true;
    if (!fs.existsSync(this.opts.credentialsCsv)) return;
    const r = parseCredentialCsv(fs.readFileSync(this.opts.credentialsCsv, 'utf8'));
    if (!r.ok) throw new StationError('CONFIG_INVALID', `${this.opts.credentialsCsv} line ${r.line}: ${r.reason}`);
    for (const c of r.credentials) this.credentials.add(c);
  }

  /** Which device a unit is: `mqtt:PRODUCT/DEVICE` for real units; a generated identity for sim units. */
  identityOf(unit: UnitRef): { dialect: Dialect; product: string; device: string } {
    const dialect: Dialect = unit.protocol === 'mqtt-ota-aliyun' ? 'aliyun' : 'tencent';
    if (unit.protocol !== 'mqtt-ota-tencent' && unit.protocol !== 'mqtt-ota-aliyun') {
      throw new StationError('CONFIG_INVALID', `the net transport carries mqtt-ota-tencent/aliyun only, not ${unit.protocol}`, { retryable: false });
    }
    if (unit.transport === 'sim') {
      const n = unit.address.split(':').pop() ?? '0';
      return { dialect, product: dialect === 'tencent' ? SIM_TENCENT_PRODUCT : SIM_ALIYUN_PRODUCT, device: `sim${n}` };
    }
    const slash = unit.address.indexOf('/');
    return { dialect, product: unit.address.slice(0, slash), device: unit.address.slice(slash + 1) };
  }

  async open(unit: UnitRef, signal: AbortSignal): Promise<Link> {
    if (signal.aborted) throw signal.reason ?? abortError();
    if (this.disposed) throw new StationError('TRANSPORT_NOT_FOUND', 'the net transport is closed');
    this.loadCsv();
    await this.station.start();
    const id = this.identityOf(unit);
    if (unit.transport === 'sim') await this.ensureSimDevice(unit, id);
    const key = deviceKeyOf(id);
    const link = new NetMqttLink(unit.unitId, key, id.dialect, id.product, id.device, this.station);
    if (!this.station.isOnline(key)) {
      try {
        await this.waitOnline(link, signal);
      } catch (e) {
        await link.close();
        throw e;
      }
    }
    return link;
  }

  private waitOnline(link: NetMqttLink, signal: AbortSignal): Promise<void> {
    const timeoutMs = this.opts.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const finish = (err?: unknown) => {
        clearTimeout(t);
        off();
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const off = link.onEvent((e) => {
        if (e.type === 'online') finish();
      });
      const onAbort = () => finish(signal.reason ?? abortError());
      signal.addEventListener('abort', onAbort, { once: true });
      const t = setTimeout(() => {
        const rec = this.station.recordFor(link.dialect, link.product, link.device);
        if (rec.authFailure) finish(new StationError('NET_AUTH_FAILED', `CONNECT refused: ${rec.authFailure}`, { unitId: link.unitId, retryable: false }));
        else finish(new StationError('NET_DEVICE_OFFLINE', `${link.product}/${link.device} did not connect within ${timeoutMs} ms`, { unitId: link.unitId }));
      }, timeoutMs);
    });
  }

  // ---- virtual networked units ----------------------------------------------------------

  private async ensureSimDevice(unit: UnitRef, id: { dialect: Dialect; product: string; device: string }): Promise<void> {
    if (this.simDevices.has(unit.unitId)) return;
    // Deterministic per-unit secrets: the sim "factory" provisions the unit and the station alike.
    const seed = crypto.createHash('sha256').update(`flashline-sim-secret:${unit.unitId}`).digest();
    const secret = id.dialect === 'tencent' ? seed.subarray(0, 16).toString('base64') : seed.subarray(0, 16).toString('hex');
    this.credentials.add({ ...id, secret });
    const sim = unit.sim ?? { behaviour: 'accept' as const, initialVersion: '1.0.0' };
    const dir = this.opts.simStateDir ? path.join(this.opts.simStateDir, unit.unitId.replace(/[^A-Za-z0-9._-]/g, '_')) : undefined;
    const memory = new DeviceMemory({ version: sim.initialVersion, serialNumber: sim.serialNumber ?? unit.serialNumber ?? unit.unitId }, 16 * 1024 * 1024, dir);
    const dev = new MqttVirtualDevice({
      ...id,
      secret,
      brokerUrl: this.station.mqttUrl,
      memory,
      honourUrlPort: true,
      faults: simFaults(sim.behaviour),
      progressIntervalMs: 200,
    });
    this.simDevices.set(unit.unitId, dev);
    await dev.start();
  }

  simDevice(unitId: string): MqttVirtualDevice | undefined {
    return this.simDevices.get(unitId);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.simDevices.values()) {
      await d.stop();
      d.memory.close();
    }
    this.simDevices.clear();
    await this.station.stop();
  }
}

/** Sim behaviours as device faults. The cut offset is a fraction of whatever image is pushed. */
function simFaults(b: string): MqttDeviceFaults {
  switch (b) {
    case 'disconnect':
      return { cutFraction: SIM_CUT_FRACTION, cutTimes: 1 };
    case 'crc_failure':
      return { corruptByteAt: 100 };
    case 'crc_failure_once':
      return { corruptByteAt: 100, corruptTimes: 1 };
    case 'reboot_timeout':
      return { rebootNever: true };
    case 'slow_flash':
      return { burnMs: SIM_BURN_SLOW_MS };
    default:
      return {};
  }
}

/** `<dataDir>/net-station.json`: the line's settings (see LINE-SETUP.md). */
export function loadNetConfig(dataDir: string): NetTransportOptions {
  const file = path.join(dataDir, 'net-station.json');
  const base: NetTransportOptions = { credentialsCsv: path.join(dataDir, 'devices.csv') };
  if (!fs.existsSync(file)) return base;
  try {
    return { ...base, ...(JSON.parse(fs.readFileSync(file, 'utf8')) as NetTransportOptions) };
  } catch (e) {
    throw new StationError('CONFIG_INVALID', `${file}: ${(e as Error).message}`);
  }
}

/** The station's `net` transport for real units. */
export function createNetTransport(dataDir: string): NetTransport {
  return new NetTransport(loadNetConfig(dataDir));
}

/** The sim flavour: loopback only, free ports, virtual units as real MQTT clients (they honour the URL port). */
export function createSimNetTransport(dataDir: string): NetTransport {
  return new NetTransport({ host: '127.0.0.1', mqttPort: 0, httpPort: 0, pskPort: null, simStateDir: path.join(dataDir, 'sim-units') });
}
