/**
 * The mqtt-ota product profile: the success policy, timers and UNSURE points of mqtt-ota.md
 * (§9, §13) as per-product options with the spec's suggested defaults. Pure data; no I/O.
 */
import { StationError } from '../../errors.js';

export interface MqttOtaOptions {
  /** §9: 'done' = Tencent `done` is final (policy A); 'version' = wait for a report of the target (policy B). Aliyun: always 'version'. */
  successPolicy: 'done' | 'version';
  /** Wait for a version report before giving up (devices report on connect and after a failure). */
  reportTimeoutMs: number;
  /** §9 T_start: push → first HTTP request or progress; then one re-push. */
  startTimeoutMs: number;
  /** §9 T_stall: no new bytes served while downloading. */
  stallTimeoutMs: number;
  /** §9 T_install: last byte → the device's verdict/installation. */
  installTimeoutMs: number;
  /** §9 T_reboot: installation → the report of the new version. */
  rebootTimeoutMs: number;
  /** Lifetime of a signed firmware URL. */
  urlTtlMs: number;
  /** §13.3: Aliyun `signMethod` spelling ('Md5' in the SDK code, 'MD5' in current docs). */
  aliyunSignMethod: 'Md5' | 'MD5';
  /** §2.5 / §9 P2: Aliyun 4.x devices may never SUBSCRIBE: push after the report without waiting. */
  aliyunPushWithoutSubscribe: boolean;
  /** Attached to an external broker the station cannot see SUBSCRIBE: wait this long after an Aliyun report. */
  attachedAliyunPushDelayMs: number;
  /** Aliyun `module` (absent = the default module). */
  module: string | null;
}

export const MQTT_OTA_DEFAULTS: Readonly<MqttOtaOptions> = Object.freeze({
  successPolicy: 'version',
  reportTimeoutMs: 30_000,
  startTimeoutMs: 30_000, // §9 T_start
  stallTimeoutMs: 60_000, // §9 T_stall
  installTimeoutMs: 600_000, // §9 T_install
  rebootTimeoutMs: 300_000, // §9 T_reboot
  urlTtlMs: 600_000,
  aliyunSignMethod: 'Md5',
  aliyunPushWithoutSubscribe: false,
  attachedAliyunPushDelayMs: 1000,
  module: null,
});

export function resolveMqttOtaOptions(raw: Record<string, unknown> = {}): MqttOtaOptions {
  const o: Record<string, unknown> = { ...MQTT_OTA_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && k in MQTT_OTA_DEFAULTS) o[k] = v;
  const bad = (k: string, why: string): never => {
    throw new StationError('CONFIG_INVALID', `mqtt-ota option ${k}: ${why}`);
  };
  for (const [k, v] of Object.entries(MQTT_OTA_DEFAULTS)) {
    if (typeof v === 'number' && (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k] as number) < 0)) bad(k, 'must be a number ≥ 0');
    if (typeof v === 'boolean' && typeof o[k] !== 'boolean') bad(k, 'must be true or false');
  }
  if (o.successPolicy !== 'done' && o.successPolicy !== 'version') bad('successPolicy', 'must be done or version');
  if (o.aliyunSignMethod !== 'Md5' && o.aliyunSignMethod !== 'MD5') bad('aliyunSignMethod', 'must be Md5 or MD5');
  if (o.module !== null && typeof o.module !== 'string') bad('module', 'must be null or a string');
  return o as unknown as MqttOtaOptions;
}
