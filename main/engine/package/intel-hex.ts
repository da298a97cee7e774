/**
 * Pure Intel HEX (I32HEX/I16HEX) parser: text bytes in, one contiguous image out (lowest to highest
 * address, gaps 0xFF) or a tagged error naming the 1-based line. Never throws on bad input and
 * does no I/O; the caller decides where the output lives (`alloc`).
 */

export type IntelHexErrorCode =
  | 'IMAGE_HEX_SYNTAX'
  | 'IMAGE_HEX_CHECKSUM'
  | 'IMAGE_HEX_TRUNCATED'
  | 'IMAGE_HEX_OVERLAP'
  | 'IMAGE_EMPTY'
  | 'IMAGE_TOO_LARGE';

/** A contiguous range of addresses the file writes. */
export interface HexSegment {
  address: number;
  length: number;
}

export type IntelHexResult =
  | { ok: true; base: number; bytes: Uint8Array; segments: HexSegment[]; startAddress?: number }
  | { ok: false; code: IntelHexErrorCode; line: number; reason: string };

export interface ParseIntelHexOptions {
  /** Cap on the span from lowest to highest address: a few records far apart must not allocate gigabytes. */
  maxBytes?: number;
  /** Allocates the output image (e.g. on a SharedArrayBuffer); default a plain Uint8Array. */
  alloc?: (sizeBytes: number) => Uint8Array;
}

const REC_DATA = 0x00;
const REC_EOF = 0x01;
const REC_EXT_SEGMENT = 0x02;
const REC_START_SEGMENT = 0x03;
const REC_EXT_LINEAR = 0x04;
const REC_START_LINEAR = 0x05;
const FOUR_GIB = 2 ** 32;
/** Byte count, 2 address bytes, type and checksum around the data of every record. */
const RECORD_OVERHEAD_BYTES = 5;

const NIBBLE = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) NIBBLE[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  NIBBLE[0x41 + c] = 10 + c;
  NIBBLE[0x61 + c] = 10 + c;
}

/** Runs of consecutive data records, kept in a flat growable array: [address, length, dataOffset, firstLine]. */
class Runs {
  private a = new Float64Array(4 * 64);
  count = 0;
  push(address: number, length: number, dataOffset: number, line: number): void {
    if ((this.count + 1) * 4 > this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a.set([address, length, dataOffset, line], this.count * 4);
    this.count++;
  }
  extendLast(length: number): void {
    this.a[(this.count - 1) * 4 + 1]! += length;
  }
  endOfLast(): number {
    return this.count === 0 ? -1 : this.get(this.count - 1, 0) + this.get(this.count - 1, 1);
  }
  get(i: number, field: 0 | 1 | 2 | 3): number {
    return this.a[i * 4 + field]!;
  }
}

export function parseIntelHex(text: Uint8Array, opts: ParseIntelHexOptions = {}): IntelHexResult {
  const maxBytes = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
  const n = text.length;
  // Data bytes never exceed half the text: every byte costs two hex digits.
  const data = new Uint8Array(n >>> 1);
  const record = new Uint8Array(255 + RECORD_OVERHEAD_BYTES);
  const runs = new Runs();
  let dataBytes = 0;
  let upperBase = 0;
  let lowest = Infinity;
  let highest = 0;
  let startAddress: number | undefined;
  let sawEof = false;
  let pos = 0;
  let line = 0;
  const fail = (code: IntelHexErrorCode, reason: string): IntelHexResult => ({ ok: false, code, line, reason });

  while (pos < n && !sawEof) {
    line++;
    const start = pos;
    while (pos < n && text[pos] !== 0x0a && text[pos] !== 0x0d) pos++;
    let end = pos;
    if (text[pos] === 0x0d && text[pos + 1] === 0x0a) pos += 2;
    else if (pos < n) pos++;
    while (end > start && (text[end - 1] === 0x20 || text[end - 1] === 0x09)) end--;
    if (end === start) continue;
    // Only the final line can be a cut one; anything malformed before it is a syntax error.
    const isLast = pos >= n;

    if (text[start] !== 0x3a) return fail('IMAGE_HEX_SYNTAX', `line must start with ':' (found ${describeChar(text[start]!)})`);
    const digits = end - start - 1;
    const badAt = firstNonHex(text, start + 1, end);
    if (badAt >= 0) return fail('IMAGE_HEX_SYNTAX', `bad character ${describeChar(text[badAt]!)} at column ${badAt - start + 1}`);
    if (digits % 2 !== 0 || digits < RECORD_OVERHEAD_BYTES * 2) {
      if (isLast) return fail('IMAGE_HEX_TRUNCATED', 'the last line is cut short');
      return fail('IMAGE_HEX_SYNTAX', digits % 2 !== 0 ? 'odd number of hex digits' : 'record too short');
    }
    const recordBytes = digits / 2;
    const decodedBytes = Math.min(recordBytes, record.length);
    for (let i = 0, j = start + 1; i < decodedBytes; i++, j += 2) record[i] = (NIBBLE[text[j]!]! << 4) | NIBBLE[text[j + 1]!]!;
    const len = record[0]!;
    if (recordBytes !== len + RECORD_OVERHEAD_BYTES) {
      if (isLast && recordBytes < len + RECORD_OVERHEAD_BYTES) return fail('IMAGE_HEX_TRUNCATED', 'the last line is cut short');
      return fail('IMAGE_HEX_SYNTAX', `byte count says ${len} data bytes but the record holds ${recordBytes - RECORD_OVERHEAD_BYTES}`);
    }
    let sum = 0;
    for (let i = 0; i < recordBytes; i++) sum += record[i]!;
    if ((sum & 0xff) !== 0) {
      const given = record[recordBytes - 1]!;
      const expected = (given - sum) & 0xff;
      return fail('IMAGE_HEX_CHECKSUM', `checksum is ${hex2(given)}, expected ${hex2(expected)}`);
    }
    const offset = (record[1]! << 8) | record[2]!;
    const type = record[3]!;
    const wantLength = type === REC_EOF ? 0 : type === REC_EXT_SEGMENT || type === REC_EXT_LINEAR ? 2 : type === REC_START_SEGMENT || type === REC_START_LINEAR ? 4 : len;
    if (len !== wantLength) return fail('IMAGE_HEX_SYNTAX', `record type ${hex2(type)} must carry ${wantLength} data bytes, not ${len}`);

    switch (type) {
      case REC_DATA: {
        if (len === 0) break;
        // Addresses are base + offset without 16-bit wrap-around inside a record; linkers never emit one that wraps.
        const address = upperBase + offset;
        if (address + len > FOUR_GIB) return fail('IMAGE_HEX_SYNTAX', 'record runs past the 4 GiB address space');
        lowest = Math.min(lowest, address);
        highest = Math.max(highest, address + len);
        if (highest - lowest > maxBytes) {
          return fail('IMAGE_TOO_LARGE', `addresses span ${highest - lowest} bytes, more than the ${maxBytes}-byte limit`);
        }
        for (let i = 0; i < len; i++) data[dataBytes + i] = record[4 + i]!;
        if (runs.endOfLast() === address) runs.extendLast(len);
        else runs.push(address, len, dataBytes, line);
        dataBytes += len;
        break;
      }
      case REC_EOF: {
        sawEof = true;
        break;
      }
      case REC_EXT_SEGMENT: {
        upperBase = readBE(record, 4, 2) * 16;
        break;
      }
      case REC_EXT_LINEAR: {
        upperBase = readBE(record, 4, 2) * 0x10000;
        break;
      }
      case REC_START_SEGMENT: {
        startAddress = readBE(record, 4, 2) * 16 + readBE(record, 6, 2);
        break;
      }
      case REC_START_LINEAR: {
        startAddress = readBE(record, 4, 4);
        break;
      }
      default:
        return fail('IMAGE_HEX_SYNTAX', `unknown record type ${hex2(type)}`);
    }
  }
  if (!sawEof) return fail('IMAGE_HEX_TRUNCATED', 'no end-of-file record (type 01)');
  if (runs.count === 0) return fail('IMAGE_EMPTY', 'the file holds no data records');
  return assemble(runs, data, lowest, highest, startAddress, opts.alloc ?? ((size) => new Uint8Array(size)));
}

/** Sorts the runs, rejects any address written twice, and lays the data out over 0xFF. */
function assemble(runs: Runs, data: Uint8Array, base: number, top: number, startAddress: number | undefined, alloc: (size: number) => Uint8Array): IntelHexResult {
  const order = Array.from({ length: runs.count }, (_, i) => i).sort((x, y) => runs.get(x, 0) - runs.get(y, 0));
  const segments: HexSegment[] = [];
  let coveredTo = -1;
  let coveredLine = 0;
  for (const i of order) {
    const address = runs.get(i, 0);
    const length = runs.get(i, 1);
    const line = runs.get(i, 3);
    if (address < coveredTo) {
      return {
        ok: false,
        code: 'IMAGE_HEX_OVERLAP',
        line: Math.max(line, coveredLine),
        reason: `address 0x${address.toString(16).padStart(8, '0')} is written twice (records from lines ${Math.min(line, coveredLine)} and ${Math.max(line, coveredLine)})`,
      };
    }
    const last = segments[segments.length - 1];
    if (last && last.address + last.length === address) last.length += length;
    else segments.push({ address, length });
    coveredTo = address + length;
    coveredLine = line;
  }
  const bytes = alloc(top - base).fill(0xff);
  for (let i = 0; i < runs.count; i++) {
    const offset = runs.get(i, 2);
    bytes.set(data.subarray(offset, offset + runs.get(i, 1)), runs.get(i, 0) - base);
  }
  return startAddress === undefined ? { ok: true, base, bytes, segments } : { ok: true, base, bytes, segments, startAddress };
}

function firstNonHex(text: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (NIBBLE[text[i]!]! < 0) return i;
  return -1;
}

function readBE(bytes: Uint8Array, at: number, count: number): number {
  let v = 0;
  for (let k = 0; k < count; k++) v = v * 256 + bytes[at + k]!;
  return v;
}

function hex2(v: number): string {
  return `0x${v.toString(16).padStart(2, '0')}`;
}

function describeChar(c: number): string {
  return c >= 0x21 && c <= 0x7e ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}
