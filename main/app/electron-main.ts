/**
 * The thin Electron shell: one hardened window over the built renderer, IPC from the typed
 * channel map relayed to the engine, save dialog and PDF printing for reports. The engine runs
 * in an Electron utility process (out/main/engine-host.js): this main process never runs a job.
 * Only main/app/ and preload/ import electron; everything else runs in plain Node too.
 */
import { app, BrowserWindow, dialog, ipcMain, session, utilityProcess } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { portOfUtilityProcess } from '../host/host-port.js';
import { connectStationApi } from '../host/remote-api.js';
import { ensureRendererBuilt, RENDERER_OUT } from '../server/build-renderer.js';
import { createHtmlToPdf, createSaveFile } from './dialogs.js';
import { withDesktopExport } from './desktop-export.js';
import { blockNavigation, denyPermissions, hardenedWebPreferences, isTrustedSenderUrl } from './guards.js';
import { registerIpc } from './ipc.js';

// Built layout (main/app/build-desktop.mjs): out/main/index.js + engine-host.js, out/preload/index.cjs.
const here = path.dirname(fileURLToPath(import.meta.url));

export interface DesktopOptions {
  /** The engine host's entry (default: engine-host.js beside this bundle). */
  hostEntry?: string;
  preload?: string;
}

export async function startDesktop(opts: DesktopOptions = {}): Promise<void> {
  await app.whenReady();
  denyPermissions(session.defaultSession);
  app.on('web-contents-created', (_e, contents) => blockNavigation(contents));
  const dataDir = process.env.FLASHLINE_HOME ?? path.join(app.getPath('userData'), 'station');
  const child = utilityProcess.fork(opts.hostEntry ?? path.join(here, 'engine-host.js'), [], { serviceName: 'Flashline engine', stdio: 'inherit' });
  const engine = connectStationApi(portOfUtilityProcess(child));
  await engine.init({ dataDir, browserMode: false });
  const rendererDir = app.isPackaged ? RENDERER_OUT : await ensureRendererBuilt();
  const win = new BrowserWindow({ width: 1500, height: 950, show: false, backgroundColor: '#f4f5f7', webPreferences: hardenedWebPreferences(opts.preload ?? path.join(here, '..', 'preload', 'index.cjs')) });
  const api = withDesktopExport(engine, {
    saveFile: createSaveFile(dialog, app.getPath('documents')),
    htmlToPdf: createHtmlToPdf(() => new BrowserWindow({ show: false, webPreferences: { sandbox: true, contextIsolation: true, javascript: false } })),
  });
  const unregister = registerIpc(ipcMain, api, (url) => isTrustedSenderUrl(url, rendererDir));
  win.once('ready-to-show', () => win.show());
  app.on('window-all-closed', () => {
    unregister();
    // The host journals in-flight units as interrupted, then leaves; kill it if it hangs.
    void engine.close().then(() => {
      if (!engine.stopped?.startsWith('closed')) child.kill();
      app.quit();
    });
  });
  await win.loadFile(path.join(rendererDir, 'index.html'));
}
