/**
 * Virtual networked units for `sim:mqtt-ota-*` targets: one MqttVirtualDevice per unit, a real
 * MQTT/HTTP client of the sim station, provisioned with a deterministic secret (the sim "factory"
 * provisions unit and station alike), its memory persisted under the data dir. Sim behaviours
 * map to device profiles and device faults here; the transport only calls `ensure`.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import type { SimBehaviour, UnitRef } from '../../contract/dto.js';
import type { NetDeviceId, SimCloudAccess, SimNetUnits } from '../transport/types.js';
import { DeviceMemory } from './device-memory.js';
import { MqttVirtualDevice, type MqttDeviceFaults, type MqttDeviceProfile } from './mqtt-device.js';

/** The fraction of the image a `disconnect` / `power_cut` unit stores before its download breaks. */
const SIM_CUT_FRACTION = 0.4;
const SIM_BURN_SLOW_MS = 1500;
/** Sim units report progress a little faster than the SDK's 1 s so short sim downloads show it. */
const SIM_PROGRESS_INTERVAL_MS = 200;

/** The sim behaviours the virtual networked units implement (targets.ts lists them per protocol). */
export const MQTT_SIM_BEHAVIOURS = ['tencent_sample', 'aliyun_example', 'power_cut', 'power_cut_at_end', 'wrong_secret', 'psk_wrong_key'] as const satisfies readonly SimBehaviour[];

export interface MqttSimSetup {
  profile: MqttDeviceProfile;
  faults: MqttDeviceFaults;
  /** Connect through the TLS-PSK listener. */
  psk: boolean;
}

/** A sim behaviour → the device profile and faults of the virtual unit. */
export function mqttSimSetup(b: SimBehaviour | undefined): MqttSimSetup {
  const plain = (faults: MqttDeviceFaults, profile: MqttDeviceProfile = 'product'): MqttSimSetup => ({ profile, faults, psk: false });
  switch (b) {
    case 'disconnect':
      return plain({ cutFraction: SIM_CUT_FRACTION, cutTimes: 1 });
    case 'crc_failure':
      return plain({ corruptByteAt: 100 });
    case 'crc_failure_once':
      return plain({ corruptByteAt: 100, corruptTimes: 1 });
    case 'reboot_timeout':
      return plain({ rebootNever: true });
    case 'slow_flash':
      return plain({ burnMs: SIM_BURN_SLOW_MS });
    case 'tencent_sample':
      return plain({}, 'tencent-sample');
    case 'aliyun_example':
      return plain({}, 'aliyun-example');
    case 'power_cut':
      return plain({ powerCutFraction: SIM_CUT_FRACTION, powerCutTimes: 1 });
    case 'power_cut_at_end':
      return plain({ powerCutFraction: 1, powerCutTimes: 1 });
    case 'wrong_secret':
      return plain({ wrongSecret: true });
    case 'psk_wrong_key':
      return { profile: 'product', faults: { pskWrongKey: true }, psk: true };
    default:
      return plain({});
  }
}

export class MqttSimUnits implements SimNetUnits {
  private readonly devices = new Map<string, MqttVirtualDevice>();
  private readonly starting = new Map<string, Promise<void>>();

  /** @param stateDir where each unit's memory persists (survives a station restart like flash). */
  constructor(private readonly stateDir?: string) {}

  ensure(unit: UnitRef, id: NetDeviceId, cloud: SimCloudAccess): Promise<void> {
    let p = this.starting.get(unit.unitId);
    if (!p) {
      p = this.create(unit, id, cloud);
      this.starting.set(unit.unitId, p);
    }
    return p;
  }

  private async create(unit: UnitRef, id: NetDeviceId, cloud: SimCloudAccess): Promise<void> {
    const seed = crypto.createHash('sha256').update(`flashline-sim-secret:${unit.unitId}`).digest();
    const secret = id.dialect === 'tencent' ? seed.subarray(0, 16).toString('base64') : seed.subarray(0, 16).toString('hex');
    cloud.addCredential({ ...id, secret });
    const sim = unit.sim ?? { behaviour: 'accept' as const, initialVersion: '1.0.0' };
    const setup = mqttSimSetup(sim.behaviour);
    if (setup.psk && !cloud.pskPort) throw new Error('the sim station has no TLS-PSK listener');
    const dir = this.stateDir ? path.join(this.stateDir, unit.unitId.replace(/[^A-Za-z0-9._-]/g, '_')) : undefined;
    const memory = new DeviceMemory({ version: sim.initialVersion, serialNumber: sim.serialNumber ?? unit.serialNumber ?? unit.unitId }, 16 * 1024 * 1024, dir);
    const dev = new MqttVirtualDevice({
      ...id,
      secret,
      brokerUrl: cloud.mqttUrl,
      pskPort: setup.psk ? cloud.pskPort : undefined,
      memory,
      // Built for the sim firmware port, as real units are built for 80: a URL port breaks them.
      httpPort: cloud.httpPort,
      profile: setup.profile,
      faults: setup.faults,
      progressIntervalMs: SIM_PROGRESS_INTERVAL_MS,
    });
    this.devices.set(unit.unitId, dev);
    await dev.start();
  }

  device(unitId: string): MqttVirtualDevice | undefined {
    return this.devices.get(unitId);
  }

  async dispose(): Promise<void> {
    await Promise.allSettled([...this.starting.values()]);
    for (const d of this.devices.values()) {
      await d.stop();
      d.memory.close();
    }
    this.devices.clear();
    this.starting.clear();
  }
}
