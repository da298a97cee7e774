/**
 * Electron hardening as small modules (STYLE.md §9): the sender check is a pure function; the
 * installers block navigation, new windows, webviews and permission requests. Only the packaged
 * renderer (file:// inside out/renderer) may call the station.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GuardableContents {
  on(event: 'will-navigate' | 'will-redirect' | 'will-attach-webview', fn: (e: { preventDefault(): void }, ...rest: unknown[]) => void): unknown;
  setWindowOpenHandler(fn: (d: { url: string }) => { action: 'deny' }): void;
}

export interface GuardableSession {
  setPermissionRequestHandler(fn: (wc: unknown, permission: string, cb: (granted: boolean) => void) => void): void;
  setPermissionCheckHandler(fn: (...args: unknown[]) => boolean): void;
}

/** True when a frame URL is the renderer's own page (a file inside rendererDir). Pure. */
export function isTrustedSenderUrl(frameUrl: string | undefined | null, rendererDir: string): boolean {
  if (!frameUrl) return false;
  let url: URL;
  try {
    url = new URL(frameUrl);
  } catch {
    return false;
  }
  if (url.protocol !== 'file:' || url.host !== '') return false;
  let file: string;
  try {
    file = path.resolve(fileURLToPath(url));
  } catch {
    return false;
  }
  const root = path.resolve(rendererDir);
  return file.startsWith(root + path.sep);
}

export function blockNavigation(contents: GuardableContents): void {
  contents.on('will-navigate', (e) => e.preventDefault());
  contents.on('will-redirect', (e) => e.preventDefault());
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

export function denyPermissions(session: GuardableSession): void {
  session.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));
  session.setPermissionCheckHandler(() => false);
}

/** webPreferences of every station window: isolated, sandboxed, no Node. */
export function hardenedWebPreferences(preloadPath: string) {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webviewTag: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    spellcheck: false,
  } as const;
}
