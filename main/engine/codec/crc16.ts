/**
 * CRC-16/XMODEM: poly 0x1021, init 0, not reflected, no final XOR (ymodem.md §3).
 * Check value: "123456789" → 0x31C3.
 */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1;
    t[n] = c & 0xffff;
  }
  return t;
})();

export function crc16Xmodem(data: Uint8Array, prev = 0): number {
  let c = prev & 0xffff;
  for (let i = 0; i < data.length; i++) c = ((c << 8) ^ TABLE[((c >>> 8) ^ data[i]!) & 0xff]!) & 0xffff;
  return c;
}
