/**
 * The application descriptor that virtual devices read from an image to learn the version they
 * will boot, the way real firmware carries its version inside the image (cf. ESP-IDF's app
 * descriptor). Layout: magic "FLVD" (46 4C 56 44), 1 byte length, that many ASCII version bytes.
 * Images without a descriptor boot as version "unknown".
 */
const MAGIC = [0x46, 0x4c, 0x56, 0x44];
export const UNKNOWN_VERSION = 'unknown';

export function encodeAppDescriptor(version: string): Uint8Array {
  const v = new TextEncoder().encode(version);
  if (v.length < 1 || v.length > 32) throw new RangeError('version must be 1..32 bytes');
  const out = new Uint8Array(4 + 1 + v.length);
  out.set(MAGIC, 0);
  out[4] = v.length;
  out.set(v, 5);
  return out;
}

/** Find the first descriptor in the first `scanBytes` of the image. */
export function findAppVersion(image: Uint8Array, scanBytes = 4096): string {
  const end = Math.min(image.length, scanBytes) - 5;
  for (let i = 0; i <= end; i++) {
    if (image[i] === MAGIC[0] && image[i + 1] === MAGIC[1] && image[i + 2] === MAGIC[2] && image[i + 3] === MAGIC[3]) {
      const len = image[i + 4]!;
      if (len < 1 || len > 32 || i + 5 + len > image.length) continue;
      const bytes = image.subarray(i + 5, i + 5 + len);
      if (!bytes.every((b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2e || b === 0x2d || b === 0x5f)) continue;
      return new TextDecoder().decode(bytes);
    }
  }
  return UNKNOWN_VERSION;
}

/**
 * Build a demo/test image of `sizeBytes` whose descriptor says `version`: a small vector-table-like
 * header, the descriptor at offset 0x20, then deterministic filler (the traces' rule i*7+3).
 */
export function buildSimImage(sizeBytes: number, version: string): Uint8Array {
  const img = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) img[i] = (i * 7 + 3) & 0xff;
  const d = encodeAppDescriptor(version);
  if (sizeBytes >= 0x20 + d.length) img.set(d, 0x20);
  return img;
}
