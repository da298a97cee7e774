/**
 * The Electron shell's modules without the Electron binary: the sender check, the navigation
 * and permission guards, the IPC registration (sender checked, Results only) with a fake
 * ipcMain over a real Engine, and the sandboxed preload run in a vm with a fake `electron`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IPC_BATCH_EVENT, IPC_PREFIX, IPC_WATCH, STATION_METHODS } from '../../main/contract/ipc.js';
import { createHtmlToPdf, createSaveFile } from '../../main/app/dialogs.js';
import { blockNavigation, denyPermissions, hardenedWebPreferences, isTrustedSenderUrl } from '../../main/app/guards.js';
import { FORBIDDEN, registerIpc, type IpcEventLike } from '../../main/app/ipc.js';
import { Engine } from '../../main/engine/engine.js';
import { openSettings } from '../../main/engine/settings/settings.js';
import { createStationApi } from '../../main/server/api.js';
import { REPO } from '../helpers/cli.js';

describe('guards', () => {
  it('trusts only files inside the renderer folder', () => {
    expect(isTrustedSenderUrl('file:///opt/fl/out/renderer/index.html', '/opt/fl/out/renderer')).toBe(true);
    expect(isTrustedSenderUrl('file:///opt/fl/out/renderer-evil/index.html', '/opt/fl/out/renderer')).toBe(false);
    expect(isTrustedSenderUrl('file:///opt/fl/out/renderer/../x.html', '/opt/fl/out/renderer')).toBe(false);
    expect(isTrustedSenderUrl('https://evil.example/out/renderer/index.html', '/opt/fl/out/renderer')).toBe(false);
    expect(isTrustedSenderUrl('file://server/share/out/renderer/index.html', '/share/out/renderer')).toBe(false);
    expect(isTrustedSenderUrl(undefined, '/opt')).toBe(false);
    expect(isTrustedSenderUrl('not a url', '/opt')).toBe(false);
  });

  it('blocks navigation, new windows and webviews, and denies permissions', () => {
    const handlers: Record<string, (e: { preventDefault(): void }) => void> = {};
    let openHandler: ((d: { url: string }) => { action: string }) | undefined;
    blockNavigation({ on: (ev, fn) => (handlers[ev] = fn), setWindowOpenHandler: (fn) => (openHandler = fn) });
    for (const ev of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      let prevented = false;
      handlers[ev]!({ preventDefault: () => (prevented = true) });
      expect(prevented, ev).toBe(true);
    }
    expect(openHandler!({ url: 'https://x' }).action).toBe('deny');
    let granted: boolean | undefined;
    let check: ((...a: unknown[]) => boolean) | undefined;
    denyPermissions({ setPermissionRequestHandler: (fn) => fn(null, 'media', (g) => (granted = g)), setPermissionCheckHandler: (fn) => (check = fn) });
    expect(granted).toBe(false);
    expect(check!()).toBe(false);
    const wp = hardenedWebPreferences('/p.cjs');
    expect(wp).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webviewTag: false });
  });
});

describe('IPC registration with a real engine', () => {
  let dir: string;
  let engine: Engine;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-ipc-'));
    engine = Engine.open({ dataDir: dir });
  });
  afterAll(async () => engine.close());

  it('registers exactly one handler per method, checks the sender and never throws', async () => {
    const handlers = new Map<string, (e: IpcEventLike, req: unknown) => unknown>();
    const ipcMain = { handle: (c: string, fn: (e: IpcEventLike, req: unknown) => unknown) => handlers.set(c, fn), removeHandler: (c: string) => handlers.delete(c) };
    const api = createStationApi({ engine, settings: openSettings(dir), browserMode: false });
    const rendererDir = '/opt/fl/out/renderer';
    const unregister = registerIpc(ipcMain, api, (url) => isTrustedSenderUrl(url, rendererDir));
    expect([...handlers.keys()].filter((c) => c.startsWith(IPC_PREFIX) && !c.includes('watch') && c !== IPC_BATCH_EVENT).sort()).toEqual(STATION_METHODS.map((m) => IPC_PREFIX + m).sort());
    const sent: unknown[] = [];
    const sender = { id: 1, send: (_c: string, p: unknown) => sent.push(p), once: () => undefined };
    const trusted = { senderFrame: { url: `file://${rendererDir}/index.html` }, sender };
    const untrusted = { senderFrame: { url: 'https://evil.example/' }, sender };
    expect(await handlers.get(`${IPC_PREFIX}stationInfo`)!(untrusted, {})).toBe(FORBIDDEN);
    const info = (await handlers.get(`${IPC_PREFIX}stationInfo`)!(trusted, {})) as { ok: boolean; value: { browserMode: boolean } };
    expect(info.ok).toBe(true);
    expect(info.value.browserMode).toBe(false);
    const bad = (await handlers.get(`${IPC_PREFIX}createBatch`)!(trusted, { packageId: 1 })) as { ok: boolean };
    expect(bad.ok).toBe(false);
    const watchBad = (await handlers.get(IPC_WATCH)!(trusted, 'no-such-batch')) as { ok: boolean };
    expect(watchBad.ok).toBe(false);
    unregister();
    expect(handlers.size).toBe(0);
  });

  it('opens the save dialog in main (the renderer never sends a path) and prints PDFs in a window it destroys', async () => {
    const out = path.join(dir, 'r.csv');
    const save = createSaveFile({ showSaveDialog: async (o) => ({ canceled: false, filePath: o.defaultPath.endsWith('B1.csv') ? out : undefined }) }, dir);
    expect(await save('B1.csv', 'a,b\n')).toBe(out);
    expect(fs.readFileSync(out, 'utf8')).toBe('a,b\n');
    const cancel = createSaveFile({ showSaveDialog: async () => ({ canceled: true }) }, dir);
    expect(await cancel('B1.csv', 'x')).toBe(null);
    let destroyed = false;
    let loaded = '';
    const pdf = createHtmlToPdf(() => ({ loadURL: async (u) => void (loaded = u), webContents: { printToPDF: async () => new Uint8Array([0x25, 0x50]) }, destroy: () => (destroyed = true) }));
    expect(Array.from(await pdf('<h1>r</h1>'))).toEqual([0x25, 0x50]);
    expect(Buffer.from(loaded.split(',')[1]!, 'base64').toString()).toBe('<h1>r</h1>');
    expect(destroyed).toBe(true);
  });
});

describe('preload (sandboxed, fake electron)', () => {
  it('exposes one function per contract method plus onBatchEvent, forwarding only fixed channels', async () => {
    const exposed: Record<string, Record<string, (...a: unknown[]) => unknown>> = {};
    const invoked: [string, unknown][] = [];
    const listeners: Record<string, (e: unknown, p: unknown) => void> = {};
    const fakeElectron = {
      contextBridge: { exposeInMainWorld: (k: string, v: Record<string, (...a: unknown[]) => unknown>) => (exposed[k] = v) },
      ipcRenderer: { invoke: async (c: string, p: unknown) => (invoked.push([c, p]), { ok: true, value: null }), on: (c: string, fn: (e: unknown, p: unknown) => void) => (listeners[c] = fn) },
    };
    const src = fs.readFileSync(path.join(REPO, 'preload', 'index.cjs'), 'utf8');
    const module = { exports: {} as { METHODS?: string[] } };
    // A sandboxed preload may only require a few modules; this require allows electron alone.
    const sandboxRequire = (id: string) => {
      if (id !== 'electron') throw new Error(`preload may not require ${id}`);
      return fakeElectron;
    };
    vm.runInNewContext(src, { require: sandboxRequire, module, exports: module.exports, Map, Set, TypeError });
    const station = exposed.station!;
    expect(Object.isFrozen(station)).toBe(true);
    expect(Object.keys(station).sort()).toEqual([...STATION_METHODS, 'onBatchEvent'].sort());
    await station.startBatch!({ batchId: 'B1' });
    expect(invoked.at(-1)).toEqual([`${IPC_PREFIX}startBatch`, { batchId: 'B1' }]);
    const got: unknown[] = [];
    const off = station.onBatchEvent!('B1', (e: unknown) => got.push(e)) as () => void;
    expect(invoked.at(-1)).toEqual([IPC_WATCH, 'B1']);
    listeners[IPC_BATCH_EVENT]!(null, { batchId: 'B1', rev: 1 });
    listeners[IPC_BATCH_EVENT]!(null, { batchId: 'B2', rev: 1 });
    expect(got).toEqual([{ batchId: 'B1', rev: 1 }]);
    off();
    expect(invoked.at(-1)).toEqual(['station:unwatch', 'B1']);
    listeners[IPC_BATCH_EVENT]!(null, { batchId: 'B1', rev: 2 });
    expect(got).toHaveLength(1);
  });
});
