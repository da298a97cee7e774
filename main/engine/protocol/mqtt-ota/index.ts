/**
 * The two mqtt-ota drivers: the station as the Tencent IoT Hub/Explorer cloud and as the Aliyun
 * Link Kit cloud. Not station-resumable: the *device* resumes from its own record with an HTTP
 * Range request (§5.4), which the session shows as progress. Device reboots are seen on the same
 * MqttLink (offline/online), so confirm needs no reopen.
 */
import type { ProtocolDriver } from '../types.js';
import { MqttOtaSession } from './session.js';

export const mqttOtaTencentDriver: ProtocolDriver = {
  id: 'mqtt-ota-tencent',
  resumable: false,
  reconnectForConfirm: false,
  createSession: (ctx) => new MqttOtaSession(ctx, 'tencent'),
};

export const mqttOtaAliyunDriver: ProtocolDriver = {
  id: 'mqtt-ota-aliyun',
  resumable: false,
  reconnectForConfirm: false,
  createSession: (ctx) => new MqttOtaSession(ctx, 'aliyun'),
};

export { MqttOtaSession } from './session.js';
export { MQTT_OTA_DEFAULTS, resolveMqttOtaOptions } from './options.js';
export type { MqttOtaOptions } from './options.js';
