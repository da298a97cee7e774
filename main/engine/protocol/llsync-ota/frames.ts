/**
 * LLSync (Tencent BLE) OTA framing, both directions, per llsync-ota.md §4–§9: host messages on
 * FFE1/FFE4 with slicing (§4.4), device events on FFE3 with per-type repeated slice headers
 * (§4.1), payload parsers returning tagged results, and the HMAC-SHA1 auth signatures (§6).
 * Pure: no I/O, no timers. Both the host session and the virtual peripheral use these.
 */
import crypto from 'node:crypto';

/** §3: 128-bit LLSync base; noble writes UUIDs lowercase without dashes. */
export const LLSYNC_SERVICE_UUID = '0000ffe065d04e20b56ae493541ba4e2';
export const LLSYNC_CHAR_DEVICE_INFO = '0000ffe165d04e20b56ae493541ba4e2'; // FFE1 write with response
export const LLSYNC_CHAR_DATA = '0000ffe265d04e20b56ae493541ba4e2'; // FFE2 (not used for OTA)
export const LLSYNC_CHAR_EVENT = '0000ffe365d04e20b56ae493541ba4e2'; // FFE3 notify
export const LLSYNC_CHAR_OTA = '0000ffe465d04e20b56ae493541ba4e2'; // FFE4 write without response
/** §2: 16-bit service advertised and Tencent's company id in manufacturer data. */
export const LLSYNC_ADV_SERVICE_16 = 'ffe0';
export const TENCENT_COMPANY_ID = 0xfee7;

export const ATT_DEFAULT_MTU = 23;
export const ATT_HEADER_BYTES = 3;
/** §4.4: the device reassembles host messages into a 128-byte buffer. */
export const HOST_MESSAGE_MAX_DATA_BYTES = 125;
/** §7.1: the device copies the version into a 32-byte field without a bound check. */
export const VERSION_MAX_BYTES = 32;

const SLICE_FIRST = 0x4000;
const SLICE_MIDDLE = 0x8000;
const SLICE_LAST = 0xc000;
const SLICE_MASK = 0xc000;
/** §4.1/§13: accept 13 bits of length (the PDF says 12). */
const LEN_MASK = 0x1fff;

// Host → device message types (§4.2, §4.3).
export const HOST_CONN_AUTH = 0x01;
export const HOST_CONN_SUCCEEDED = 0x05;
export const HOST_CONN_FAILED = 0x06;
export const HOST_MTU_RESULT = 0x09;
export const OTA_REQUEST = 0x00;
export const OTA_DATA = 0x01;
export const OTA_END = 0x02;

// Device → host event types (§4.1).
export const EV_CONN_SIGNATURE = 0x06;
export const EV_DEVICE_INFO = 0x08;
export const EV_OTA_REPLY = 0x09;
export const EV_OTA_DATA_REPLY = 0x0a;
export const EV_OTA_CHECK = 0x0b;
export const EV_MTU_SYNC = 0x0c;

/** §4.1 table: header bytes the SDK repeats at the start of every slice of these events. */
export const REPEATED_HEADER_BYTES: Readonly<Record<number, number>> = { 0x03: 1, 0x08: 4, 0x09: 1, 0x0a: 1 };

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };
const fail = (error: string): { ok: false; error: string } => ({ ok: false, error });

function u16(n: number): [number, number] {
  return [(n >>> 8) & 0xff, n & 0xff];
}
function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}
function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function hmacSha1(key: Uint8Array, msg: Uint8Array | string): Uint8Array {
  return new Uint8Array(crypto.createHmac('sha1', key).update(msg).digest());
}

/** §6.1 step 1: the host's signature over the decimal timestamp. */
export function hostAuthSignature(psk: Uint8Array, tsSec: number): Uint8Array {
  return hmacSha1(psk, String(tsSec >>> 0));
}

/** §6.1 step 2: the device's answer, HMAC(psk, decimal(ts+60) ‖ productId ‖ deviceName). */
export function deviceAuthSignature(psk: Uint8Array, tsSec: number, productId: string, deviceName: string): Uint8Array {
  return hmacSha1(psk, `${(tsSec + 60) >>> 0}${productId}${deviceName}`);
}

/**
 * §4.4: a host message `[type][len:2][data]`, sliced into first/middle/last writes of at most
 * `maxWriteBytes` when it does not fit one write.
 */
export function encodeHostMessage(type: number, data: Uint8Array, maxWriteBytes: number): Uint8Array[] {
  if (data.length > HOST_MESSAGE_MAX_DATA_BYTES) throw new RangeError(`host message of ${data.length} bytes exceeds the device's ${HOST_MESSAGE_MAX_DATA_BYTES}-byte buffer`);
  if (3 + data.length <= maxWriteBytes) return [Uint8Array.of(type, ...u16(data.length), ...data)];
  const chunk = maxWriteBytes - 3;
  if (chunk < 1) throw new RangeError('write size too small to slice');
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += chunk) {
    const part = data.subarray(off, off + chunk);
    const flag = off === 0 ? SLICE_FIRST : off + chunk >= data.length ? SLICE_LAST : SLICE_MIDDLE;
    out.push(Uint8Array.of(type, ...u16(flag | part.length), ...part));
  }
  return out;
}

export function encodeConnAuth(psk: Uint8Array, tsSec: number, maxWriteBytes: number): Uint8Array[] {
  return encodeHostMessage(HOST_CONN_AUTH, Uint8Array.of(...u32(tsSec), ...hostAuthSignature(psk, tsSec)), maxWriteBytes);
}

/** §5: `09 [result:2]` with no length field (0x0000 ok, 0xffff failed, else the ATT_MTU obtained). */
export function encodeMtuResult(result: number): Uint8Array {
  return Uint8Array.of(HOST_MTU_RESULT, ...u16(result));
}

export function isValidVersion(version: string): boolean {
  return /^[A-Za-z0-9._-]{1,32}$/.test(version);
}

/** §7.1: `00 [len:2][size:4][crc32:4][ver_len:1][version]`, sliced when needed. */
export function encodeOtaRequest(sizeBytes: number, crc32: number, version: string, maxWriteBytes: number): Uint8Array[] {
  if (!isValidVersion(version)) throw new RangeError(`version "${version}" is not 1..32 of A-Z a-z 0-9 . - _`);
  const v = new TextEncoder().encode(version);
  return encodeHostMessage(OTA_REQUEST, Uint8Array.of(...u32(sizeBytes), ...u32(crc32 >>> 0), v.length, ...v), maxWriteBytes);
}

/** §7.3: `01 [1+n] [seq] [payload]`, never sliced. */
export function encodeDataPacket(seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 + payload.length);
  out[0] = OTA_DATA;
  out[1] = (1 + payload.length) & 0xff;
  out[2] = seq & 0xff;
  out.set(payload, 3);
  return out;
}

export const END_OF_FILE: Uint8Array = Uint8Array.of(OTA_END);

// ---- device events (FFE3) ---------------------------------------------------------------

/** §4.1: an event `[type][field:2][value]`, sliced by the device's notify limit, header repeated. */
export function encodeDeviceEvent(type: number, value: Uint8Array, maxNotifyBytes: number): Uint8Array[] {
  if (3 + value.length <= maxNotifyBytes) return [Uint8Array.of(type, ...u16(value.length), ...value)];
  const hdr = REPEATED_HEADER_BYTES[type] ?? 0;
  const head = value.subarray(0, hdr);
  const body = value.subarray(hdr);
  const chunk = maxNotifyBytes - 3 - hdr;
  const out: Uint8Array[] = [];
  for (let off = 0; off < body.length; off += chunk) {
    const part = body.subarray(off, off + chunk);
    const flag = off === 0 ? SLICE_FIRST : off + chunk >= body.length ? SLICE_LAST : SLICE_MIDDLE;
    out.push(Uint8Array.of(type, ...u16(flag | (hdr + part.length)), ...head, ...part));
  }
  return out;
}

export interface DeviceEvent {
  type: number;
  value: Uint8Array;
}

/**
 * Reassembles FFE3 notifications into events (§4.1): length-checked, slices joined per type with
 * the repeated header dropped from the 2nd and later slices. Garbage yields an error result and
 * resets the pending slices of that type; it never throws.
 */
export class EventReassembler {
  private pending = new Map<number, Uint8Array[]>();

  push(note: Uint8Array): Decoded<DeviceEvent | null> {
    if (note.length === 0) return fail('empty notification');
    const type = note[0]!;
    if (note.length === 1) return { ok: true, value: { type, value: new Uint8Array(0) } }; // e.g. 0x02 get status
    if (note.length < 3) return fail(`notification of ${note.length} bytes has no length field`);
    const field = (note[1]! << 8) | note[2]!;
    const len = field & LEN_MASK;
    const value = note.subarray(3);
    if (value.length !== len) {
      this.pending.delete(type);
      return fail(`event 0x${hex2(type)} says ${len} value bytes, carries ${value.length}`);
    }
    const flag = field & SLICE_MASK;
    if (flag === 0) return { ok: true, value: { type, value: new Uint8Array(value) } };
    const parts = this.pending.get(type);
    if (flag === SLICE_FIRST) {
      this.pending.set(type, [new Uint8Array(value)]);
      return { ok: true, value: null };
    }
    if (!parts) return fail(`event 0x${hex2(type)}: slice without a first slice`);
    const hdr = REPEATED_HEADER_BYTES[type] ?? 0;
    parts.push(new Uint8Array(value.subarray(Math.min(hdr, value.length))));
    if (parts.reduce((n, p) => n + p.length, 0) > 4096) {
      this.pending.delete(type);
      return fail(`event 0x${hex2(type)}: oversized sliced event`);
    }
    if (flag === SLICE_MIDDLE) return { ok: true, value: null };
    this.pending.delete(type);
    return { ok: true, value: { type, value: concat(parts) } };
  }
}

/**
 * Host-message reassembly on the device side (§4.2: a write is a slice only when it is longer
 * than 3 bytes and byte 1 has bit 7 or 6 set). Returns the whole `[type, data]` or null while
 * slices are pending.
 */
export class HostMessageReassembler {
  private parts: Uint8Array[] | null = null;
  push(write: Uint8Array): Decoded<{ type: number; data: Uint8Array } | null> {
    if (write.length === 0) return fail('empty write');
    const type = write[0]!;
    if (write.length <= 3 || (write[1]! & 0xc0) === 0) {
      this.parts = null;
      return { ok: true, value: { type, data: write.subarray(write.length >= 3 ? 3 : 1) } };
    }
    const flag = ((write[1]! << 8) | write[2]!) & SLICE_MASK;
    const chunk = write.subarray(3);
    if (flag === SLICE_FIRST) {
      this.parts = [new Uint8Array(chunk)];
      return { ok: true, value: null };
    }
    if (!this.parts) return fail('slice without a first slice');
    this.parts.push(new Uint8Array(chunk));
    const total = this.parts.reduce((n, p) => n + p.length, 0);
    if (total > HOST_MESSAGE_MAX_DATA_BYTES) {
      this.parts = null;
      return fail('sliced message overflows the 128-byte buffer');
    }
    if (flag === SLICE_MIDDLE) return { ok: true, value: null };
    const data = concat(this.parts);
    this.parts = null;
    return { ok: true, value: { type, data } };
  }
}

// ---- event payload parsers ----------------------------------------------------------------

export interface ConnSignature {
  signature: Uint8Array;
  deviceName: string;
}
export function parseConnSignature(v: Uint8Array): Decoded<ConnSignature> {
  if (v.length < 20) return fail(`connection signature of ${v.length} bytes (need ≥ 20)`);
  return { ok: true, value: { signature: v.slice(0, 20), deviceName: new TextDecoder().decode(v.subarray(20)) } };
}

export interface DeviceInfo {
  protocolVersion: number;
  /** §5: bit 15 asks the host to set the MTU; bits 12..0 the device's wish (a hint only). */
  wantsMtuSet: boolean;
  mtuHint: number;
  version: string;
}
export function parseDeviceInfo(v: Uint8Array): Decoded<DeviceInfo> {
  if (v.length < 4) return fail(`device info of ${v.length} bytes`);
  const field = (v[1]! << 8) | v[2]!;
  const verLen = v[3]!;
  if (verLen < 1 || verLen > VERSION_MAX_BYTES || v.length !== 4 + verLen) return fail(`device info version length ${verLen} does not match ${v.length - 4} bytes`);
  const version = new TextDecoder().decode(v.subarray(4));
  if (!isValidVersion(version)) return fail('device info carries an invalid version string');
  return { ok: true, value: { protocolVersion: v[0]!, wantsMtuSet: (field & 0x8000) !== 0, mtuHint: field & LEN_MASK, version } };
}

export interface OtaGrant {
  supportsResume: boolean;
  packetsPerLoop: number;
  /** §7.2: the whole data write length (payload + 3). */
  packageBytes: number;
  retryPeriodSec: number;
  rebootTimeSec: number;
  resumeOffset: number;
  intervalMs: number;
}
export type OtaReply = { allowed: true; grant: OtaGrant } | { allowed: false; reason: number };

export function parseOtaReply(v: Uint8Array): Decoded<OtaReply> {
  if (v.length < 1) return fail('empty OTA reply');
  const indicate = v[0]!;
  if ((indicate & 0x01) === 0) {
    if (v.length !== 2) return fail(`OTA refusal of ${v.length} bytes`);
    return { ok: true, value: { allowed: false, reason: v[1]! } };
  }
  if (v.length !== 10) return fail(`OTA grant of ${v.length} bytes (need 10)`);
  const grant: OtaGrant = {
    supportsResume: (indicate & 0x02) !== 0,
    packetsPerLoop: v[1]!,
    packageBytes: v[2]!,
    retryPeriodSec: v[3]!,
    rebootTimeSec: v[4]!,
    resumeOffset: readU32(v, 5),
    intervalMs: v[9]!,
  };
  if (grant.packetsPerLoop < 1) return fail('OTA grant with 0 packets per loop');
  if (grant.packageBytes < 4) return fail(`OTA grant with package size ${grant.packageBytes}`);
  return { ok: true, value: { allowed: true, grant } };
}

export function encodeOtaReply(r: OtaReply): Uint8Array {
  if (!r.allowed) return Uint8Array.of(0x00, r.reason & 0xff);
  const g = r.grant;
  return Uint8Array.of(0x01 | (g.supportsResume ? 0x02 : 0), g.packetsPerLoop, g.packageBytes, g.retryPeriodSec, g.rebootTimeSec, ...u32(g.resumeOffset), g.intervalMs);
}

export interface DataReply {
  nextSeq: number;
  receivedBytes: number;
}
export function parseDataReply(v: Uint8Array): Decoded<DataReply> {
  if (v.length !== 5) return fail(`data reply of ${v.length} bytes (need 5)`);
  return { ok: true, value: { nextSeq: v[0]!, receivedBytes: readU32(v, 1) } };
}
export function encodeDataReply(r: DataReply): Uint8Array {
  return Uint8Array.of(r.nextSeq & 0xff, ...u32(r.receivedBytes));
}

/** §7.6 / §7.10: the check result byte. */
export type CheckResult = { passed: true } | { passed: false; reason: 'crc' | 'flash' | 'file-rejected' | 'other'; raw: number };
export function parseCheckResult(v: Uint8Array): Decoded<CheckResult> {
  if (v.length !== 1) return fail(`check result of ${v.length} bytes`);
  const r = v[0]!;
  if (r & 0x80) return { ok: true, value: { passed: true } };
  const reason = r === 0x00 ? 'crc' : r === 0x01 ? 'flash' : r === 0x02 ? 'file-rejected' : 'other';
  return { ok: true, value: { passed: false, reason, raw: r } };
}

export function parseMtuSync(v: Uint8Array): Decoded<number> {
  if (v.length !== 2) return fail(`MTU sync of ${v.length} bytes`);
  return { ok: true, value: (v[0]! << 8) | v[1]! };
}

export function encodeDeviceInfo(info: DeviceInfo): Uint8Array {
  const ver = new TextEncoder().encode(info.version);
  return Uint8Array.of(info.protocolVersion, ...u16((info.wantsMtuSet ? 0x8000 : 0) | (info.mtuHint & LEN_MASK)), ver.length, ...ver);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

export function parsePsk(hex: string): Decoded<Uint8Array> {
  if (!/^[0-9a-fA-F]{8}$/.test(hex)) return fail(`local PSK "${hex}" must be 8 hex digits (4 bytes)`);
  return { ok: true, value: new Uint8Array(Buffer.from(hex, 'hex')) };
}
