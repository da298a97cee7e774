/**
 * The `net` transport: opens an MqttLink to a networked unit through the station's local cloud
 * (MQTT + HTTP (+ DNS), on configured addresses — 127.0.0.1 unless told otherwise, never 0.0.0.0
 * by default). The cloud runs whenever the station runs (`startCloud`) or lazily on first use,
 * and is released by dispose. Knows no OTA dialect: topics and replies come from the injected
 * CloudDialect, and virtual units (sim) from an injected SimNetUnits provider.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CloudUnitView, CloudView, UnitRef } from '../../../contract/dto.js';
import { StationError } from '../../errors.js';
import { abortError } from '../../clock.js';
import type { Link, Transport } from '../types.js';
import { CredentialStore, deviceKeyOf, parseCredentialCsv } from './auth.js';
import { NetMqttLink } from './mqtt-link.js';
import { NetStation, type NetStationOptions } from './station.js';
import type { CloudDialect, NetDeviceId, NetDialect, NetRosterEntry, SimCloudAccess, SimNetUnits } from './types.js';

/** Every net job shares the broker; downloads are bounded by bandwidth, not by ports. */
export const NET_RESOURCE = 'net:broker';
const DEFAULT_CAPACITY = 200;
/** Below the runner's 15 s connect deadline, so the transport's own, clearer error wins. */
const SIM_TENCENT_PRODUCT = 'FLSIMTENC1'; // Tencent product ids are 10 characters (§4.2)
const SIM_ALIYUN_PRODUCT = 'a1FlSimAliy'; // Aliyun product keys are 11 characters

export interface NetTransportOptions extends Partial<Omit<NetStationOptions, 'credentials' | 'cloud'>> {
  /** The dialect side of the cloud (protocol/mqtt-ota's `mqttOtaCloud`). */
  cloud: CloudDialect;
  /** Credential CSV (dialect,product,device,secret). */
  credentialsCsv?: string;
  credentials?: CredentialStore;
  capacity?: number;
  openTimeoutMs?: number;
  /** Virtual units for `sim` targets (real MQTT/HTTP clients created by the sim side). */
  simUnits?: SimNetUnits;
}

/** Summary of the cloud for `flashline cloud` and the UI. */
export interface NetCloudInfo {
  mqttUrl: string;
  mqttPort: number;
  pskPort: number | null;
  httpPort: number;
  dnsPort: number | null;
  /** What firmware URLs look like (host and port), e.g. `http://192.168.10.2/`. */
  urlBase: string;
}

export class NetTransport implements Transport {
  readonly kind = 'net' as const;
  readonly station: NetStation;
  private readonly credentials: CredentialStore;
  private disposed = false;
  private csvLoaded = false;

  constructor(private readonly opts: NetTransportOptions) {
    this.credentials = opts.credentials ?? new CredentialStore();
    this.station = new NetStation({
      mode: opts.mode ?? 'embedded',
      host: opts.host ?? '127.0.0.1',
      mqttPort: opts.mqttPort ?? 1883,
      pskPort: opts.pskPort ?? null,
      httpPort: opts.httpPort ?? 80,
      urlHost: opts.urlHost,
      urlPort: opts.urlPort,
      attachUrl: opts.attachUrl,
      attachUsername: opts.attachUsername,
      attachPassword: opts.attachPassword,
      bandwidthBytesPerSec: opts.bandwidthBytesPerSec ?? 0,
      credentials: this.credentials,
      dns: opts.dns ?? null,
      cloud: opts.cloud,
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

  /** Start the local cloud now (units power on before batches start, §4). Idempotent. */
  async startCloud(): Promise<NetCloudInfo> {
    if (this.disposed) throw new StationError('TRANSPORT_NOT_FOUND', 'the net transport is closed');
    this.loadCsv();
    try {
      await this.station.start();
    } catch (e) {
      if (e instanceof StationError) throw e;
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'EADDRINUSE' ? 'the port is in use (another station, `flashline cloud` or `serve` already runs the cloud?)' : err.code === 'EACCES' ? 'no permission to bind it (ports below 1024 need cap_net_bind_service, see LINE-SETUP.md)' : err.message;
      throw new StationError('CONFIG_INVALID', `cannot start the local cloud on ${this.station.opts.host}: ${why}`, {}, { cause: e });
    }
    return this.cloudInfo();
  }

  cloudInfo(): NetCloudInfo {
    const s = this.station;
    const url = new URL(s.firmware.urlFor('0'.repeat(16), 'x', 0));
    return {
      mqttUrl: s.mqttUrl,
      mqttPort: s.mqttPort,
      pskPort: s.opts.pskPort === null ? null : s.pskPort,
      httpPort: s.firmware.port,
      dnsPort: s.opts.dns ? s.dnsPort : null,
      urlBase: `${url.protocol}//${url.host}/`,
    };
  }

  /** Units the cloud has seen (connected, reported, or refused). */
  roster(): NetRosterEntry[] {
    return this.station.roster();
  }

  /** The cloud and its roster as plain data (engine, UI, `flashline cloud --json`). */
  cloudView(error?: string): CloudView {
    const units = this.roster().map(unitViewOf);
    if (!this.station.running || error) return { running: false, error, units };
    return { running: true, ...this.cloudInfo(), units };
  }

  /** Roster changes as they happen. */
  onRoster(cb: (u: CloudUnitView) => void): () => void {
    return this.station.onRoster((e) => cb(unitViewOf(e)));
  }

  /** Which device a unit is: `mqtt:PRODUCT/DEVICE` for real units; a generated identity for sim units. */
  identityOf(unit: UnitRef): NetDeviceId {
    const dialect: NetDialect = unit.protocol === 'mqtt-ota-aliyun' ? 'aliyun' : 'tencent';
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

  private simAccess(): SimCloudAccess {
    const s = this.station;
    return {
      mqttUrl: s.mqttUrl,
      pskPort: s.opts.pskPort === null ? 0 : s.pskPort,
      host: s.opts.host,
      httpPort: s.firmware.port,
      addCredential: (c) => this.credentials.add(c),
    };
  }

  async open(unit: UnitRef, signal: AbortSignal): Promise<Link> {
    if (signal.aborted) throw signal.reason ?? abortError();
    const id = this.identityOf(unit);
    await this.startCloud();
    if (unit.transport === 'sim') {
      if (!this.opts.simUnits) throw new StationError('TRANSPORT_NOT_FOUND', 'no virtual networked units on this station', { unitId: unit.unitId, retryable: false });
      await this.opts.simUnits.ensure(unit, id, this.simAccess());
    }
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

  private authError(link: NetMqttLink, reason: string): StationError {
    return new StationError('NET_AUTH_FAILED', reason, { unitId: link.unitId, retryable: false });
  }

  private waitOnline(link: NetMqttLink, signal: AbortSignal): Promise<void> {
    // No cap of its own by default: the job's open signal fires at the product profile's connect
    // deadline (issue 9 §2). openTimeoutMs, when set, is an extra, shorter limit.
    const timeoutMs = this.opts.openTimeoutMs;
    // Refused earlier under this identity and not connected since: the SDK samples give up
    // after a refused CONNECT, so waiting out the timeout would only hide the cause (§4).
    const known = this.station.recordFor(link.dialect, link.product, link.device);
    if (known.authFailure) return Promise.reject(this.authError(link, known.authFailure));
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
        else if (e.type === 'auth-failed') finish(this.authError(link, e.reason));
      });
      const onAbort = () => finish(signal.reason ?? abortError());
      signal.addEventListener('abort', onAbort, { once: true });
      const t =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              finish(new StationError('NET_DEVICE_OFFLINE', `${link.product}/${link.device} did not connect within ${timeoutMs} ms`, { unitId: link.unitId }));
            }, timeoutMs);
    });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.opts.simUnits?.dispose();
    await this.station.stop();
  }
}

function unitViewOf(e: NetRosterEntry): CloudUnitView {
  return { unitId: `mqtt:${e.product}/${e.device}`, protocol: e.dialect === 'tencent' ? 'mqtt-ota-tencent' : 'mqtt-ota-aliyun', ...e };
}

/** The keys `net-station.json` may carry (anything else is refused, not ignored). */
const CONFIG_KEYS: Record<string, 'string' | 'number' | 'number|null' | 'object|null'> = {
  mode: 'string',
  host: 'string',
  mqttPort: 'number',
  pskPort: 'number|null',
  httpPort: 'number',
  urlHost: 'string',
  urlPort: 'number|null',
  attachUrl: 'string',
  attachUsername: 'string',
  attachPassword: 'string',
  bandwidthBytesPerSec: 'number',
  capacity: 'number',
  openTimeoutMs: 'number',
  credentialsCsv: 'string',
  dns: 'object|null',
};

/** Check a parsed `net-station.json` (LINE-SETUP.md §2): every key known, every value in range. */
export function checkNetConfig(raw: unknown, where = 'net-station.json'): Partial<NetTransportOptions> {
  const bad = (why: string): never => {
    throw new StationError('CONFIG_INVALID', `${where}: ${why}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad('must be a JSON object');
  const o = raw as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    const type = CONFIG_KEYS[k];
    if (!type) bad(`unknown setting "${k}" (known: ${Object.keys(CONFIG_KEYS).join(', ')})`);
    if (v === null && type!.endsWith('|null')) continue;
    const want = type!.split('|')[0]!;
    if (typeof v !== want || (want === 'object' && (v === null || Array.isArray(v)))) bad(`${k} must be a ${type}`);
    if (want === 'number' && (!Number.isInteger(v) || (v as number) < 0)) bad(`${k} must be a whole number ≥ 0`);
  }
  for (const k of ['mqttPort', 'pskPort', 'httpPort', 'urlPort']) {
    const v = o[k];
    if (typeof v === 'number' && v > 65_535) bad(`${k} must be a port 0..65535`);
  }
  if (o.mode !== undefined && o.mode !== 'embedded' && o.mode !== 'attach') bad('mode must be "embedded" or "attach"');
  if (o.mode === 'attach' && typeof o.attachUrl !== 'string') bad('attach mode needs attachUrl (e.g. mqtt://192.168.10.3:1883)');
  if (o.capacity !== undefined && (o.capacity as number) < 1) bad('capacity must be ≥ 1');
  if (o.dns) {
    const d = o.dns as Record<string, unknown>;
    for (const k of Object.keys(d)) if (!['host', 'port', 'answer', 'names'].includes(k)) bad(`unknown dns setting "${k}"`);
    if (typeof d.host !== 'string' || typeof d.answer !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(d.answer)) bad('dns needs host and an IPv4 answer');
    if (!Number.isInteger(d.port) || (d.port as number) < 0 || (d.port as number) > 65_535) bad('dns.port must be a port 0..65535');
    if (!Array.isArray(d.names) || d.names.length === 0 || !d.names.every((n) => typeof n === 'string' && n.length > 0)) bad('dns.names must list the cloud host names to answer');
  }
  return o as Partial<NetTransportOptions>;
}

/** `<dataDir>/net-station.json`: the line's settings (see LINE-SETUP.md). */
export function loadNetConfig(dataDir: string): Omit<NetTransportOptions, 'cloud'> & { configured: boolean } {
  const file = path.join(dataDir, 'net-station.json');
  const base = { credentialsCsv: path.join(dataDir, 'devices.csv') };
  if (!fs.existsSync(file)) return { ...base, configured: false };
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new StationError('CONFIG_INVALID', `${file}: ${(e as Error).message}`);
  }
  const checked = checkNetConfig(raw, file);
  if (checked.credentialsCsv) checked.credentialsCsv = path.resolve(dataDir, checked.credentialsCsv);
  return { ...base, ...checked, configured: true };
}

/** The station's `net` transport for real units. Config errors surface when the cloud starts. */
export function createNetTransport(dataDir: string, cloud: CloudDialect): NetTransport {
  let cfg: ReturnType<typeof loadNetConfig>;
  try {
    cfg = loadNetConfig(dataDir);
  } catch (e) {
    return new BrokenNetTransport(cloud, e as StationError);
  }
  const { configured: _configured, ...opts } = cfg;
  return new NetTransport({ ...opts, cloud });
}

/** A `net` transport whose configuration is invalid: every use reports why (never a crash at start-up). */
class BrokenNetTransport extends NetTransport {
  constructor(cloud: CloudDialect, private readonly why: StationError) {
    super({ cloud });
  }
  override async startCloud(): Promise<NetCloudInfo> {
    throw this.why;
  }
}

/**
 * The sim flavour: loopback only, free ports (TLS-PSK included), virtual units as real MQTT
 * clients. URLs carry no port: virtual units are "built" for the sim HTTP port, as the real SDKs
 * are built for port 80 (vendor-behaviour.md), so the sim exercises the real URL rules.
 */
export function createSimNetTransport(cloud: CloudDialect, simUnits: SimNetUnits): NetTransport {
  return new NetTransport({ host: '127.0.0.1', mqttPort: 0, httpPort: 0, pskPort: 0, urlPort: null, cloud, simUnits });
}
