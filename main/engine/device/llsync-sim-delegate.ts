/**
 * Sim mode for BLE: virtual LLSync peripherals behind simulated noble bindings, reached through
 * the real @abandonware/noble library (`with-bindings`) and the station's real BleTransport —
 * the seam real hardware uses. Lives with the virtual units (no real transport imports it).
 * Owns the virtual units' creation and memory; adds no protocol logic and no shortcuts.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { UnitRef } from '../../contract/dto.js';
import { DeviceMemory } from './device-memory.js';
import { DEFAULT_ADAPTER, type AdapterModel, type BleLinkModel } from './llsync-airtime.js';
import { LLSYNC_DEVICE_DEFAULTS, LlsyncPeripheral, type LlsyncDeviceConfig } from './llsync-peripheral.js';
import { LlsyncSimBindings } from './llsync-sim-bindings.js';
import { LLSYNC_BLE } from '../protocol/llsync-ota/index.js';
import type { Link, Transport } from '../transport/types.js';
import { BleTransport, type BleTransportOptions, type NobleApi } from '../transport/ble/ble-transport.js';

export const SIM_PRODUCT_ID = 'FLSIMLLSYN';
const FLASH_BYTES = 4 * 1024 * 1024;

export interface LlsyncSimOptions {
  /** Virtual units' memory lives under dataDir/sim-units (survives a station restart). */
  dataDir?: string;
  adapter?: Partial<AdapterModel>;
  link?: Partial<BleLinkModel>;
  device?: Partial<LlsyncDeviceConfig>;
  /** Per-unit device overrides (tests: hostile devices, faults). */
  deviceFor?: (unit: UnitRef) => Partial<LlsyncDeviceConfig> | undefined;
  transport?: Partial<Omit<BleTransportOptions, 'loadNoble' | 'pipeFor'>>;
}

/** The MAC of a sim unit: its index when it has one, else a hash of its id. */
export function simMacFor(unit: UnitRef): string {
  const m = /(\d+)$/.exec(unit.unitId);
  const n = m ? Number(m[1]) & 0xffffff : fnv(unit.unitId) & 0xffffff;
  return ['c0', '11', '5c', (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff].map((x) => (typeof x === 'number' ? x.toString(16).padStart(2, '0') : x)).join(':');
}

export class LlsyncSimDelegate implements Transport {
  readonly kind = 'sim' as const;
  readonly bindings: LlsyncSimBindings;
  readonly ble: BleTransport;
  private readonly devices = new Map<string, LlsyncPeripheral>();

  constructor(private readonly opts: LlsyncSimOptions = {}) {
    this.bindings = new LlsyncSimBindings({ ...DEFAULT_ADAPTER, ...opts.adapter });
    const bindings = this.bindings;
    let noble: NobleApi | null = null;
    this.ble = new BleTransport({
      adapterId: this.bindings.adapter.id,
      pipeFor: (p) => (p === 'llsync-ota' ? LLSYNC_BLE.pipe : undefined),
      ...opts.transport,
      loadNoble: () => {
        // The real noble core over simulated bindings (DEPENDENCIES.md: with-bindings, not with-custom-binding).
        noble ??= createRequire(import.meta.url)('@abandonware/noble/with-bindings.js')(bindings) as NobleApi;
        return { noble };
      },
    });
  }

  /** `ble:<adapter>`: the engine caps it at plan.concurrency.perBleAdapter. */
  resourceOf(unit: UnitRef): string {
    return this.ble.resourceOf(unit);
  }

  /** The virtual peripheral behind a sim unit (created and put on the air on first use). */
  device(unit: UnitRef): LlsyncPeripheral {
    let d = this.devices.get(unit.unitId);
    if (d) return d;
    const sim = unit.sim ?? { behaviour: 'accept' as const, initialVersion: '1.0.0' };
    const dir = this.opts.dataDir ? simUnitDir(this.opts.dataDir, unit.unitId) : undefined;
    const memory = new DeviceMemory({ version: sim.initialVersion, serialNumber: sim.serialNumber ?? unit.serialNumber ?? unit.unitId }, FLASH_BYTES, dir);
    const mac = simMacFor(unit);
    const n = /(\d+)$/.exec(unit.unitId)?.[1] ?? '0';
    const config: LlsyncDeviceConfig = {
      ...LLSYNC_DEVICE_DEFAULTS,
      productId: SIM_PRODUCT_ID,
      deviceName: `dev${n.padStart(4, '0')}`,
      mac,
      behaviour: sim.behaviour,
      disconnectAtOffset: sim.link?.disconnectAtOffset,
      ...this.opts.device,
      ...this.opts.deviceFor?.(unit),
    };
    const bind = dir ? readBindRecord(dir) : null;
    if (bind) Object.assign(config, { pskHex: bind.localPsk, bindIdHex: bind.bindId });
    d = new LlsyncPeripheral(config, memory);
    this.bindings.addPeripheral(d, { link: { ...this.opts.link, ...(sim.link?.lossRate !== undefined ? { lossRate: sim.link.lossRate } : {}) } });
    this.devices.set(unit.unitId, d);
    return d;
  }

  async open(unit: UnitRef, signal: AbortSignal): Promise<Link> {
    const d = this.device(unit);
    return this.ble.open({ ...unit, transport: 'ble', address: d.config.mac }, signal);
  }

  async dispose(): Promise<void> {
    await this.ble.dispose();
    this.bindings.dispose();
    for (const d of this.devices.values()) d.memory.close();
    this.devices.clear();
  }
}

/**
 * A virtual unit's bind record (§6.2: local PSK + bind id, kept in the device's flash): the file
 * `llsync-bind.json` in its memory folder, `{ "localPsk": "8 hex", "bindId": "16 hex" }`.
 * Absent = never bound (erased record, zero PSK, §6.1).
 */
export const BIND_RECORD_FILE = 'llsync-bind.json';

export function readBindRecord(dir: string): { localPsk: string; bindId: string } | null {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path.join(dir, BIND_RECORD_FILE), 'utf8'));
  } catch {
    return null;
  }
  const r = raw as { localPsk?: unknown; bindId?: unknown };
  if (typeof r.localPsk !== 'string' || !/^[0-9a-fA-F]{8}$/.test(r.localPsk)) return null;
  const bindId = typeof r.bindId === 'string' && /^[0-9a-fA-F]{16}$/.test(r.bindId) ? r.bindId : '0000000000000000';
  return { localPsk: r.localPsk, bindId };
}

export function writeBindRecord(dir: string, rec: { localPsk: string; bindId: string }): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, BIND_RECORD_FILE), JSON.stringify(rec));
}

/** The folder that holds a sim unit's memory under a data dir. */
export function simUnitDir(dataDir: string, unitId: string): string {
  return path.join(dataDir, 'sim-units', unitId.replace(/[^A-Za-z0-9._-]/g, '_'));
}

function fnv(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
