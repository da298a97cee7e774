/**
 * The station API and `flashline serve`'s server with a real Engine (tmp data dir, virtual
 * units): payload validation returns Results, the token and origin gate the socket, static
 * files stay inside their folder, and a batch runs to the end over the WebSocket.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Engine } from '../../main/engine/engine.js';
import { openSettings } from '../../main/engine/settings/settings.js';
import { createStationApi, decodeBase64, validateUnit, type StationApi } from '../../main/server/api.js';
import { resolveStatic, startStationServer, tokenMatches, type StationServer } from '../../main/server/server.js';
import { connectStation } from '../helpers/ws-client.js';

let dir: string;
let engine: Engine;
let api: StationApi;
let server: StationServer;
let staticDir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-api-'));
  engine = Engine.open({ dataDir: dir });
  api = createStationApi({ engine, settings: openSettings(dir), browserMode: true });
  staticDir = path.join(dir, 'static');
  fs.mkdirSync(staticDir);
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret');
  server = await startStationServer({ api, staticDir });
});
afterAll(async () => {
  await server?.close();
  await engine?.close();
});

describe('station API', () => {
  it('returns Results for bad payloads instead of throwing', async () => {
    const bad = await api.handlers.createBatch({ packageId: 'x', units: [{ unitId: 'a', transport: 'warp', protocol: 'ymodem', address: 'a' }] });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.message).toMatch(/transport must be one of/);
    const notObj = await api.handlers.startBatch('B1');
    expect(notObj.ok).toBe(false);
    const unknownBatch = await api.handlers.startBatch({ batchId: 'nope' });
    expect(unknownBatch.ok).toBe(false);
    if (!unknownBatch.ok) expect(unknownBatch.error.code).toBe('CONFIG_INVALID');
    const setting = await api.handlers.setSettings({ bleAdapterLimit: 99 });
    expect(setting.ok).toBe(false);
    const extra = await api.handlers.setSettings({ nodeIntegration: true });
    expect(extra.ok).toBe(false);
    expect(() => decodeBase64('not base64!')).toThrow(/not base64/);
    expect(() => validateUnit({ unitId: 'u', transport: 'serial', protocol: 'ymodem', address: '/dev/x', sim: { behaviour: 'accept', initialVersion: '1' } }, 0)).toThrow(/only for sim/);
  });

  it('error texts fit the unit\'s protocol when it is given; an unknown protocol is refused', async () => {
    const plain = await api.handlers.errorTexts({ codes: ['TRANSPORT_NOT_FOUND'] });
    const wifi = await api.handlers.errorTexts({ codes: ['TRANSPORT_NOT_FOUND'], protocol: 'mqtt-ota-aliyun' });
    expect(plain.ok && wifi.ok).toBe(true);
    if (plain.ok && wifi.ok) {
      const p = plain.value as Record<string, { en: string; 'zh-CN': string }>;
      const w = wifi.value as Record<string, { en: string; 'zh-CN': string }>;
      expect(p.TRANSPORT_NOT_FOUND!.en).toMatch(/cable/);
      expect(w.TRANSPORT_NOT_FOUND!.en).not.toMatch(/cable/);
      expect(w.TRANSPORT_NOT_FOUND!['zh-CN']).toContain('Wi-Fi');
    }
    expect((await api.handlers.errorTexts({ codes: ['X'], protocol: 'carrier-pigeon' })).ok).toBe(false);
  });

  it('imports a package from bytes and reports a bad one with its operator text', async () => {
    const ok = await api.handlers.importPackage({ fileName: 'app.bin', dataBase64: Buffer.from(buildSimImage(8 * 1024, '2.0.0')).toString('base64') });
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.value.components[0]!.version).toBe('2.0.0');
    const empty = await api.handlers.importPackage({ fileName: '../../evil.bin', dataBase64: Buffer.from('x').toString('base64') });
    expect(empty.ok).toBe(false);
    if (!empty.ok) {
      expect(empty.error.result).toBe('file_invalid');
      expect(empty.error.operatorText['zh-CN'].length).toBeGreaterThan(0);
    }
    // the upload's name cannot leave the packages folder
    expect(fs.readdirSync(path.join(dir, 'packages')).every((f) => !f.includes('/'))).toBe(true);
    expect(fs.existsSync(path.join(dir, '..', 'evil.bin'))).toBe(false);
  });

  it('persists settings and applies the operator', async () => {
    const r = await api.handlers.setSettings({ operator: 'Li Wei', language: 'zh-CN' });
    expect(r.ok).toBe(true);
    expect(engine.operator).toBe('Li Wei');
    expect(openSettings(dir).get('language')).toBe('zh-CN');
  });
});

describe('serve: HTTP and WebSocket', () => {
  const base = () => `http://127.0.0.1:${server.port}`;
  it('needs the token for the page and keeps static files inside their folder', async () => {
    expect((await fetch(`${base()}/`)).status).toBe(403);
    expect((await fetch(server.url)).status).toBe(200);
    expect((await fetch(`${base()}/%2e%2e/secret.txt`)).status).toBe(404);
    expect(resolveStatic('/srv/r', '/../../etc/passwd')).toBe(path.resolve('/srv/r/etc/passwd'));
    expect(resolveStatic('/srv/r', '/%00')).toBe(null);
    expect(tokenMatches('abc', 'abd')).toBe(false);
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(server.url.startsWith('http://127.0.0.1:')).toBe(true);
  });

  it('refuses a socket without the token or from another origin', async () => {
    const refused = (url: string, origin?: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, origin ? { origin } : {});
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
    expect(await refused(`ws://127.0.0.1:${server.port}/ws`)).toBe(403);
    expect(await refused(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`, 'http://evil.example')).toBe(403);
    expect(await refused(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`, base())).toBe(101);
  });

  it('runs a batch of virtual units over the socket: calls, snapshot, deltas to the end', async () => {
    const client = await connectStation(server.port, server.token);
    const { ws, events } = client;
    // these calls all succeed: the test reads `.value` of the ok branch directly
    const call = <T>(method: string, req: unknown) => client.call(method, req) as Promise<unknown> as Promise<T>;
    const pkg = await call<{ ok: true; value: { id: string } }>('importPackage', { fileName: 'a.bin', dataBase64: Buffer.from(buildSimImage(8 * 1024, '3.0.0')).toString('base64') });
    const units = await call<{ ok: true; value: unknown[] }>('resolveTargets', { targets: ['sim:ymodem:2', 'sim:ymodem:1:refuse_version'] });
    expect(units.value).toHaveLength(3);
    const batch = await call<{ ok: true; value: { batchId: string } }>('createBatch', { packageId: pkg.value.id, units: units.value, plan: { retry: { maxAttempts: 1, backoffMs: 0, backoffMaxMs: 0 } } });
    expect(batch.ok).toBe(true);
    ws.send(JSON.stringify({ t: 'watch', batchId: batch.value.batchId }));
    await expect.poll(() => events.length).toBeGreaterThan(0);
    expect(events[0]!.type).toBe('snapshot');
    await call('startBatch', { batchId: batch.value.batchId });
    await expect.poll(() => events.at(-1)?.batch?.state, { timeout: 30_000 }).toBe('finished');
    const last = events.at(-1)!.batch!;
    expect(last.counts.passed).toBe(2);
    expect(last.counts.failed).toBe(1);
    // deltas arrive in revision order
    const revs = events.filter((e) => e.type === 'delta').map((e) => e.rev);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    const csv = await call<{ ok: true; value: { content: string; fileName: string } }>('exportReport', { batchId: batch.value.batchId, format: 'csv' });
    expect(csv.value.fileName).toBe(`${batch.value.batchId}.csv`);
    expect(csv.value.content).toContain('version_rejected');
    expect(csv.value.content).toContain('\r\n#integrity,chain+ed25519\r\n'); // the UI's export is signed by the station key too
    // an unknown method closes the socket rather than reaching the engine
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send(JSON.stringify({ t: 'call', id: 99, method: 'constructor', req: {} }));
    expect(await closed).toBe(1003);
  });
});
