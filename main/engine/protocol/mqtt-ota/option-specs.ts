/**
 * The mqtt-ota option schema (issue 9 §9), shared by mqtt-ota-tencent and mqtt-ota-aliyun: every
 * key resolveMqttOtaOptions accepts, with type, default, unit, range and meaning. Pure data.
 */
import type { OptionSpec } from '../../../contract/dto.js';

export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'successPolicy', type: 'enum', default: 'version', values: ['done', 'version'], meaning: '`done`: Tencent `done` is final (policy A); `version`: wait for a report of the target version (policy B). Aliyun has no done.' },
  { key: 'reportTimeoutMs', type: 'number', default: 30_000, unit: 'ms', min: 100, max: 3_600_000, meaning: 'Wait for the unit’s version report before giving up.' },
  { key: 'startTimeoutMs', type: 'number', default: 30_000, unit: 'ms', min: 100, max: 3_600_000, meaning: 'Push → first download request or progress (T_start); then one re-push.' },
  { key: 'stallTimeoutMs', type: 'number', default: 60_000, unit: 'ms', min: 100, max: 3_600_000, meaning: 'No download progress for this long fails the attempt (T_stall).' },
  { key: 'installTimeoutMs', type: 'number', default: 600_000, unit: 'ms', min: 100, max: 24 * 3_600_000, meaning: 'Last byte → the device’s verdict or installation (T_install).' },
  { key: 'rebootTimeoutMs', type: 'number', default: 300_000, unit: 'ms', min: 100, max: 24 * 3_600_000, meaning: 'Installation → the report of the new version (T_reboot).' },
  { key: 'urlTtlMs', type: 'number', default: 600_000, unit: 'ms', min: 1000, max: 7 * 24 * 3_600_000, meaning: 'Lifetime of a signed firmware URL.' },
  { key: 'aliyunSignMethod', type: 'enum', default: 'Md5', values: ['Md5', 'MD5'], meaning: 'Aliyun `signMethod` spelling (SDK code: Md5, current docs: MD5).' },
  { key: 'aliyunPushWithoutSubscribe', type: 'boolean', default: false, meaning: 'Aliyun 4.x units may never SUBSCRIBE: push right after the version report.' },
  { key: 'attachedAliyunPushDelayMs', type: 'number', default: 1000, unit: 'ms', min: 0, max: 600_000, meaning: 'On an external broker (no SUBSCRIBE visible): wait this long after an Aliyun report before pushing.' },
  { key: 'module', type: 'string|null', default: null, meaning: 'Aliyun `module` name; null = the default module.' },
];
