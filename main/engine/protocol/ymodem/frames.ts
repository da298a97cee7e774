/**
 * YMODEM / XMODEM block codec (ymodem.md §1–§4): control bytes, data blocks, block 0 headers and
 * the end-of-batch block, plus the receiver-side decoder used by virtual units.
 * Pure: no clock, no I/O, no logging. Decoders never throw on wire bytes; they return tagged results.
 */
import { crc16Xmodem } from '../../codec/crc16.js';

// §1 control bytes.
export const SOH = 0x01; // start of a 128-byte block
export const STX = 0x02; // start of a 1024-byte block
export const EOT = 0x04; // end of file
export const ACK = 0x06;
export const NAK = 0x15; // resend; as the first byte: start in checksum mode
export const CAN = 0x18; // two in a row abort the session
export const CRC_START = 0x43; // 'C': start in CRC-16 mode / YMODEM "send the next header"
export const SUB = 0x1a; // CPMEOF, default padding (§7)
export const STREAMING_START = 0x47; // 'G': YMODEM-g, not supported (treated as no start)
export const ST_ABORT_UPPER = 0x41; // 'A': ST IAP user abort (§1 [st])
export const ST_ABORT_LOWER = 0x61; // 'a'

// §2 block sizes and frame lengths.
export const SHORT_BLOCK_BYTES = 128;
export const LONG_BLOCK_BYTES = 1024;
export const FRAME_HEAD_BYTES = 3; // start byte, seq, 255-seq
export const CRC_BYTES = 2;
export const CHECKSUM_BYTES = 1;
/** §4 station default: file names up to 64 ASCII bytes, no spaces. */
export const MAX_NAME_BYTES = 64;
/** §4 'full' style reports a regular file's Unix mode, like lrzsz. */
export const DEFAULT_FILE_MODE = 0o100644;

export type BlockCheck = 'crc' | 'checksum';
export type HeaderStyle = 'size-only' | 'size-mtime' | 'full';

/** Sum of the data bytes modulo 256 (§2, XMODEM checksum mode). */
export function checksum8(data: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) s = (s + data[i]!) & 0xff;
  return s;
}

/** Frame length for a start byte, or null when the byte does not start a block. */
export function frameLength(startByte: number, check: BlockCheck): number | null {
  const dataBytes = startByte === SOH ? SHORT_BLOCK_BYTES : startByte === STX ? LONG_BLOCK_BYTES : 0;
  if (dataBytes === 0) return null;
  // §2: 1024-byte blocks are only legal in CRC mode.
  if (dataBytes === LONG_BLOCK_BYTES && check === 'checksum') return null;
  return FRAME_HEAD_BYTES + dataBytes + (check === 'crc' ? CRC_BYTES : CHECKSUM_BYTES);
}

/**
 * One block: [SOH|STX] seq ~seq data check. `payload` must already be exactly 128 or 1024 bytes
 * (see padPayload). Throws RangeError on programmer error, never on wire input.
 */
export function encodeBlock(seq: number, payload: Uint8Array, opts: { check: BlockCheck } = { check: 'crc' }): Uint8Array {
  const n = payload.length;
  if (n !== SHORT_BLOCK_BYTES && n !== LONG_BLOCK_BYTES) throw new RangeError(`block payload must be 128 or 1024 bytes, got ${n}`);
  if (n === LONG_BLOCK_BYTES && opts.check === 'checksum') throw new RangeError('1024-byte blocks need CRC mode (ymodem.md §2)');
  const s = seq & 0xff;
  const out = new Uint8Array(FRAME_HEAD_BYTES + n + (opts.check === 'crc' ? CRC_BYTES : CHECKSUM_BYTES));
  out[0] = n === LONG_BLOCK_BYTES ? STX : SOH;
  out[1] = s;
  out[2] = s ^ 0xff;
  out.set(payload, FRAME_HEAD_BYTES);
  if (opts.check === 'crc') {
    // §2/§3: CRC-16 over the data field only, high byte first.
    const crc = crc16Xmodem(payload);
    out[FRAME_HEAD_BYTES + n] = crc >>> 8;
    out[FRAME_HEAD_BYTES + n + 1] = crc & 0xff;
  } else {
    out[FRAME_HEAD_BYTES + n] = checksum8(payload);
  }
  return out;
}

/** Copy `data` into a block of `blockBytes`, filling the rest with `padByte` (§7: 0x1A by default). */
export function padPayload(data: Uint8Array, blockBytes: number, padByte = SUB): Uint8Array {
  if (data.length > blockBytes) throw new RangeError('data larger than the block');
  if (data.length === blockBytes) return data;
  const out = new Uint8Array(blockBytes).fill(padByte & 0xff);
  out.set(data);
  return out;
}

/** §4: no directory part, ASCII without spaces or controls, at most 64 bytes. */
export function sanitizeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[^\x21-\x7e]/g, '_').slice(0, MAX_NAME_BYTES);
  return clean.length > 0 ? clean : 'firmware.bin';
}

/**
 * The header text fields for a style (§4). 'size-only' keeps the trailing space because
 * ST-derived receivers copy the size until a space, not until NUL (§4 [st]); 'full' is what
 * lrzsz sends: size, mtime, mode, serial 0, files remaining 1, bytes remaining.
 */
export function headerFields(size: number, mtimeSec: number, style: HeaderStyle, mode = DEFAULT_FILE_MODE): string {
  const mtime = Math.max(0, Math.floor(mtimeSec)).toString(8);
  switch (style) {
    case 'size-only':
      return `${size} `;
    case 'size-mtime':
      return `${size} ${mtime}`;
    case 'full':
      return `${size} ${mtime} ${mode.toString(8)} 0 1 ${size}`;
  }
}

/** Block 0 data: `<name> NUL <fields> NUL`, zero-filled to 128 bytes (1024 when it does not fit). */
export function encodeHeaderPayload(name: string, fields: string): Uint8Array {
  const text = new TextEncoder().encode(`${name}\0${fields}\0`);
  // §4: if it does not fit in 128 bytes, send it as a 1024-byte block; always NUL-filled.
  const blockBytes = text.length <= SHORT_BLOCK_BYTES ? SHORT_BLOCK_BYTES : LONG_BLOCK_BYTES;
  if (text.length > LONG_BLOCK_BYTES) throw new RangeError('header does not fit a 1024-byte block');
  const out = new Uint8Array(blockBytes);
  out.set(text);
  return out;
}

/** The YMODEM file header (block 0), station default style 'size-mtime' (§4). */
export function encodeHeaderBlock(name: string, size: number, mtimeSec = 0, style: HeaderStyle = 'size-mtime'): Uint8Array {
  const payload = encodeHeaderPayload(sanitizeFileName(name), headerFields(size, mtimeSec, style));
  return encodeBlock(0, payload, { check: 'crc' });
}

/** §3/§6.6: the empty block 0 that ends a batch: 01 00 FF, 128 × 00, CRC 00 00. */
export function encodeEndOfBatch(): Uint8Array {
  return encodeBlock(0, new Uint8Array(SHORT_BLOCK_BYTES), { check: 'crc' });
}

export type DecodedBlock =
  | { ok: true; seq: number; payload: Uint8Array; frameBytes: number }
  | { ok: false; reason: 'short' | 'bad-start' | 'bad-seq-complement' | 'bad-crc' | 'bad-checksum' };

/** Receiver side: decode one frame starting at byte 0 of `frame` (extra bytes after it are ignored). */
export function decodeBlock(frame: Uint8Array, check: BlockCheck = 'crc'): DecodedBlock {
  if (frame.length < 1) return { ok: false, reason: 'short' };
  const len = frameLength(frame[0]!, check);
  if (len === null) return { ok: false, reason: 'bad-start' };
  if (frame.length < len) return { ok: false, reason: 'short' };
  const seq = frame[1]!;
  if ((seq ^ 0xff) !== frame[2]) return { ok: false, reason: 'bad-seq-complement' };
  const dataEnd = len - (check === 'crc' ? CRC_BYTES : CHECKSUM_BYTES);
  const payload = frame.slice(FRAME_HEAD_BYTES, dataEnd);
  if (check === 'crc') {
    const crc = (frame[dataEnd]! << 8) | frame[dataEnd + 1]!;
    if (crc16Xmodem(payload) !== crc) return { ok: false, reason: 'bad-crc' };
  } else if (checksum8(payload) !== frame[dataEnd]) {
    return { ok: false, reason: 'bad-checksum' };
  }
  return { ok: true, seq, payload, frameBytes: len };
}

export type DecodedHeader =
  | { ok: true; endOfBatch: true }
  | { ok: true; endOfBatch: false; name: string; sizeBytes: number | null; mtimeSec: number | null }
  | { ok: false; reason: 'no-name-terminator' | 'bad-size' };

/**
 * Block 0 data → file name and size. An empty name is the end of batch (§5). The size is read the
 * ST way (§4/§8 [st]): digits up to a space or NUL, at most 16 characters.
 */
export function decodeHeader(payload: Uint8Array): DecodedHeader {
  if (payload.length === 0 || payload[0] === 0) return { ok: true, endOfBatch: true };
  const nul = payload.indexOf(0);
  if (nul < 0) return { ok: false, reason: 'no-name-terminator' };
  const name = latin1(payload.subarray(0, nul));
  const rest = payload.subarray(nul + 1);
  const end = rest.findIndex((b) => b === 0);
  const fields = latin1(rest.subarray(0, end < 0 ? rest.length : end)).split(' ');
  const sizeText = (fields[0] ?? '').slice(0, 16);
  let sizeBytes: number | null = null;
  if (sizeText.length > 0) {
    if (!/^\d+$/.test(sizeText)) return { ok: false, reason: 'bad-size' };
    sizeBytes = Number.parseInt(sizeText, 10);
  }
  const mtimeText = fields[1] ?? '';
  const mtimeSec = /^[0-7]+$/.test(mtimeText) ? Number.parseInt(mtimeText, 8) : null;
  return { ok: true, endOfBatch: false, name, sizeBytes, mtimeSec };
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}
