/**
 * The Electron shell's modules without the Electron binary: the sender check, the navigation
 * and permission guards, the IPC registration (sender checked, Results only) with a fake
 * ipcMain over a real Engine, the sandboxed preload run in a vm with a fake `electron`, and the
 * whole main process (startDesktop) on a fake `electron` whose utilityProcess.fork is a real
 * child process running the engine host: main only relays, the batch runs in the child.
 */
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IPC_BATCH_EVENT, IPC_PREFIX, IPC_WATCH, STATION_METHODS } from '../../main/contract/ipc.js';
import { createHtmlToPdf, createSaveFile } from '../../main/app/dialogs.js';
import { blockNavigation, denyPermissions, hardenedWebPreferences, isTrustedSenderUrl } from '../../main/app/guards.js';
import { FORBIDDEN, registerIpc, type IpcEventLike } from '../../main/app/ipc.js';
import { Engine } from '../../main/engine/engine.js';
import { openSettings } from '../../main/engine/settings/settings.js';
import { createStationApi } from '../../main/server/api.js';
import { REPO } from '../helpers/cli.js';
import { runSimBatchThrough } from '../helpers/host-batch.js';
import type { StationApi } from '../../main/server/api.js';
import { RENDERER_OUT } from '../../main/server/build-renderer.js';

/** The slice of Electron's main-process API the shell uses, recorded for assertions. */
const fake = vi.hoisted(() => {
  const rec = {
    handlers: new Map<string, (e: unknown, req: unknown) => unknown>(),
    appEvents: new Map<string, (...a: unknown[]) => void>(),
    windows: [] as { opts: Record<string, unknown>; loaded?: string }[],
    forks: [] as { modulePath: string; opts: unknown; child?: import('node:child_process').ChildProcess }[],
    quit: 0,
    saveDir: '',
    forkImpl: null as null | ((modulePath: string) => unknown),
  };
  class BrowserWindow {
    webContents = { printToPDF: async () => new Uint8Array([0x25, 0x50, 0x44, 0x46]) };
    constructor(readonly opts: Record<string, unknown>) {
      rec.windows.push(this as never);
    }
    once() {}
    show() {}
    destroy() {}
    async loadFile(f: string) {
      (this as unknown as { loaded: string }).loaded = f;
    }
    async loadURL() {}
  }
  const electron = {
    app: {
      isPackaged: true,
      whenReady: async () => undefined,
      on: (ev: string, fn: (...a: unknown[]) => void) => rec.appEvents.set(ev, fn),
      getPath: () => rec.saveDir,
      quit: () => void (rec.quit += 1),
    },
    BrowserWindow,
    dialog: { showSaveDialog: async (o: { defaultPath: string }) => ({ canceled: false, filePath: o.defaultPath }) },
    ipcMain: { handle: (c: string, fn: (e: unknown, req: unknown) => unknown) => rec.handlers.set(c, fn), removeHandler: (c: string) => rec.handlers.delete(c) },
    session: { defaultSession: { setPermissionRequestHandler: () => undefined, setPermissionCheckHandler: () => undefined } },
    utilityProcess: { fork: (modulePath: string, _args: string[], opts: unknown) => rec.forkImpl!(modulePath) ?? (rec.forks.push({ modulePath, opts }), null) },
  };
  return { rec, electron };
});
vi.mock('electron', () => ({ ...fake.electron, default: fake.electron }));

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

describe('desktop main process (fake electron, engine in a child process)', () => {
  it('forks the engine host, relays the typed API over IPC, exports via main, closes the host on quit', async () => {
    const { rec } = fake;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-desktop-'));
    rec.saveDir = dataDir;
    // utilityProcess.fork → a real child over an IPC channel: the same host entry, the same frames.
    rec.forkImpl = (modulePath) => {
      const child = fork(modulePath, [], { cwd: REPO, execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      rec.forks.push({ modulePath, opts: {}, child });
      const u = new EventEmitter() as EventEmitter & { postMessage(m: unknown): void; kill(): boolean; pid?: number };
      child.on('message', (m) => u.emit('message', m));
      child.on('exit', (code) => u.emit('exit', code ?? 0));
      u.postMessage = (m) => void child.send(m as never);
      u.kill = () => child.kill();
      return u;
    };
    const before = process.env.FLASHLINE_HOME;
    process.env.FLASHLINE_HOME = dataDir;
    try {
      const { startDesktop } = await import('../../main/app/electron-main.js');
      await startDesktop({ hostEntry: path.join(REPO, 'main', 'host', 'engine-host-entry.ts') });
    } finally {
      if (before === undefined) delete process.env.FLASHLINE_HOME;
      else process.env.FLASHLINE_HOME = before;
    }
    expect(rec.forks).toHaveLength(1);
    expect(rec.windows[0]!.opts.webPreferences).toMatchObject({ sandbox: true, contextIsolation: true, nodeIntegration: false });
    expect(rec.windows[0]!.loaded).toBe(path.join(RENDERER_OUT, 'index.html'));
    // The renderer's view of the API: IPC handlers called as a trusted frame would.
    const listeners = new Set<(e: unknown) => void>();
    const sender = { id: 7, send: (_c: string, p: unknown) => listeners.forEach((fn) => fn(p)), once: () => undefined };
    const trusted = { senderFrame: { url: `file://${RENDERER_OUT}/index.html` }, sender };
    const call = (m: string, req: unknown) => rec.handlers.get(IPC_PREFIX + m)!(trusted, req);
    const api = {
      handlers: Object.fromEntries(STATION_METHODS.map((m) => [m, (req: unknown) => call(m, req)])),
      watch: (batchId: unknown, fn: (e: unknown) => void) => {
        listeners.add(fn);
        void rec.handlers.get(IPC_WATCH)!(trusted, batchId);
        return { ok: true, value: () => listeners.delete(fn) };
      },
    } as unknown as StationApi;
    const info = (await call('stationInfo', {})) as { ok: boolean; value: { browserMode: boolean } };
    expect(info).toMatchObject({ ok: true, value: { browserMode: false } });
    const { batch } = await runSimBatchThrough(api, ['sim:ymodem:3', 'sim:quecthing-sota:1']);
    expect(batch).toMatchObject({ state: 'finished', counts: { total: 4, passed: 4 } });
    // Reports: rendered in the engine host, saved (and printed to PDF) by main.
    const csv = (await call('exportReport', { batchId: batch.batchId, format: 'csv' })) as { ok: boolean; value: { savedPath: string; content?: string } };
    expect(csv.ok).toBe(true);
    expect(csv.value.content).toBeUndefined();
    expect(fs.readFileSync(csv.value.savedPath, 'utf8')).toContain(batch.batchId);
    const pdf = (await call('exportReport', { batchId: batch.batchId, format: 'pdf' })) as { ok: boolean; value: { savedPath: string; mime: string } };
    expect(pdf.value).toMatchObject({ mime: 'application/pdf' });
    expect(pdf.value.savedPath.endsWith('.pdf')).toBe(true);
    expect(Array.from(fs.readFileSync(pdf.value.savedPath))).toEqual([0x25, 0x50, 0x44, 0x46]);
    // Quit: handlers gone, the host closes the engine and leaves, then the app quits.
    const child = rec.forks[0]!.child!;
    const exited = new Promise((r) => child.once('exit', r));
    rec.appEvents.get('window-all-closed')!();
    expect(rec.handlers.size).toBe(0);
    await exited;
    await vi.waitFor(() => expect(rec.quit).toBe(1), { timeout: 10_000 });
  }, 120_000);
});
