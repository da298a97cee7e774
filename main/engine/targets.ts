/**
 * The CLI's target syntax → units. Pure.
 *   serial:PATH[@BAUD]:PROTOCOL    ble:ID:PROTOCOL    mqtt:PRODUCT/DEVICE:PROTOCOL
 *   sim:PROTOCOL:COUNT[:BEHAVIOUR]  (virtual units; BEHAVIOUR defaults to accept)
 * The protocol is always the last field, so paths and MACs may contain ':'.
 */
import type { ProtocolId, SimBehaviour, UnitRef } from '../contract/dto.js';
import { PROTOCOL_IDS } from '../contract/dto.js';
import { StationError } from './errors.js';

/** Behaviours every protocol's virtual device implements (DESIGN.md "Simulation"). */
export const COMMON_SIM_BEHAVIOURS: readonly SimBehaviour[] = ['accept', 'refuse_version', 'low_battery', 'crc_failure', 'crc_failure_once', 'slow_flash', 'reboot_timeout', 'brick', 'disconnect'];
/** Knobs only some protocols' virtual devices implement (issue 4 §2 for the QuecThing MCU). */
export const PROTOCOL_SIM_BEHAVIOURS: Partial<Record<ProtocolId, readonly SimBehaviour[]>> = {
  'quecthing-sota': ['read_outside', 'stop_reading', 'wrong_version', 'reannounce_old', 'garbage', 'skip_update3', 'qthtools', 'announce_after_register'],
  // issue 9 §5: ST's AN4657 IAP loader as shipped / with the size-check fix.
  ymodem: ['st_iap', 'st_iap_fixed'],
  'mqtt-ota-tencent': ['tencent_sample', 'power_cut', 'power_cut_at_end', 'wrong_secret', 'psk_wrong_key'],
  'mqtt-ota-aliyun': ['aliyun_example', 'power_cut', 'wrong_secret'],
};
export const SIM_BEHAVIOURS: readonly SimBehaviour[] = [...new Set([...COMMON_SIM_BEHAVIOURS, ...Object.values(PROTOCOL_SIM_BEHAVIOURS).flat()])];

/**
 * Common knobs a protocol's virtual device does not have: the MQTT device SDKs never refuse a
 * pushed version or report a battery, and a networked unit has no bootloader-only mode.
 */
const UNSUPPORTED_SIM_BEHAVIOURS: Partial<Record<ProtocolId, readonly SimBehaviour[]>> = {
  'mqtt-ota-tencent': ['refuse_version', 'low_battery', 'brick'],
  'mqtt-ota-aliyun': ['refuse_version', 'low_battery', 'brick'],
};

/** The behaviours a protocol's virtual device implements. */
export function simBehavioursOf(protocol: ProtocolId): readonly SimBehaviour[] {
  const missing = UNSUPPORTED_SIM_BEHAVIOURS[protocol] ?? [];
  return [...COMMON_SIM_BEHAVIOURS.filter((b) => !missing.includes(b)), ...(PROTOCOL_SIM_BEHAVIOURS[protocol] ?? [])];
}

/**
 * Why a sim unit cannot run as asked, or null. A knob the protocol's virtual device does not
 * implement would otherwise act as `accept` and "pass" a fault test; the engine fails that unit.
 */
export function simBehaviourProblem(unit: Pick<UnitRef, 'protocol' | 'sim'>): string | null {
  const b = unit.sim?.behaviour;
  if (b === undefined) return null;
  const supported = simBehavioursOf(unit.protocol);
  if (supported.includes(b)) return null;
  return `sim behaviour "${b}" is not implemented by the ${unit.protocol} virtual device (it implements: ${supported.join(', ')})`;
}
const MAX_SIM_UNITS = 2000;

function isProtocol(s: string): s is ProtocolId {
  return (PROTOCOL_IDS as readonly string[]).includes(s);
}

function bad(target: string, why: string): StationError {
  return new StationError('CONFIG_INVALID', `target "${target}": ${why}`);
}

export interface TargetContext {
  /** Next free index per sim protocol, so several sim targets never reuse a unit id. */
  simCounters: Map<string, number>;
  simInitialVersion: string;
}

export function newTargetContext(simInitialVersion = '1.0.0'): TargetContext {
  return { simCounters: new Map(), simInitialVersion };
}

export function parseTarget(target: string, ctx: TargetContext = newTargetContext()): UnitRef[] {
  const colon = target.indexOf(':');
  if (colon < 0) throw bad(target, 'expected KIND:…:PROTOCOL (kinds: serial, ble, mqtt, sim)');
  const kind = target.slice(0, colon);
  const rest = target.slice(colon + 1);
  if (kind === 'sim') {
    const [protocol, countText, behaviour = 'accept', ...extra] = rest.split(':');
    if (!protocol || !isProtocol(protocol)) throw bad(target, `unknown protocol "${protocol ?? ''}" (one of ${PROTOCOL_IDS.join(', ')})`);
    const count = Number(countText);
    if (!Number.isInteger(count) || count < 1 || count > MAX_SIM_UNITS) throw bad(target, `count must be 1..${MAX_SIM_UNITS}`);
    if (!(SIM_BEHAVIOURS as readonly string[]).includes(behaviour)) throw bad(target, `unknown behaviour "${behaviour}" (one of ${SIM_BEHAVIOURS.join(', ')})`);
    if (extra.length) throw bad(target, 'too many fields');
    const start = ctx.simCounters.get(protocol) ?? 1;
    ctx.simCounters.set(protocol, start + count);
    return Array.from({ length: count }, (_, i) => {
      const n = start + i;
      const sn = `SIM${protocol.replace(/[^a-z]/g, '').slice(0, 4).toUpperCase()}${String(n).padStart(4, '0')}`;
      return {
        unitId: `sim:${protocol}:${n}`,
        transport: 'sim',
        protocol,
        address: `${protocol}:${n}`,
        serialNumber: sn,
        name: `${protocol} #${n}`,
        sim: { behaviour: behaviour as SimBehaviour, initialVersion: ctx.simInitialVersion, serialNumber: sn },
      } satisfies UnitRef;
    });
  }
  const last = rest.lastIndexOf(':');
  if (last <= 0) throw bad(target, 'missing :PROTOCOL at the end');
  const addr = rest.slice(0, last);
  const protocol = rest.slice(last + 1);
  if (!isProtocol(protocol)) throw bad(target, `unknown protocol "${protocol}" (one of ${PROTOCOL_IDS.join(', ')})`);
  if (kind === 'serial') {
    const m = /^(.+?)(?:@(\d+))?$/.exec(addr);
    const path = m?.[1] ?? '';
    const baud = m?.[2] ? Number(m[2]) : 115200;
    if (!path) throw bad(target, 'missing port path');
    if (baud < 300 || baud > 12_000_000) throw bad(target, 'baud rate out of range');
    return [{ unitId: `serial:${path}`, transport: 'serial', protocol, address: path, baudRate: baud }];
  }
  if (kind === 'ble') {
    if (!/^[A-Za-z0-9:_-]{1,64}$/.test(addr)) throw bad(target, 'BLE id must be a MAC or a peripheral id');
    return [{ unitId: `ble:${addr.toLowerCase()}`, transport: 'ble', protocol, address: addr.toLowerCase() }];
  }
  if (kind === 'mqtt') {
    if (!/^[A-Za-z0-9_-]+\/[A-Za-z0-9_.@-]+$/.test(addr)) throw bad(target, 'expected PRODUCT/DEVICE');
    return [{ unitId: `mqtt:${addr}`, transport: 'net', protocol, address: addr }];
  }
  throw bad(target, `unknown kind "${kind}" (serial, ble, mqtt or sim)`);
}

export function parseTargets(targets: string[], simInitialVersion = '1.0.0'): UnitRef[] {
  const ctx = newTargetContext(simInitialVersion);
  const units = targets.flatMap((t) => parseTarget(t, ctx));
  const seen = new Set<string>();
  for (const u of units) {
    if (seen.has(u.unitId)) throw new StationError('CONFIG_INVALID', `unit ${u.unitId} is listed twice`);
    seen.add(u.unitId);
  }
  return units;
}
