/**
 * Operator and engineer on the station API with a real Engine (issue 13 §4): the engineer secret
 * is stored as a scrypt hash, engineer-only methods refuse operators (not just the UI), a session
 * token unlocks them, every engineer action and batch start/cancel lands in the journal's audit
 * log, the engineer's stop-the-line threshold applies to operators' batches, imports refuse a
 * contradicting version unless confirmed, packages come back after a restart, and scan mappings.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Engine } from '../../main/engine/engine.js';
import { openSettings } from '../../main/engine/settings/settings.js';
import { createStationApi, type StationApi } from '../../main/server/api.js';
import { hashSecret, verifySecret } from '../../main/server/roles.js';

let dir: string;
let engine: Engine;
let api: StationApi;
const image = Buffer.from(buildSimImage(8 * 1024, '2.0.0')).toString('base64');

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-roles-'));
  engine = Engine.open({ dataDir: dir });
  api = createStationApi({ engine, settings: openSettings(dir), browserMode: true });
});
afterEach(async () => {
  await engine.close();
});

const h = () => api.handlers;
async function ok<T>(p: Promise<{ ok: boolean; value?: T; error?: { code: string } }>): Promise<T> {
  const r = await p;
  if (!r.ok) throw new Error(`expected ok, got ${r.error?.code}`);
  return r.value as T;
}

describe('roles', () => {
  it('hashes the secret with scrypt and verifies it in constant time', () => {
    const stored = hashSecret('4711');
    expect(stored).toMatch(/^scrypt\$16384\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
    expect(stored).not.toContain('4711');
    expect(verifySecret('4711', stored)).toBe(true);
    expect(verifySecret('4712', stored)).toBe(false);
    expect(verifySecret('4711', 'plain')).toBe(false);
  });

  it('refuses engineer methods to operators once a secret is set, on the API itself', async () => {
    // First set-up: no secret yet, so setting one is open and unlocks the caller.
    const first = await ok(h().setEngineerSecret({ secret: '4711' }));
    expect(first).toMatchObject({ role: 'engineer', secretSet: true });
    expect(first.token).toBeTruthy();
    const stored = JSON.parse(fs.readFileSync(path.join(dir, 'settings.json'), 'utf8')) as { engineerSecret: string };
    expect(stored.engineerSecret).toMatch(/^scrypt\$/);

    // Without the token: an operator.
    const refused = await h().importPackage({ fileName: 'app.bin', dataBase64: image });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.code).toBe('ROLE_ENGINEER_REQUIRED');
    expect((await h().setSettings({ operator: 'mallory' })).ok).toBe(false);
    expect((await h().setScanMappings({ mappings: [] })).ok).toBe(false);
    expect((await h().setEngineerSecret({ secret: '0000' })).ok).toBe(false);
    // An operator may switch the language of their screen.
    expect((await h().setSettings({ language: 'zh-CN' })).ok).toBe(true);
    expect((await ok(h().roleStatus({}))).role).toBe('operator');

    // Wrong secret, then the right one.
    const wrong = await h().unlockEngineer({ secret: '1234' });
    expect(!wrong.ok && wrong.error.code).toBe('ROLE_BAD_SECRET');
    const { token } = await ok(h().unlockEngineer({ secret: '4711' }));
    expect((await ok(h().roleStatus({ engineerToken: token } as never))).role).toBe('engineer');
    const pkg = await ok(h().importPackage({ fileName: 'app.bin', dataBase64: image, engineerToken: token } as never));
    expect((pkg as { id: string }).id).toBeTruthy();
    expect((await h().setSettings({ operator: 'alice', engineerToken: token } as never)).ok).toBe(true);
    await ok(h().lockEngineer({ engineerToken: token } as never));
    expect((await h().setSettings({ operator: 'bob', engineerToken: token } as never)).ok).toBe(false);

    // The audit log has the engineer actions and the refusals, newest first.
    const audit = await ok(h().listAudit({}));
    const actions = (audit as { action: string; role: string }[]).map((a) => `${a.role}:${a.action}`);
    expect(actions).toContain('engineer:setEngineerSecret');
    expect(actions).toContain('operator:importPackage refused');
    expect(actions).toContain('engineer:unlockEngineer');
    expect(actions).toContain('operator:unlockEngineer refused');
    expect(actions).toContain('engineer:importPackage');
    expect(actions).toContain('engineer:setSettings');
    expect(actions).not.toContain('operator:setSettings'); // a language switch is not an engineer action
    expect(actions[0]).toBe('operator:setSettings refused');
  });

  it('audits batch create/start/cancel and applies the engineer’s stop-the-line to operators', async () => {
    const pkg = await ok(h().importPackage({ fileName: 'app.bin', dataBase64: image }));
    await ok(h().setStopAfterFailures({ failures: 3 }));
    await ok(h().setEngineerSecret({ secret: 'secret-pin' }));
    const units = await ok(h().resolveTargets({ targets: ['sim:ymodem:2'] }));
    // The operator asks for no stop-the-line at all: the engineer's threshold applies anyway.
    const batch = await ok(h().createBatch({ packageId: (pkg as { id: string }).id, units, plan: {} }));
    expect((batch as { plan: { stopTheLine?: { consecutiveFailures?: number } } }).plan.stopTheLine?.consecutiveFailures).toBe(3);
    const weaker = await ok(h().createBatch({ packageId: (pkg as { id: string }).id, units, plan: { stopTheLine: { consecutiveFailures: 50 } } }));
    expect((weaker as { plan: { stopTheLine?: { consecutiveFailures?: number } } }).plan.stopTheLine?.consecutiveFailures).toBe(3);
    const id = (batch as { batchId: string }).batchId;
    await ok(h().startBatch({ batchId: id }));
    await ok(h().cancelBatch({ batchId: id }));
    const audit = (await ok(h().listAudit({}))) as { action: string; target?: string }[];
    expect(audit.filter((a) => a.target === id).map((a) => a.action)).toEqual(['cancelBatch', 'startBatch', 'createBatch']);
  });
});

describe('stop-the-line', () => {
  it('stops when most finished units fail the same way, and refuses behaviours a protocol cannot do before the batch', async () => {
    const pkg = (await ok(h().importPackage({ fileName: 'app.bin', dataBase64: image }))) as { id: string };
    await ok(h().setStopAfterFailures({ failures: 100 }));
    const units = await ok(h().resolveTargets({ targets: ['sim:ymodem:2', 'sim:ymodem:6:refuse_version'] }));
    const batch = (await ok(h().createBatch({ packageId: pkg.id, units, plan: { concurrency: { global: 2, perBleAdapter: 1 } } }))) as { batchId: string; plan: { stopTheLine?: Record<string, number> } };
    expect(batch.plan.stopTheLine).toMatchObject({ consecutiveFailures: 100, sameFailureShare: 0.5, minFinished: 4 });
    await ok(h().startBatch({ batchId: batch.batchId }));
    const deadline = Date.now() + 30_000;
    let state = '';
    let reason = '';
    while (Date.now() < deadline) {
      const b = (await ok(h().getBatch({ batchId: batch.batchId }))) as { batch: { state: string; pausedReason?: string } };
      state = b.batch.state;
      reason = b.batch.pausedReason ?? '';
      if (state !== 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(state).toBe('paused');
    expect(reason).toMatch(/failed the same way \(DEVICE_REJECTED_VERSION\)/);

    const mqtt = await ok(h().resolveTargets({ targets: ['sim:mqtt-ota-tencent:1:refuse_version'] }));
    const refused = await h().createBatch({ packageId: pkg.id, units: mqtt as never });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.message).toMatch(/cannot do: sim behaviour "refuse_version" is not implemented by the mqtt-ota-tencent/);
  });
});

describe('imports', () => {
  it('refuses a typed version that contradicts the image, and the same image under another version, unless confirmed', async () => {
    const bad = await h().importPackage({ fileName: 'app.bin', dataBase64: image, version: '3.0.0' });
    expect(!bad.ok && bad.error.code).toBe('PACKAGE_VERSION_CONFLICT');
    await ok(h().importPackage({ fileName: 'app.bin', dataBase64: image }));
    const again = await h().importPackage({ fileName: 'app-copy.bin', dataBase64: image, version: '2.1.0' });
    expect(!again.ok && ['PACKAGE_VERSION_CONFLICT', 'PACKAGE_SAME_IMAGE']).toContain(!again.ok && again.error.code);
    const forced = await ok(h().importPackage({ fileName: 'app-copy.bin', dataBase64: image, version: '2.1.0', confirm: true }));
    expect((forced as { components: { version: string }[] }).components[0]!.version).toBe('2.1.0');
    // A bare image without a descriptor under another version: the same-image warning.
    const raw = Buffer.alloc(4096, 7).toString('base64');
    await ok(h().importPackage({ fileName: 'raw.bin', dataBase64: raw, version: '1.0.0' }));
    const other = await h().importPackage({ fileName: 'raw.bin', dataBase64: raw, version: '1.0.1' });
    expect(!other.ok && other.error.code).toBe('PACKAGE_SAME_IMAGE');
  });

  it('lists imported packages again after the station restarts', async () => {
    const pkg = (await ok(h().importPackage({ fileName: 'app.bin', dataBase64: image }))) as { id: string };
    await engine.close();
    engine = Engine.open({ dataDir: dir });
    api = createStationApi({ engine, settings: openSettings(dir), browserMode: true });
    const list = (await ok(h().listPackages({}))) as { id: string; components: { version: string }[] }[];
    expect(list.map((p) => p.id)).toEqual([pkg.id]);
    expect(list[0]!.components[0]!.version).toBe('2.0.0');
  });
});

describe('scan mappings', () => {
  it('stores barcode → package/profile mappings and refuses a barcode mapped twice', async () => {
    const saved = await ok(h().setScanMappings({ mappings: [{ barcode: 'PRD-A', packageId: 'p1', profileId: 'prof-a' }, { barcode: 'PRD-B', packageId: 'p2' }] }));
    expect(saved).toEqual([{ barcode: 'PRD-A', packageId: 'p1', profileId: 'prof-a' }, { barcode: 'PRD-B', packageId: 'p2' }]);
    expect(await ok(h().listScanMappings({}))).toEqual(saved);
    const twice = await h().setScanMappings({ mappings: [{ barcode: 'X', packageId: 'p' }, { barcode: 'X', packageId: 'q' }] });
    expect(twice.ok).toBe(false);
  });
});

describe('product profiles on the station API (issue 9 §9)', () => {
  it('lists built-in profiles, saves and deletes user ones as an engineer only, and a batch uses the one named', async () => {
    const listed = await ok(h().listProfiles({}));
    expect(listed.map((p) => p.id)).toEqual(expect.arrayContaining(['st-iap-ymodem', 'lrzsz-receiver', 'tencent-c-sdk', 'aliyun-iotkit-3', 'quectel-mcu', 'llsync-sdk']));
    const { token } = await ok(h().setEngineerSecret({ secret: '4711' }));
    const profile = { id: 'line-7-loader', name: 'Line 7 loader', builtIn: false, protocol: 'ymodem' as const, options: { blockSize: 128 }, successPolicy: 'loader-verdict' as const };
    const refused = await h().saveProfile({ profile });
    expect(refused.ok ? null : refused.error.code).toBe('ROLE_ENGINEER_REQUIRED');
    const bad = await h().saveProfile({ profile: { ...profile, options: { blockSiz: 128 } }, engineerToken: token } as never);
    expect(bad.ok ? null : bad.error.code).toBe('CONFIG_INVALID');
    expect(await ok(h().saveProfile({ profile, engineerToken: token } as never))).toMatchObject({ id: 'line-7-loader', builtIn: false });
    expect((await ok(h().listProfiles({}))).some((p) => p.id === 'line-7-loader')).toBe(true);

    const pkg = await ok(h().importPackage({ fileName: 'app.bin', dataBase64: image, engineerToken: token } as never));
    const units = await ok(h().resolveTargets({ targets: ['sim:ymodem:1'] }));
    const batch = await ok(h().createBatch({ packageId: pkg.id, units, profileIds: ['line-7-loader'] }));
    expect(batch.plan.profiles?.ymodem).toMatchObject({ id: 'line-7-loader', options: expect.objectContaining({ blockSize: 128 }) });
    const unknown = await h().createBatch({ packageId: pkg.id, units, profileIds: ['no-such-profile'] });
    expect(unknown.ok ? null : unknown.error.code).toBe('CONFIG_INVALID');

    expect(await ok(h().deleteProfile({ id: 'line-7-loader', engineerToken: token } as never))).toEqual({ deleted: true });
    expect((await ok(h().listProfiles({}))).some((p) => p.id === 'line-7-loader')).toBe(false);
  });
});
