import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { crc32, crc32Hex } from '../../main/engine/codec/crc32.js';
import { crc16Xmodem } from '../../main/engine/codec/crc16.js';

const ascii = (s: string) => new TextEncoder().encode(s);

describe('crc32 (zlib)', () => {
  it('matches the published check value', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
  });
  it('matches the traces’ test images (traces/README.md)', () => {
    const img = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
    expect(crc32Hex(img(5000))).toBe('1abd04d4');
    expect(crc32Hex(img(102400))).toBe('2cd27a54');
  });
  it('agrees with zlib at every length and when continued in pieces', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 31 + 7) & 0xff);
    for (let n = 0; n <= data.length; n += 13) {
      expect(crc32(data.subarray(0, n))).toBe(zlib.crc32(data.subarray(0, n)));
      expect(crc32(data.subarray(n), crc32(data.subarray(0, n)))).toBe(zlib.crc32(data));
    }
  });
});

describe('crc16/xmodem (ymodem.md §3 vectors)', () => {
  it.each([
    ['123456789', ascii('123456789'), 0x31c3],
    ['128 x 00', new Uint8Array(128), 0x0000],
    ['128 x 1A', new Uint8Array(128).fill(0x1a), 0xf8b0],
    ['00..7F', Uint8Array.from({ length: 128 }, (_, i) => i), 0xe80a],
    ['1024 i mod 256', Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff), 0xc2e0],
  ])('%s', (_name, data, want) => {
    expect(crc16Xmodem(data)).toBe(want);
  });
});
