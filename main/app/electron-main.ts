/**
 * The thin Electron shell: the Engine in the main process, one hardened window over the built
 * renderer, IPC from the typed channel map, save dialog and PDF printing for reports.
 * Only main/app/ and preload/ import electron; everything else runs in plain Node too.
 */
import { app, BrowserWindow, dialog, ipcMain, session } from 'electron';
import ElectronStore from 'electron-store';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../engine/engine.js';
import { SETTINGS_SCHEMA, type StationSettings } from '../engine/settings/settings.js';
import { createStationApi } from '../server/api.js';
import { ensureRendererBuilt, RENDERER_OUT } from '../server/build-renderer.js';
import { createHtmlToPdf, createSaveFile } from './dialogs.js';
import { blockNavigation, denyPermissions, hardenedWebPreferences, isTrustedSenderUrl } from './guards.js';
import { registerIpc } from './ipc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PRELOAD = path.join(here, '..', '..', 'preload', 'index.cjs');

export async function startDesktop(): Promise<void> {
  await app.whenReady();
  denyPermissions(session.defaultSession);
  app.on('web-contents-created', (_e, contents) => blockNavigation(contents));
  const dataDir = process.env.FLASHLINE_HOME ?? path.join(app.getPath('userData'), 'station');
  const settings = new ElectronStore<StationSettings>({ cwd: dataDir, name: 'settings', schema: SETTINGS_SCHEMA as never });
  const engine = Engine.open({ dataDir, stationId: settings.get('stationId'), operator: settings.get('operator') });
  const rendererDir = app.isPackaged ? RENDERER_OUT : await ensureRendererBuilt();
  const win = new BrowserWindow({ width: 1500, height: 950, show: false, backgroundColor: '#f4f5f7', webPreferences: hardenedWebPreferences(PRELOAD) });
  const api = createStationApi({
    engine,
    settings: { get: (k) => settings.get(k), set: (v) => settings.set(v as StationSettings) },
    browserMode: false,
    saveFile: createSaveFile(dialog, app.getPath('documents')),
    htmlToPdf: createHtmlToPdf(() => new BrowserWindow({ show: false, webPreferences: { sandbox: true, contextIsolation: true, javascript: false } })),
  });
  const unregister = registerIpc(ipcMain, api, (url) => isTrustedSenderUrl(url, rendererDir));
  win.once('ready-to-show', () => win.show());
  await win.loadFile(path.join(rendererDir, 'index.html'));
  app.on('window-all-closed', () => {
    unregister();
    void engine.close().then(() => app.quit());
  });
}

void startDesktop();
