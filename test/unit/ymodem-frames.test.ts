import { describe, expect, it } from 'vitest';
import { crc16Xmodem } from '../../main/engine/codec/crc16.js';
import {
  ACK, CAN, CRC_START, EOT, NAK, SOH, STX, SUB,
  checksum8, decodeBlock, decodeHeader, encodeBlock, encodeEndOfBatch, encodeHeaderBlock, encodeHeaderPayload,
  frameLength, headerFields, padPayload, sanitizeFileName,
} from '../../main/engine/protocol/ymodem/frames.js';

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const seqBytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

describe('ymodem control bytes (§1)', () => {
  it('has the table values', () => {
    expect([SOH, STX, EOT, ACK, NAK, CAN, CRC_START, SUB]).toEqual([0x01, 0x02, 0x04, 0x06, 0x15, 0x18, 0x43, 0x1a]);
  });
});

describe('block encoding (§2, §3 vectors)', () => {
  it.each([
    ['128 × 00', new Uint8Array(128), 0x0000],
    ['128 × 1A', new Uint8Array(128).fill(0x1a), 0xf8b0],
    ['00..7F', seqBytes(128), 0xe80a],
    ['1024 × i mod 256', seqBytes(1024), 0xc2e0],
  ])('CRC block of %s ends in the §3 CRC, high byte first', (_n, data, crc) => {
    const f = encodeBlock(1, data, { check: 'crc' });
    expect(f.length).toBe(data.length === 128 ? 133 : 1029);
    expect(f[0]).toBe(data.length === 128 ? SOH : STX);
    expect([f[1], f[2]]).toEqual([0x01, 0xfe]);
    expect([f[f.length - 2], f[f.length - 1]]).toEqual([crc >> 8, crc & 0xff]);
  });

  it('checksum block: 132 bytes, sum mod 256 (0xC0 for 00..7F)', () => {
    const f = encodeBlock(1, seqBytes(128), { check: 'checksum' });
    expect(f.length).toBe(132);
    expect(f[131]).toBe(0xc0);
    expect(checksum8(seqBytes(128))).toBe(0xc0);
  });

  it('seq is modulo 256 with its complement', () => {
    const f = encodeBlock(256 + 5, new Uint8Array(128));
    expect([f[1], f[2]]).toEqual([5, 0xfa]);
  });

  it('refuses 1K blocks in checksum mode and odd payload sizes (programmer errors)', () => {
    expect(() => encodeBlock(1, new Uint8Array(1024), { check: 'checksum' })).toThrow(RangeError);
    expect(() => encodeBlock(1, new Uint8Array(100))).toThrow(RangeError);
  });

  it('pads with 0x1A by default (§7)', () => {
    const p = padPayload(ascii('abc'), 128);
    expect(p.length).toBe(128);
    expect(p[3]).toBe(0x1a);
    expect(padPayload(ascii('abc'), 128, 0xff)[127]).toBe(0xff);
  });
});

describe('block 0 header (§4)', () => {
  it('`firmware.bin` NUL `65536 0 0` → CRC 0x3813 (§3)', () => {
    const p = encodeHeaderPayload('firmware.bin', '65536 0 0');
    expect(crc16Xmodem(p)).toBe(0x3813);
  });

  it('size-only style keeps the trailing space: `65536 ` → CRC 0x8BF2 (§3, §4 ST quirk)', () => {
    const f = encodeHeaderBlock('firmware.bin', 65536, 0, 'size-only');
    expect(f.length).toBe(133);
    expect(hex(f.subarray(0, 3))).toBe('0100ff');
    expect([f[131], f[132]]).toEqual([0x8b, 0xf2]);
  });

  it('station default size-mtime: `<name> NUL <size> SPACE <mtime octal> NUL`, zero-filled', () => {
    const f = encodeHeaderBlock('fw.bin', 1234, 0o15300537573, 'size-mtime');
    const data = f.subarray(3, 131);
    expect(Buffer.from(data.subarray(0, 24)).toString('latin1')).toBe('fw.bin\u00001234 15300537573\u0000');
    expect(data.subarray(24).every((b) => b === 0)).toBe(true);
    const crc = crc16Xmodem(data);
    expect([f[131], f[132]]).toEqual([crc >> 8, crc & 0xff]);
  });

  it('full style matches the lrzsz capture of §4', () => {
    expect(headerFields(65437, 0o15300537573, 'full')).toBe('65437 15300537573 100644 0 1 65437');
  });

  it('sanitizes names: no directory, no spaces, ≤ 64 bytes', () => {
    expect(sanitizeFileName('/tmp/out dir/my fw.bin')).toBe('my_fw.bin');
    expect(sanitizeFileName('x'.repeat(100)).length).toBe(64);
    expect(sanitizeFileName('')).toBe('firmware.bin');
  });

  it('a header that does not fit 128 bytes goes out as STX 1024', () => {
    const p = encodeHeaderPayload('n'.repeat(130), '1 2');
    expect(p.length).toBe(1024);
  });

  it('end of batch is exactly 01 00 FF + 128 × 00 + 00 00 (§3)', () => {
    const f = encodeEndOfBatch();
    expect(hex(f)).toBe('0100ff' + '00'.repeat(128) + '0000');
  });
});

describe('decoding (receiver side, never throws)', () => {
  it('round-trips CRC and checksum blocks', () => {
    const data = seqBytes(1024);
    const d = decodeBlock(encodeBlock(7, data));
    expect(d.ok && d.seq === 7 && d.frameBytes === 1029 && hex(d.payload) === hex(data)).toBe(true);
    const c = decodeBlock(encodeBlock(9, seqBytes(128), { check: 'checksum' }), 'checksum');
    expect(c.ok && c.seq === 9).toBe(true);
  });

  it.each([
    ['empty', new Uint8Array(0), 'short'],
    ['unknown start byte', Uint8Array.of(0x41, 1, 2), 'bad-start'],
    ['truncated', encodeBlock(1, new Uint8Array(128)).subarray(0, 100), 'short'],
    ['bad complement', (() => { const f = encodeBlock(1, new Uint8Array(128)); f[2] = 0; return f; })(), 'bad-seq-complement'],
    ['bad CRC', (() => { const f = encodeBlock(1, new Uint8Array(128)); f[50] = f[50]! ^ 1; return f; })(), 'bad-crc'],
  ])('%s → {ok:false, reason}', (_n, frame, reason) => {
    expect(decodeBlock(frame)).toEqual({ ok: false, reason });
  });

  it('rejects STX in checksum mode and a bad checksum', () => {
    expect(frameLength(STX, 'checksum')).toBeNull();
    const f = encodeBlock(1, seqBytes(128), { check: 'checksum' });
    f[131] = f[131]! ^ 0xff;
    expect(decodeBlock(f, 'checksum')).toEqual({ ok: false, reason: 'bad-checksum' });
  });

  it('never throws on random input', () => {
    let s = 12345;
    for (let i = 0; i < 500; i++) {
      const len = (s = (s * 1103515245 + 12345) >>> 0) % 1100;
      const b = Uint8Array.from({ length: len }, () => (s = (s * 1103515245 + 12345) >>> 0) & 0xff);
      if (len > 0) b[0] = [SOH, STX, 0x00][i % 3]!;
      expect(() => decodeBlock(b)).not.toThrow();
      expect(() => decodeHeader(b)).not.toThrow();
    }
  });

  it('parses headers the ST way: size until a space, octal mtime; empty name = end of batch', () => {
    expect(decodeHeader(encodeHeaderPayload('fw.bin', '65536 '))).toEqual({ ok: true, endOfBatch: false, name: 'fw.bin', sizeBytes: 65536, mtimeSec: null });
    expect(decodeHeader(encodeHeaderPayload('fw.bin', '10 17'))).toEqual({ ok: true, endOfBatch: false, name: 'fw.bin', sizeBytes: 10, mtimeSec: 15 });
    expect(decodeHeader(new Uint8Array(128))).toEqual({ ok: true, endOfBatch: true });
    expect(decodeHeader(encodeHeaderPayload('fw.bin', 'x12'))).toEqual({ ok: false, reason: 'bad-size' });
    expect(decodeHeader(new Uint8Array(128).fill(0x41))).toEqual({ ok: false, reason: 'no-name-terminator' });
  });
});
