/**
 * Protocol drivers and their option schemas by id. A protocol that has not landed yet is
 * reported as such, per unit.
 */
import type { OptionSpec, ProtocolId } from '../../contract/dto.js';
import { StationError } from '../errors.js';
import type { PolicyChecks, ProtocolDriver } from './types.js';
import { ymodemDriver } from './ymodem/index.js';
import { llsyncDriver } from './llsync-ota/index.js';
import { quecthingSotaDriver } from './quecthing-sota/index.js';
import { mqttOtaAliyunDriver, mqttOtaTencentDriver } from './mqtt-ota/index.js';
import { OPTION_SPECS as YMODEM_OPTION_SPECS } from './ymodem/option-specs.js';
import { OPTION_SPECS as LLSYNC_OPTION_SPECS } from './llsync-ota/option-specs.js';
import { OPTION_SPECS as QUECTHING_OPTION_SPECS } from './quecthing-sota/option-specs.js';
import { OPTION_SPECS as MQTT_OPTION_SPECS } from './mqtt-ota/option-specs.js';

const DRIVERS: Partial<Record<ProtocolId, ProtocolDriver>> = {
  ymodem: ymodemDriver,
  'llsync-ota': llsyncDriver,
  'quecthing-sota': quecthingSotaDriver,
  'mqtt-ota-tencent': mqttOtaTencentDriver,
  'mqtt-ota-aliyun': mqttOtaAliyunDriver,
};

export function getDriver(id: ProtocolId): ProtocolDriver {
  const d = DRIVERS[id];
  if (!d) throw new StationError('CONFIG_INVALID', `protocol ${id} is not available in this build yet`);
  return d;
}

export function hasDriver(id: ProtocolId): boolean {
  return DRIVERS[id] !== undefined;
}

const OPTION_SPECS: Record<ProtocolId, readonly OptionSpec[]> = {
  ymodem: YMODEM_OPTION_SPECS,
  'llsync-ota': LLSYNC_OPTION_SPECS,
  'quecthing-sota': QUECTHING_OPTION_SPECS,
  'mqtt-ota-tencent': MQTT_OPTION_SPECS,
  'mqtt-ota-aliyun': MQTT_OPTION_SPECS,
};

/** The option schema of a protocol (issue 9 §9): what `--opt PROTOCOL.KEY=…` and profiles may set. */
export function optionSpecsOf(id: ProtocolId): readonly OptionSpec[] {
  const s = OPTION_SPECS[id];
  if (!s) throw new StationError('CONFIG_INVALID', `unknown protocol "${id}"`);
  return s;
}

/**
 * Plan policies a protocol can check (issue 9 §8) when its driver does not say itself. A
 * YMODEM unit reports its battery only through a console query; a QuecThing MCU is handed the
 * limits and enforces them (applyPolicy in the driver); LLSync units refuse on their own
 * battery limit, never on the plan's; MQTT units report neither.
 */
const POLICY_CHECKS: Record<ProtocolId, (o: Record<string, unknown>) => PolicyChecks> = {
  ymodem: (o) => ({ battery: typeof o.batteryQuery === 'string' && o.batteryQuery.length > 0, rssi: false }),
  // The station passes the plan's limits to the MCU in event 10700 (applyPolicy); the MCU refuses below them.
  'quecthing-sota': () => ({ battery: false, rssi: false, deviceEnforces: { battery: true, rssi: true } }),
  'llsync-ota': () => ({ battery: false, rssi: false }),
  'mqtt-ota-tencent': () => ({ battery: false, rssi: false }),
  'mqtt-ota-aliyun': () => ({ battery: false, rssi: false }),
};

export function policyChecksOf(id: ProtocolId, options: Record<string, unknown>): PolicyChecks {
  const d = DRIVERS[id];
  return d?.canCheck ? d.canCheck(options) : POLICY_CHECKS[id](options);
}
