/**
 * The mqtt-ota option schema (issue 9 §9), shared by mqtt-ota-tencent and mqtt-ota-aliyun: every
 * key resolveMqttOtaOptions accepts, with type, default, unit, range and meaning. The resolver
 * derives its defaults and checks from this same list (options.ts). Pure data.
 */
import type { OptionSpec } from '../../../contract/dto.js';
import { MQTT_OTA_OPTION_SPECS } from './options.js';

export const OPTION_SPECS: readonly OptionSpec[] = MQTT_OTA_OPTION_SPECS;
