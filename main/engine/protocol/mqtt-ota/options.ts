/**
 * The mqtt-ota product options: the success policy, timers and UNSURE points of mqtt-ota.md
 * (§9, §13) as per-product options with the spec's suggested defaults, one schema (OptionSpec)
 * per option; unknown keys and out-of-range values are refused, never ignored. Pure data.
 */
import type { OptionSpec } from '../../../contract/dto.js';
import { StationError } from '../../errors.js';

export interface MqttOtaOptions {
  /** §9: 'done' = Tencent `done` is final (policy A); 'version' = wait for a report of the target (policy B). Aliyun: 'version' only. */
  successPolicy: 'done' | 'version';
  /** Wait for a version report before giving up (devices report on connect and after a failure). */
  reportTimeoutMs: number;
  /** Wait this long for a fresh report before pushing on the last one the unit sent (units that report once). */
  freshReportWaitMs: number;
  /** §9 T_start: push → first HTTP request or progress; then one re-push. */
  startTimeoutMs: number;
  /** §9 T_stall: no new device-confirmed progress while downloading (also: offline this long mid-download). */
  stallTimeoutMs: number;
  /** §9 T_install: the device has the whole image → its verdict (MD5 check, burning/done). */
  installTimeoutMs: number;
  /** §9 T_reboot: installation → the report of the new version. */
  rebootTimeoutMs: number;
  /** Lifetime of a signed firmware URL. */
  urlTtlMs: number;
  /** §3.1: the unit's HTTP client honours a `:port` in the firmware URL (not the Tencent C SDK, not iotkit 3.x). */
  urlPortAllowed: boolean;
  /** §13.3: Aliyun `signMethod` spelling ('Md5' in the SDK code, 'MD5' in current docs). */
  aliyunSignMethod: 'Md5' | 'MD5';
  /** §2.5 / §9 P2: Aliyun 4.x devices may never SUBSCRIBE: push after the report without waiting. */
  aliyunPushWithoutSubscribe: boolean;
  /** Attached to an external broker the station cannot see SUBSCRIBE: wait this long after an Aliyun report. */
  attachedAliyunPushDelayMs: number;
  /** Aliyun `module` (absent = the default module). */
  module: string | null;
}

const DAY_MS = 86_400_000;

/** The schema `flashline options mqtt-ota-tencent|aliyun` prints; validation follows it. */
export const MQTT_OTA_OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'successPolicy', type: 'enum', default: 'version', values: ['version', 'done'], meaning: 'How a unit passes: "version" = it reports the target version after rebooting (§9 policy B); "done" = a Tencent `done` report is final (policy A: the SDK sample, products that do not reboot). Aliyun has no "done": refused there. Aliases: version-after-reboot, done-is-success.' },
  { key: 'reportTimeoutMs', type: 'number', default: 30_000, unit: 'ms', min: 1, max: DAY_MS, meaning: 'How long to wait for the unit to report its version (at connect, after a failure) before NET_NO_VERSION_REPORT.' },
  { key: 'freshReportWaitMs', type: 'number', default: 3_000, unit: 'ms', min: 0, max: DAY_MS, meaning: 'An online unit whose only report was already used (units report once): wait this long for a fresh one, then push on the last version it reported.' },
  { key: 'startTimeoutMs', type: 'number', default: 30_000, unit: 'ms', min: 1, max: DAY_MS, meaning: '§9 T_start: push → first download request or progress report; one re-push, then NET_PUSH_IGNORED.' },
  { key: 'stallTimeoutMs', type: 'number', default: 60_000, unit: 'ms', min: 1, max: DAY_MS, meaning: '§9 T_stall: no new progress confirmed by the device (percent/step, Range offset) → NET_DOWNLOAD_STALLED; offline this long mid-download → NET_DOWNLOAD_FAILED.' },
  { key: 'installTimeoutMs', type: 'number', default: 600_000, unit: 'ms', min: 1, max: DAY_MS, meaning: '§9 T_install: the device has the whole image → its verdict (Tencent burning/done, Aliyun reboot).' },
  { key: 'rebootTimeoutMs', type: 'number', default: 300_000, unit: 'ms', min: 1, max: DAY_MS, meaning: '§9 T_reboot: installed → the report of the new version (policy "version"), else REBOOT_TIMEOUT.' },
  { key: 'urlTtlMs', type: 'number', default: 600_000, unit: 'ms', min: 0, max: DAY_MS, meaning: 'Lifetime of a signed firmware URL; a stale URL gets HTTP 403 (Tencent −3, NET_URL_EXPIRED).' },
  { key: 'urlPortAllowed', type: 'boolean', default: false, meaning: '§3.1: the unit\'s HTTP client honours a ":port" in the firmware URL. False for the Tencent C SDK and Aliyun iotkit 3.x (they connect to 80 and fail on "host:port"): a station whose URLs carry a port is refused (CONFIG_INVALID).' },
  { key: 'aliyunSignMethod', type: 'enum', default: 'Md5', values: ['Md5', 'MD5'], meaning: '§13.3: spelling of data.signMethod in Aliyun pushes (Md5 in the SDK code, MD5 in current docs).' },
  { key: 'aliyunPushWithoutSubscribe', type: 'boolean', default: false, meaning: '§2.5: push to an Aliyun unit right after its version report without waiting for its SUBSCRIBE (4.x units that never subscribe).' },
  { key: 'attachedAliyunPushDelayMs', type: 'number', default: 1000, unit: 'ms', min: 0, max: 60_000, meaning: 'Attach mode (external broker, SUBSCRIBE invisible): wait this long after an Aliyun version report before pushing.' },
  { key: 'module', type: 'string|null', default: null, meaning: 'Aliyun firmware module named in pushes (null = the default module).' },
];

export const MQTT_OTA_DEFAULTS: Readonly<MqttOtaOptions> = Object.freeze(Object.fromEntries(MQTT_OTA_OPTION_SPECS.map((s) => [s.key, s.default])) as unknown as MqttOtaOptions);

const POLICY_ALIASES: Record<string, 'done' | 'version'> = { done: 'done', version: 'version', 'done-is-success': 'done', 'version-after-reboot': 'version' };

/** Check and default one product's options for a dialect (Aliyun refuses the "done" policy). */
export function resolveMqttOtaOptions(raw: Record<string, unknown> = {}, dialect?: 'tencent' | 'aliyun'): MqttOtaOptions {
  const bad = (k: string, why: string): never => {
    throw new StationError('CONFIG_INVALID', `mqtt-ota option ${k}: ${why}`, { retryable: false });
  };
  const o: Record<string, unknown> = { ...MQTT_OTA_DEFAULTS };
  const specs = new Map(MQTT_OTA_OPTION_SPECS.map((s) => [s.key, s]));
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (!specs.has(k)) bad(k, `unknown option (known: ${[...specs.keys()].join(', ')})`);
    o[k] = v;
  }
  for (const s of MQTT_OTA_OPTION_SPECS) {
    const v = o[s.key];
    if (s.type === 'number' && (typeof v !== 'number' || !Number.isFinite(v) || v < (s.min ?? 0) || v > (s.max ?? Number.MAX_SAFE_INTEGER))) bad(s.key, `must be a number ${s.min ?? 0}..${s.max} ${s.unit ?? ''}`.trim());
    if (s.type === 'boolean' && typeof v !== 'boolean') bad(s.key, 'must be true or false');
    if (s.type === 'string|null' && v !== null && (typeof v !== 'string' || v.length === 0 || v.length > 64)) bad(s.key, 'must be null or a string of 1..64 characters');
  }
  const policy = typeof o.successPolicy === 'string' ? POLICY_ALIASES[o.successPolicy] : undefined;
  if (!policy) bad('successPolicy', 'must be version or done');
  o.successPolicy = policy;
  if (dialect === 'aliyun' && policy === 'done') {
    bad('successPolicy', 'Aliyun units have no "done" report (step 100 only means downloaded): a unit passes when it reports the target version after rebooting (policy version)');
  }
  if (o.aliyunSignMethod !== 'Md5' && o.aliyunSignMethod !== 'MD5') bad('aliyunSignMethod', 'must be Md5 or MD5');
  return o as unknown as MqttOtaOptions;
}
