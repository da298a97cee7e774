/**
 * The `sim` transport: virtual units living in this process, each behind its own simulated link
 * (rate, latency, MTU, loss). Devices persist their memory under `stateDir` when given, so they
 * survive a station restart the way real units keep their flash. Knows no protocol: a factory
 * per protocol id builds the device side.
 */
import path from 'node:path';
import type { ProtocolId, SimLinkModel, UnitRef } from '../../contract/dto.js';
import { DeviceMemory } from './device-memory.js';
import type { VirtualDevice } from './virtual-device.js';
import { StationError } from '../errors.js';
import type { Link, Transport } from '../transport/types.js';
import { createSimLinkPair, DEFAULT_SIM_LINK } from '../transport/sim/sim-link.js';
import { abortError } from '../clock.js';

export type VirtualDeviceFactory = (unit: UnitRef, memory: DeviceMemory) => VirtualDevice;

export interface SimTransportOptions {
  stateDir?: string;
  factories: Partial<Record<ProtocolId, VirtualDeviceFactory>>;
  /** Link model defaults per protocol (e.g. 115200-baud serial for ymodem). */
  linkDefaults?: Partial<Record<ProtocolId, Partial<SimLinkModel>>>;
  /**
   * Protocols whose virtual units sit behind a real transport stack instead of a byte pipe
   * (BLE units behind noble's simulated bindings, networked units as real MQTT clients).
   */
  delegates?: Partial<Record<ProtocolId, Transport>>;
}

export class SimTransport implements Transport {
  readonly kind = 'sim' as const;
  private readonly devices = new Map<string, VirtualDevice>();

  constructor(private readonly opts: SimTransportOptions) {}

  resourceOf(unit: UnitRef): string {
    const d = this.opts.delegates?.[unit.protocol];
    if (d) return d.resourceOf(unit);
    return `sim:${unit.address}`; // each virtual unit has its own port
  }

  capacityOf(resource: string): number {
    for (const d of Object.values(this.opts.delegates ?? {})) {
      const c = d?.capacityOf?.(resource);
      if (c !== undefined) return c;
    }
    return 1;
  }

  /** The virtual device behind a unit (created on first use). */
  device(unit: UnitRef): VirtualDevice {
    const key = unit.sim?.instance ? `${unit.unitId}@${unit.sim.instance}` : unit.unitId;
    let d = this.devices.get(key);
    if (d) return d;
    const factory = this.opts.factories[unit.protocol];
    if (!factory) throw new StationError('TRANSPORT_NOT_FOUND', `no virtual device for protocol ${unit.protocol} yet`, { unitId: unit.unitId, retryable: false });
    const sim = unit.sim ?? { behaviour: 'accept', initialVersion: '1.0.0' };
    const dir = this.opts.stateDir ? path.join(this.opts.stateDir, key.replace(/[^A-Za-z0-9._-]/g, '_')) : undefined;
    const memory = new DeviceMemory({ version: sim.initialVersion, serialNumber: sim.serialNumber ?? unit.serialNumber ?? unit.unitId }, 16 * 1024 * 1024, dir);
    d = factory(unit, memory);
    this.devices.set(key, d);
    return d;
  }

  linkModel(unit: UnitRef): SimLinkModel {
    return { ...DEFAULT_SIM_LINK, ...this.opts.linkDefaults?.[unit.protocol], ...unit.sim?.link };
  }

  async open(unit: UnitRef, signal: AbortSignal): Promise<Link> {
    if (signal.aborted) throw signal.reason ?? abortError();
    const delegate = this.opts.delegates?.[unit.protocol];
    if (delegate) return delegate.open(unit, signal);
    const device = this.device(unit);
    const pair = createSimLinkPair(unit.unitId, this.linkModel(unit));
    device.attach(pair.device);
    return pair.host;
  }

  async dispose(): Promise<void> {
    for (const t of Object.values(this.opts.delegates ?? {})) await t?.dispose?.();
    for (const d of this.devices.values()) {
      d.dispose();
      d.memory.close();
    }
    this.devices.clear();
  }
}
