/**
 * Protocol drivers by id. A protocol that has not landed yet is reported as such, per unit.
 */
import type { ProtocolId } from '../../contract/dto.js';
import { StationError } from '../errors.js';
import type { ProtocolDriver } from './types.js';
import { ymodemDriver } from './ymodem/index.js';
import { llsyncDriver } from './llsync-ota/index.js';
import { quecthingSotaDriver } from './quecthing-sota/index.js';
import { mqttOtaAliyunDriver, mqttOtaTencentDriver } from './mqtt-ota/index.js';

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
