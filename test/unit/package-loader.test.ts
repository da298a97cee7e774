import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { StationError } from '../../main/engine/errors.js';
import { loadPackage } from '../../main/engine/package/loader.js';
import { expectStationError } from '../helpers/station-error.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flashline-pkg-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, data: Uint8Array | string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}

const loadError = expectStationError;

const hash = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');

function rec(type: number, offset: number, data: number[] = []): string {
  const bytes = [data.length, (offset >> 8) & 0xff, offset & 0xff, type, ...data];
  const sum = bytes.reduce((a, b) => a + b, 0);
  return ':' + [...bytes, (0x100 - (sum & 0xff)) & 0xff].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join('');
}

describe('loadPackage: bare .bin', () => {
  it('hashes match node:crypto and zlib, bytes live in one SharedArrayBuffer', async () => {
    const img = buildSimImage(3 * 1024 * 1024 + 17, '2.0.0');
    const p = await file('app.bin', img);
    const { info, images } = await loadPackage(p, { version: '2.1.0' });
    const [image] = images;
    expect(images).toHaveLength(1);
    expect(image!.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.from(image!.bytes).equals(Buffer.from(img))).toBe(true);
    expect(image!.info).toEqual({
      component: 'app',
      version: '2.1.0',
      kind: 'full',
      fileName: 'app.bin',
      sizeBytes: img.length,
      crc32: (zlib.crc32(img) >>> 0).toString(16).padStart(8, '0'),
      md5: hash('md5', img),
      sha256: hash('sha256', img),
    });
    expect(image!.info.crc32).toMatch(/^[0-9a-f]{8}$/);
    expect(info).toMatchObject({ id: hash('sha256', img).slice(0, 16), sourcePath: p, format: 'bin', signature: 'none' });
    expect(info.components).toEqual([image!.info]);
  });
  it('takes the version from the app descriptor when none is given, and names the component', async () => {
    const p = await file('ble.bin', buildSimImage(4096, '3.4.5'));
    const { images } = await loadPackage(p, { component: 'ble' });
    expect(images[0]!.info).toMatchObject({ component: 'ble', version: '3.4.5' });
  });
  it('without a version or descriptor → IMAGE_VERSION_INVALID', async () => {
    const p = await file('plain.bin', new Uint8Array(100).fill(1));
    expect((await loadError(loadPackage(p))).code).toBe('IMAGE_VERSION_INVALID');
  });
  it.each([
    ['33 bytes', 'A'.repeat(33)],
    ['a space', '1.0 beta'],
    ['unicode', 'v1.0-β'],
    ['empty', ''],
  ])('a version with %s → IMAGE_VERSION_INVALID', async (_n, version) => {
    const p = await file('v.bin', buildSimImage(256, '1.0.0'));
    const err = await loadError(loadPackage(p, { version }));
    expect(err.code).toBe('IMAGE_VERSION_INVALID');
    expect(err.message).toContain(p);
  });
});

describe('loadPackage: file-level failures', () => {
  it('empty file → IMAGE_EMPTY', async () => {
    const p = await file('empty.bin', new Uint8Array(0));
    const err = await loadError(loadPackage(p, { version: '1.0' }));
    expect(err.code).toBe('IMAGE_EMPTY');
    expect(err.message).toContain(p);
  });
  it('over the limit → IMAGE_TOO_LARGE before reading', async () => {
    const p = await file('big.bin', new Uint8Array(2048));
    const err = await loadError(loadPackage(p, { version: '1.0', maxBytes: 1024 }));
    expect(err.code).toBe('IMAGE_TOO_LARGE');
    expect(err.message).toMatch(/2048 bytes.*1024/);
  });
  it('missing file and directories → IMAGE_UNREADABLE', async () => {
    expect((await loadError(loadPackage(join(dir, 'nope.bin'), { version: '1.0' }))).code).toBe('IMAGE_UNREADABLE');
    await mkdir(join(dir, 'folder.bin'));
    expect((await loadError(loadPackage(join(dir, 'folder.bin'), { version: '1.0' }))).code).toBe('IMAGE_UNREADABLE');
  });
  it.skipIf(process.getuid?.() === 0)('a file without read permission → IMAGE_UNREADABLE', async () => {
    const p = await file('secret.bin', new Uint8Array(10));
    await chmod(p, 0o000);
    expect((await loadError(loadPackage(p, { version: '1.0' }))).code).toBe('IMAGE_UNREADABLE');
  });
  it('format comes from the extension and must agree with the content', async () => {
    const zipAsBin = await file('renamed.bin', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0]));
    expect((await loadError(loadPackage(zipAsBin, { version: '1.0' }))).code).toBe('IMAGE_FORMAT_UNKNOWN');
    const binAsHex = await file('fake.hex', new Uint8Array([1, 2, 3]));
    expect((await loadError(loadPackage(binAsHex, { version: '1.0' }))).code).toBe('IMAGE_FORMAT_UNKNOWN');
    const binAsZip = await file('fake.zip', new Uint8Array([1, 2, 3]));
    expect((await loadError(loadPackage(binAsZip))).code).toBe('IMAGE_ZIP_INVALID');
    const unknown = await file('image.xyz', new Uint8Array([1, 2, 3]));
    expect((await loadError(loadPackage(unknown, { version: '1.0' }))).code).toBe('IMAGE_FORMAT_UNKNOWN');
  });
  it('an unsigned bare image cannot satisfy requireSignature', async () => {
    const p = await file('unsigned.bin', buildSimImage(256, '1.0.0'));
    expect((await loadError(loadPackage(p, { requireSignature: true }))).code).toBe('IMAGE_SIGNATURE_REQUIRED');
  });
});

describe('loadPackage: bare .hex', () => {
  const hexText = (lines: string[]) => lines.join('\r\n') + '\r\n';
  it('decodes to the image, with base address, and hashes the decoded bytes', async () => {
    const data = Array.from({ length: 32 }, (_, i) => i);
    const p = await file('fw.hex', hexText([rec(4, 0, [0x08, 0x00]), rec(0, 0x0000, data.slice(0, 16)), rec(0, 0x0010, data.slice(16)), rec(0, 0x0030, [0xaa]), rec(1, 0)]));
    const { info, images } = await loadPackage(p, { version: '1.2.3' });
    const expected = new Uint8Array(0x31).fill(0xff);
    expected.set(data, 0);
    expected[0x30] = 0xaa;
    expect(Buffer.from(images[0]!.bytes).equals(Buffer.from(expected))).toBe(true);
    expect(images[0]!.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(images[0]!.info).toMatchObject({ baseAddress: 0x08000000, sizeBytes: 0x31, sha256: hash('sha256', expected), md5: hash('md5', expected) });
    expect(info.format).toBe('hex');
  });
  it('a bad checksum names the file and line', async () => {
    const bad = rec(0, 0x10, [1, 2, 3]).slice(0, -2) + '00';
    const p = await file('bad.hex', hexText([rec(0, 0, [1]), bad, rec(1, 0)]));
    const err = await loadError(loadPackage(p, { version: '1.0' }));
    expect(err.code).toBe('IMAGE_HEX_CHECKSUM');
    expect(err.message).toContain(`${p}:2:`);
  });
  it('a HEX span over maxBytes → IMAGE_TOO_LARGE', async () => {
    const p = await file('spread.hex', hexText([rec(0, 0, [1]), rec(4, 0, [0x00, 0x10]), rec(0, 0, [2]), rec(1, 0)]));
    expect((await loadError(loadPackage(p, { version: '1.0', maxBytes: 4096 }))).code).toBe('IMAGE_TOO_LARGE');
  });
});
