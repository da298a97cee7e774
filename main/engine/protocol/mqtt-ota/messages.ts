/**
 * The mqtt-ota message codec for both dialects (mqtt-ota.md §5, §8): topic names, station →
 * device JSON builders, and device → station parsers returning tagged results. Pure: no MQTT
 * client, no timers. Device result codes map onto station error codes here (§5.6, §8.2).
 */
import type { StationErrorCode } from '../../errors.js';

export type Dialect = 'tencent' | 'aliyun';

export const topics = {
  tencentReport: (pid: string, dn: string) => `$ota/report/${pid}/${dn}`,
  tencentUpdate: (pid: string, dn: string) => `$ota/update/${pid}/${dn}`,
  aliyunInform: (pk: string, dn: string) => `/ota/device/inform/${pk}/${dn}`,
  aliyunUpgrade: (pk: string, dn: string) => `/ota/device/upgrade/${pk}/${dn}`,
  aliyunProgress: (pk: string, dn: string) => `/ota/device/progress/${pk}/${dn}`,
  aliyunRequest: (pk: string, dn: string) => `/ota/device/request/${pk}/${dn}`,
  aliyunGet: (pk: string, dn: string) => `/sys/${pk}/${dn}/thing/ota/firmware/get`,
  aliyunGetReply: (pk: string, dn: string) => `/sys/${pk}/${dn}/thing/ota/firmware/get_reply`,
};

/** The uplink filters a station attached to an existing broker subscribes to (all spell out `$ota/`, §2.3). */
export const ATTACH_UPLINK_FILTERS = [
  '$ota/report/+/+',
  '/ota/device/inform/+/+',
  '/ota/device/progress/+/+',
  '/ota/device/request/+/+',
  '/sys/+/+/thing/ota/firmware/get',
];

/** Which device an OTA topic belongs to. */
export function deviceOfTopic(topic: string): { dialect: Dialect; product: string; device: string } | null {
  let m = /^\$ota\/(?:report|update)\/([^/]+)\/([^/]+)$/.exec(topic);
  if (m) return { dialect: 'tencent', product: m[1]!, device: m[2]! };
  m = /^\/ota\/device\/(?:inform|upgrade|progress|request)\/([^/]+)\/([^/]+)$/.exec(topic);
  if (m) return { dialect: 'aliyun', product: m[1]!, device: m[2]! };
  m = /^\/sys\/([^/]+)\/([^/]+)\/thing\/ota\/firmware\/get(?:_reply)?$/.exec(topic);
  if (m) return { dialect: 'aliyun', product: m[1]!, device: m[2]! };
  return null;
}

export interface PushInfo {
  version: string;
  url: string;
  md5: string;
  sizeBytes: number;
  module?: string;
}

// ---- station → device ------------------------------------------------------------------

/** §5.3a. Always result 0: a non-zero value makes the SDK ignore pushes until its next report. */
export function tencentReportRsp(version: string): string {
  return JSON.stringify({ type: 'report_version_rsp', result_code: 0, result_msg: 'success', version });
}

/** §5.3b: flat; md5 lowercase; file_size an integer; `/` never escaped (JSON.stringify does not). */
export function tencentPush(p: PushInfo): string {
  return JSON.stringify({ type: 'update_firmware', version: p.version, url: p.url, md5sum: p.md5.toLowerCase(), file_size: p.sizeBytes });
}

export type AliyunSignMethodName = 'Md5' | 'MD5';

/** §8.3: the union of what v3 and 4.x read. */
export function aliyunPushData(p: PushInfo, signMethod: AliyunSignMethodName = 'Md5', extData?: Record<string, string>): Record<string, unknown> {
  const data: Record<string, unknown> = { version: p.version, size: p.sizeBytes, url: p.url, md5: p.md5.toLowerCase(), sign: p.md5.toLowerCase(), signMethod };
  if (p.module) data.module = p.module;
  if (extData) data.extData = extData;
  return data;
}

export function aliyunPush(p: PushInfo, id: number, signMethod: AliyunSignMethodName = 'Md5'): string {
  return JSON.stringify({ code: '1000', message: 'success', id, data: aliyunPushData(p, signMethod) });
}

/** §8.3 pull answer; `data: {}` when there is nothing to offer. */
export function aliyunGetReply(id: string | number | undefined, data: Record<string, unknown>): string {
  return JSON.stringify({ id: id ?? 0, code: 200, message: 'success', method: 'thing.ota.firmware.get', data });
}

// ---- device → station ------------------------------------------------------------------

export type Uplink =
  | { kind: 'version'; version: string; id?: string | number; module?: string }
  | { kind: 'progress'; state: 'downloading'; percent: number; version?: string }
  | { kind: 'progress'; state: 'burning' | 'done' | 'updating'; version?: string }
  | { kind: 'fail'; code: number; version?: string; message?: string }
  /** Aliyun step: 0..100 progress, negative = failure. */
  | { kind: 'step'; step: number; desc?: string; module?: string }
  | { kind: 'pull'; id?: string | number; module?: string }
  | { kind: 'other'; why: string };

function int(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  return null;
}

function parseJson(payload: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(payload);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** §5.2: `report_version` / `report_progress`; numbers may be strings (parse leniently). */
export function parseTencentUplink(payload: string): Uplink {
  const o = parseJson(payload);
  if (!o) return { kind: 'other', why: 'not a JSON object' };
  const report = (o.report && typeof o.report === 'object' ? o.report : {}) as Record<string, unknown>;
  const version = typeof report.version === 'string' ? report.version : undefined;
  if (o.type === 'report_progress') {
    const pr = (report.progress && typeof report.progress === 'object' ? report.progress : {}) as Record<string, unknown>;
    const state = pr.state;
    if (state === 'downloading') return { kind: 'progress', state, percent: int(pr.percent) ?? 0, version };
    if (state === 'burning' || state === 'done' || state === 'updating') return { kind: 'progress', state, version };
    if (state === 'fail') return { kind: 'fail', code: int(pr.result_code) ?? -5, version, message: typeof pr.result_msg === 'string' ? pr.result_msg : undefined };
    return { kind: 'other', why: `unknown progress state ${String(state)}` };
  }
  // §5.2a: unknown types carrying report.version are handled like a version report.
  if (version !== undefined && (o.type === 'report_version' || typeof o.type === 'string')) return { kind: 'version', version };
  return { kind: 'other', why: `unknown type ${String(o.type)}` };
}

/** §8.2 by topic: inform → version, progress → step, firmware/get or request → pull. */
export function parseAliyunUplink(topic: string, payload: string): Uplink {
  const o = parseJson(payload);
  if (!o) return { kind: 'other', why: 'not a JSON object' };
  const params = (o.params && typeof o.params === 'object' ? o.params : {}) as Record<string, unknown>;
  const id = typeof o.id === 'string' || typeof o.id === 'number' ? o.id : undefined;
  const module = typeof params.module === 'string' ? params.module : undefined;
  if (topic.startsWith('/ota/device/inform/')) {
    if (typeof params.version !== 'string') return { kind: 'other', why: 'inform without params.version' };
    return { kind: 'version', version: params.version, id, module };
  }
  if (topic.startsWith('/ota/device/progress/')) {
    const step = int(params.step);
    if (step === null) return { kind: 'other', why: 'progress without a numeric step' };
    return { kind: 'step', step, desc: typeof params.desc === 'string' ? params.desc : undefined, module };
  }
  if (topic.endsWith('/thing/ota/firmware/get') || topic.startsWith('/ota/device/request/')) return { kind: 'pull', id, module };
  return { kind: 'other', why: `not an OTA topic: ${topic}` };
}

export function parseUplink(dialect: Dialect, topic: string, payload: string): Uplink {
  if (dialect === 'tencent') return topic.startsWith('$ota/report/') ? parseTencentUplink(payload) : { kind: 'other', why: `not an OTA topic: ${topic}` };
  return parseAliyunUplink(topic, payload);
}

// ---- device codes → station codes (§5.6, §8.2) --------------------------------------------

export interface MappedFailure {
  code: StationErrorCode;
  deviceCode: string;
  why: string;
}

/** Tencent `fail` result_code (§5.6). */
export function mapTencentCode(code: number): MappedFailure {
  const deviceCode = String(code);
  switch (code) {
    case -1:
      return { code: 'NET_DOWNLOAD_STALLED', deviceCode, why: 'device: download timeout (−1)' };
    case -2:
      return { code: 'NET_FILE_NOT_FOUND', deviceCode, why: 'device: firmware file does not exist (−2, HTTP 404)' };
    case -3:
      return { code: 'NET_URL_EXPIRED', deviceCode, why: 'device: authentication failed / URL signature expired (−3, HTTP 403)' };
    case -4:
      return { code: 'PROTOCOL_MD5_MISMATCH', deviceCode, why: 'device: MD5 mismatch (−4)' };
    case -5:
      return { code: 'DEVICE_ERROR', deviceCode, why: 'device: upgrade failed (−5)' };
    default:
      return { code: 'DEVICE_ERROR', deviceCode, why: `device: unknown result code ${code}` };
  }
}

/** Aliyun negative step (§8.2). */
export function mapAliyunStep(step: number): MappedFailure {
  const deviceCode = String(step);
  switch (step) {
    case -1:
      return { code: 'DEVICE_ERROR', deviceCode, why: 'device: upgrade failed (−1)' };
    case -2:
      return { code: 'NET_DOWNLOAD_FAILED', deviceCode, why: 'device: download failed (−2)' };
    case -3:
      return { code: 'PROTOCOL_MD5_MISMATCH', deviceCode, why: 'device: digest verification failed (−3)' };
    case -4:
      return { code: 'DEVICE_FLASH_WRITE_FAILED', deviceCode, why: 'device: flash write failed (−4)' };
    default:
      return { code: 'DEVICE_ERROR', deviceCode, why: `device: unknown step ${step}` };
  }
}
