import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { StationError } from '../../main/engine/errors.js';
import { loadPackage } from '../../main/engine/package/loader.js';
import { canonicalJson, generateSigningKey, keyFingerprint, signManifest, signedBytes } from '../../main/engine/package/signature.js';
import { createZipPackage, isSafeEntryName, readZipPackage } from '../../main/engine/package/zip-package.js';
import { expectStationError } from '../helpers/station-error.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flashline-zip-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function zipFile(data: Uint8Array): Promise<string> {
  const p = join(dir, `pkg-${n++}.zip`);
  await writeFile(p, data);
  return p;
}
const loadError = expectStationError;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const app = buildSimImage(200_000, '2.0.0');
const diff = buildSimImage(5_000, '2.0.0');

function hexOf(bytes: number[], offset: number): string {
  const rec = (type: number, off: number, data: number[]) => {
    const b = [data.length, (off >> 8) & 0xff, off & 0xff, type, ...data];
    return ':' + [...b, (0x100 - (b.reduce((x, y) => x + y, 0) & 0xff)) & 0xff].map((x) => x.toString(16).padStart(2, '0')).join('');
  };
  return [rec(0, offset, bytes), rec(1, 0, [])].join('\n') + '\n';
}

describe('zip packages: loading', () => {
  it('loads full and diff components with manifest metadata and verified hashes', async () => {
    const p = await zipFile(
      createZipPackage({
        product: 'lamp-x1',
        components: [
          { component: 'ble', version: '1.0.1', file: 'fw/ble.hex', data: strToU8(hexOf([9, 8, 7], 0x100)) },
          { component: 'app', version: '2.0.0', kind: 'diff', sourceVersion: '1.0.0', file: 'app-diff.bin', data: diff },
          { component: 'mcu', version: '5.0', file: 'mcu.bin', data: app },
        ],
        extraEntries: { 'README.txt': strToU8('notes') },
      }),
    );
    const { info, images } = await loadPackage(p, { version: 'ignored-for-zip' });
    expect(info).toMatchObject({ format: 'zip', signature: 'none', id: sha256(diff).slice(0, 16) });
    expect(info.signer).toBeUndefined();
    expect(info.components.map((c) => [c.component, c.version, c.kind, c.sourceVersion, c.fileName])).toEqual([
      ['ble', '1.0.1', 'full', undefined, 'fw/ble.hex'],
      ['app', '2.0.0', 'diff', '1.0.0', 'app-diff.bin'],
      ['mcu', '5.0', 'full', undefined, 'mcu.bin'],
    ]);
    const [ble, appDiff, mcu] = images;
    expect(Array.from(ble!.bytes)).toEqual([9, 8, 7]);
    expect(ble!.info.baseAddress).toBe(0x100);
    expect(appDiff!.info.sha256).toBe(sha256(diff));
    expect(Buffer.from(mcu!.bytes).equals(Buffer.from(app))).toBe(true);
    expect(mcu!.info.md5).toBe(createHash('md5').update(app).digest('hex'));
    for (const img of images) expect(img.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('a diff component without sourceVersion → IMAGE_MANIFEST_INVALID', async () => {
    const manifest = { format: 1, components: [{ component: 'app', file: 'app.bin', version: '2.0.0', kind: 'diff', sha256: sha256(diff) }] };
    const p = await zipFile(zipSync({ 'manifest.json': strToU8(JSON.stringify(manifest)), 'app.bin': diff }));
    const err = await loadError(loadPackage(p));
    expect(err.code).toBe('IMAGE_MANIFEST_INVALID');
    expect(err.message).toMatch(/sourceVersion/);
  });

  it.each([
    ['no manifest', { 'app.bin': app }],
    ['manifest not JSON', { 'manifest.json': strToU8('{nope'), 'app.bin': app }],
    ['wrong format number', { 'manifest.json': strToU8('{"format":2,"components":[]}') }],
    ['manifest names a missing file', { 'manifest.json': strToU8(JSON.stringify({ format: 1, components: [{ component: 'app', file: 'gone.bin', version: '1', kind: 'full', sha256: sha256(app) }] })) }],
    ['component file of another type', { 'manifest.json': strToU8(JSON.stringify({ format: 1, components: [{ component: 'app', file: 'app.elf', version: '1', kind: 'full', sha256: sha256(app) }] })) }],
  ])('%s → IMAGE_MANIFEST_INVALID', async (_n, files) => {
    expect((await loadError(loadPackage(await zipFile(zipSync(files))))).code).toBe('IMAGE_MANIFEST_INVALID');
  });

  it('a manifest version that devices would refuse → IMAGE_VERSION_INVALID', async () => {
    const p = await zipFile(createZipPackage({ components: [{ component: 'app', version: '2.0 final', file: 'app.bin', data: app }] }));
    expect((await loadError(loadPackage(p))).code).toBe('IMAGE_VERSION_INVALID');
  });

  it('a file that does not match its manifest hash → IMAGE_HASH_MISMATCH naming the entry', async () => {
    const good = { format: 1, components: [{ component: 'app', file: 'app.bin', version: '2.0.0', kind: 'full', sha256: sha256(app) }] };
    const tampered = app.slice();
    tampered[1000] = tampered[1000]! ^ 0xff;
    const p = await zipFile(zipSync({ 'manifest.json': strToU8(JSON.stringify(good)), 'app.bin': tampered }));
    const err = await loadError(loadPackage(p));
    expect(err.code).toBe('IMAGE_HASH_MISMATCH');
    expect(err.message).toContain('[app.bin]');
  });

  it.each(['../evil.bin', '/etc/evil.bin', 'fw\\..\\evil.bin', 'C:/evil.bin', 'a/../../evil.bin'])('an entry named %j → IMAGE_ZIP_PATH_ESCAPE', async (name) => {
    const p = await zipFile(createZipPackage({ components: [{ component: 'app', version: '1.0', file: 'app.bin', data: diff }], extraEntries: { [name]: strToU8('x') } }));
    const err = await loadError(loadPackage(p));
    expect(err.code).toBe('IMAGE_ZIP_PATH_ESCAPE');
    expect(err.message).toContain(name);
  });

  it('a manifest pointing outside the folder → IMAGE_ZIP_PATH_ESCAPE', async () => {
    const manifest = { format: 1, components: [{ component: 'app', file: '../app.bin', version: '1', kind: 'full', sha256: sha256(app) }] };
    const p = await zipFile(zipSync({ 'manifest.json': strToU8(JSON.stringify(manifest)) }));
    expect((await loadError(loadPackage(p))).code).toBe('IMAGE_ZIP_PATH_ESCAPE');
  });

  it('damaged zips → IMAGE_ZIP_INVALID', async () => {
    const zip = createZipPackage({ components: [{ component: 'app', version: '1.0', file: 'app.bin', data: app }] });
    const cut = await zipFile(zip.subarray(0, zip.length - 30));
    expect((await loadError(loadPackage(cut))).code).toBe('IMAGE_ZIP_INVALID');
    const flipped = zip.slice();
    flipped[Math.floor(zip.length / 2)] = flipped[Math.floor(zip.length / 2)]! ^ 0x55; // inside the compressed app.bin
    expect((await loadError(loadPackage(await zipFile(flipped)))).code).toBe('IMAGE_ZIP_INVALID');
  });

  it('checks declared sizes before inflating (zip bomb)', async () => {
    const bomb = new Uint8Array(50 * 1024 * 1024); // deflates to ~50 KiB
    const zip = createZipPackage({ components: [{ component: 'app', version: '1.0', file: 'app.bin', data: bomb }] });
    expect(zip.length).toBeLessThan(1024 * 1024);
    const err = await loadError(loadPackage(await zipFile(zip), { maxBytes: 1024 * 1024 }));
    expect(err.code).toBe('IMAGE_TOO_LARGE');
    expect(err.message).toContain('[app.bin]');
  });

  it('an entry that inflates past its declared size is refused', () => {
    const zip = createZipPackage({ components: [{ component: 'app', version: '1.0', file: 'app.bin', data: new Uint8Array(4096) }] });
    // Lower the declared size in the central directory (offset 24 of the entry's header) to 16 bytes.
    const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    const name = new TextEncoder().encode('app.bin');
    for (let i = 0; i < zip.length - 46; i++) {
      if (view.getUint32(i, true) === 0x02014b50 && Buffer.from(zip.subarray(i + 46, i + 46 + name.length)).equals(Buffer.from(name))) view.setUint32(i + 24, 16, true);
    }
    expect(() => readZipPackage(zip, { maxBytes: 1 << 20 })).toThrow(/\[app\.bin\]: inflates past its declared 16 bytes/);
  });
});

describe('zip packages: signatures', () => {
  const signer = generateSigningKey();
  const other = generateSigningKey();
  const signedZip = () => createZipPackage({ components: [{ component: 'app', version: '2.0.0', file: 'app.bin', data: diff }], privateKeyPem: signer.privateKeyPem });

  it('a good signature loads as valid with the signer fingerprint', async () => {
    const { info } = await loadPackage(await zipFile(signedZip()), { requireSignature: true, trustedKeys: [signer.publicKey] });
    expect(info.signature).toBe('valid');
    expect(info.signer).toBe(keyFingerprint(signer.publicKey));
    expect(info.signer).toMatch(/^ed25519:[0-9a-f]{16}$/);
  });

  it('accepts a trusted key given as PEM', async () => {
    const { createPublicKey } = await import('node:crypto');
    const pem = createPublicKey(signer.privateKeyPem).export({ format: 'pem', type: 'spki' }).toString();
    const { info } = await loadPackage(await zipFile(signedZip()), { trustedKeys: [pem] });
    expect(info.signature).toBe('valid');
  });

  it('a manifest edited after signing → IMAGE_SIGNATURE_INVALID', async () => {
    const manifest = signManifest({ format: 1, components: [{ component: 'app', file: 'app.bin', version: '2.0.0', kind: 'full', sha256: sha256(diff) }] }, signer.privateKeyPem);
    manifest.components[0]!.version = '9.9.9';
    const p = await zipFile(zipSync({ 'manifest.json': strToU8(JSON.stringify(manifest)), 'app.bin': diff }));
    expect((await loadError(loadPackage(p))).code).toBe('IMAGE_SIGNATURE_INVALID');
  });

  it('a garbage signature value or algorithm → IMAGE_SIGNATURE_INVALID', async () => {
    const base = { format: 1, components: [{ component: 'app', file: 'app.bin', version: '2.0.0', kind: 'full', sha256: sha256(diff) }] };
    for (const signature of [{ alg: 'ed25519', publicKey: signer.publicKey, value: 'AAAA' }, { alg: 'rsa', publicKey: signer.publicKey, value: 'AAAA' }, { alg: 'ed25519', publicKey: 'short', value: 'AAAA' }]) {
      const p = await zipFile(zipSync({ 'manifest.json': strToU8(JSON.stringify({ ...base, signature })), 'app.bin': diff }));
      expect((await loadError(loadPackage(p))).code).toBe('IMAGE_SIGNATURE_INVALID');
    }
  });

  it('a valid signature from a key that is not trusted → IMAGE_SIGNATURE_INVALID', async () => {
    const err = await loadError(loadPackage(await zipFile(signedZip()), { trustedKeys: [other.publicKey] }));
    expect(err.code).toBe('IMAGE_SIGNATURE_INVALID');
    expect(err.message).toContain('not a trusted key');
  });

  it('requireSignature refuses an unsigned zip → IMAGE_SIGNATURE_REQUIRED', async () => {
    const p = await zipFile(createZipPackage({ components: [{ component: 'app', version: '2.0.0', file: 'app.bin', data: diff }] }));
    expect((await loadError(loadPackage(p, { requireSignature: true }))).code).toBe('IMAGE_SIGNATURE_REQUIRED');
  });

  it('signs the canonical manifest JSON without its signature field', () => {
    const m = signManifest({ format: 1, components: [], product: 'p' }, signer.privateKeyPem);
    expect(new TextDecoder().decode(signedBytes(m))).toBe('{"components":[],"format":1,"product":"p"}');
    expect(canonicalJson({ b: [1, { d: 2, c: 'x' }], a: null })).toBe('{"a":null,"b":[1,{"c":"x","d":2}]}');
  });
});

describe('isSafeEntryName', () => {
  it.each(['app.bin', 'fw/app.bin', './app.bin', 'a..b.bin'])('accepts %j', (name) => expect(isSafeEntryName(name)).toBe(true));
  it.each(['', '..', '../x', 'a/../../x', '/x', '\\x', 'a\\b', 'C:x', 'c:/x', 'a\0b'])('rejects %j', (name) => expect(isSafeEntryName(name)).toBe(false));
});
