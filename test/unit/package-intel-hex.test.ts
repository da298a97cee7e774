import { describe, expect, it } from 'vitest';
import { parseIntelHex } from '../../main/engine/package/intel-hex.js';

/** One record line with a correct checksum (the two's complement of the byte sum). */
function rec(type: number, offset: number, data: number[] = []): string {
  const bytes = [data.length, (offset >> 8) & 0xff, offset & 0xff, type, ...data];
  const sum = bytes.reduce((a, b) => a + b, 0);
  return ':' + [...bytes, (0x100 - (sum & 0xff)) & 0xff].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join('');
}
const ext = (upper: number) => rec(0x04, 0, [(upper >> 8) & 0xff, upper & 0xff]);
const EOF_LINE = rec(0x01, 0);
const enc = (lines: string[], eol = '\r\n') => new TextEncoder().encode(lines.join(eol) + eol);
const seq = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

/** A real-looking STM32 image: vectors at 0x08000000, code across a 64 KiB boundary, a config block in a second bank. */
function sampleLines(): string[] {
  const lines = [ext(0x0800)];
  for (let off = 0xffc0; off < 0x10000; off += 16) lines.push(rec(0x00, off, seq(16, off)));
  lines.push(ext(0x0801));
  for (let off = 0; off < 0x40; off += 16) lines.push(rec(0x00, off, seq(16, 0x10000 + off)));
  lines.push(ext(0x0802), rec(0x00, 0x0100, [0xde, 0xad, 0xbe, 0xef]));
  lines.push(rec(0x05, 0, [0x08, 0x00, 0xff, 0xc1]), EOF_LINE);
  return lines;
}

describe('parseIntelHex: a valid multi-segment file', () => {
  it('lays the data out contiguously from the lowest address, gaps 0xFF', () => {
    const r = parseIntelHex(enc(sampleLines()));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.base).toBe(0x0800ffc0);
    expect(r.startAddress).toBe(0x0800ffc1);
    expect(r.segments).toEqual([
      { address: 0x0800ffc0, length: 0x80 },
      { address: 0x08020100, length: 4 },
    ]);
    expect(r.bytes.length).toBe(0x08020104 - 0x0800ffc0);
    expect(Array.from(r.bytes.subarray(0, 16))).toEqual(seq(16, 0xffc0));
    expect(Array.from(r.bytes.subarray(0x40, 0x50))).toEqual(seq(16, 0x10000));
    expect(r.bytes[0x80]).toBe(0xff);
    expect(r.bytes[r.bytes.length - 5]).toBe(0xff);
    expect(Array.from(r.bytes.subarray(-4))).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });
  it('reads the same file with \\n, \\r\\n and lowercase digits, and records given out of order', () => {
    const lines = sampleLines();
    const a = parseIntelHex(enc(lines, '\n'));
    const b = parseIntelHex(enc(lines.map((l) => l.toLowerCase())));
    const shuffled = [ext(0x0802), rec(0x00, 0x0100, [1, 2]), ext(0x0800), rec(0x00, 0x0000, [3, 4]), EOF_LINE];
    const c = parseIntelHex(enc(shuffled));
    expect(a.ok && b.ok && Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    expect(c.ok && c.base === 0x08000000 && c.bytes[0] === 3 && c.bytes[0x20100] === 1).toBe(true);
  });
  it('handles type 02 extended segment and 03 start segment records (I16HEX)', () => {
    const r = parseIntelHex(enc([rec(0x02, 0, [0x10, 0x00]), rec(0x00, 0x0010, [1, 2, 3]), rec(0x03, 0, [0x10, 0x00, 0x00, 0x10]), EOF_LINE]));
    expect(r).toMatchObject({ ok: true, base: 0x10010, startAddress: 0x10010 });
  });
  it('ignores anything after the EOF record and blank lines', () => {
    const r = parseIntelHex(new TextEncoder().encode(`\n${rec(0, 0, [7])}\n\n${EOF_LINE}\ngarbage`));
    expect(r).toMatchObject({ ok: true, base: 0 });
  });
  it('uses the given allocator (shared memory)', () => {
    const r = parseIntelHex(enc(sampleLines()), { alloc: (n) => new Uint8Array(new SharedArrayBuffer(n)) });
    expect(r.ok && r.bytes.buffer instanceof SharedArrayBuffer).toBe(true);
  });
});

describe('parseIntelHex: each corruption gets its own code and line', () => {
  const good = sampleLines();
  const at = (i: number, line: string) => good.map((l, k) => (k === i ? line : l));
  it.each([
    ['bad checksum', enc(at(2, good[2]!.slice(0, -2) + '00')), 'IMAGE_HEX_CHECKSUM', 3],
    ['a flipped data digit', enc(at(3, good[3]!.slice(0, 12) + (good[3]![12] === '0' ? '1' : '0') + good[3]!.slice(13))), 'IMAGE_HEX_CHECKSUM', 4],
    ['bad character', enc(at(2, good[2]!.slice(0, 10) + 'G' + good[2]!.slice(11))), 'IMAGE_HEX_SYNTAX', 3],
    ['missing colon', enc(at(1, good[1]!.slice(1))), 'IMAGE_HEX_SYNTAX', 2],
    ['odd length mid-file', enc(at(1, good[1]!.slice(0, -1))), 'IMAGE_HEX_SYNTAX', 2],
    ['length field disagrees', enc(at(1, good[1]!.slice(0, -4) + good[1]!.slice(-2))), 'IMAGE_HEX_SYNTAX', 2],
    ['unknown record type', enc(at(1, rec(0x06, 0, [1]))), 'IMAGE_HEX_SYNTAX', 2],
    ['EOF record with data', enc(at(good.length - 1, rec(0x01, 0, [1]))), 'IMAGE_HEX_SYNTAX', good.length],
    ['no EOF record', enc(good.slice(0, -1)), 'IMAGE_HEX_TRUNCATED', good.length - 1],
    ['last line cut', new TextEncoder().encode(good.slice(0, 5).join('\n') + '\n' + good[5]!.slice(0, 20)), 'IMAGE_HEX_TRUNCATED', 6],
    ['overlapping records', enc([ext(0x0800), rec(0, 0x10, seq(16, 1)), rec(0, 0x40, seq(16, 2)), rec(0, 0x18, [1, 2]), EOF_LINE]), 'IMAGE_HEX_OVERLAP', 4],
    ['a record rewritten exactly', enc([rec(0, 0x10, [1, 2]), rec(0, 0x20, [3]), rec(0, 0x10, [1, 2]), EOF_LINE]), 'IMAGE_HEX_OVERLAP', 3],
    ['no data at all', enc([EOF_LINE]), 'IMAGE_EMPTY', 1],
  ])('%s → %s', (_name, input, code, line) => {
    const r = parseIntelHex(input);
    expect(r).toMatchObject({ ok: false, code, line });
  });
  it('caps the address span so two far-apart records cannot allocate gigabytes', () => {
    const bomb = enc([ext(0x0000), rec(0, 0, [1]), ext(0xfff0), rec(0, 0, [2]), EOF_LINE]);
    expect(parseIntelHex(bomb, { maxBytes: 1024 * 1024 })).toMatchObject({ ok: false, code: 'IMAGE_TOO_LARGE', line: 4 });
  });
});
