/**
 * Makes sure the built renderer (out/renderer) exists and is newer than its sources, building
 * it with vite's JS API when it is missing or stale. Used by `flashline serve`, the e2e tests and
 * the grid bench. Several processes may ask at once: one builds under a lock dir, others wait;
 * the bundle is built aside and swapped in with a rename so nobody serves a half-written folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RENDERER_OUT = path.join(REPO_ROOT, 'out', 'renderer');
const SOURCES = [path.join(REPO_ROOT, 'renderer'), path.join(REPO_ROOT, 'main', 'contract')];
const STAMP = '.build-stamp';
const LOCK_STALE_MS = 180_000;
const LOCK_POLL_MS = 200;

function newestMtimeMs(dir: string): number {
  let newest = 0;
  if (!fs.existsSync(dir)) return 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

export function rendererIsFresh(outDir = RENDERER_OUT): boolean {
  const stamp = path.join(outDir, STAMP);
  if (!fs.existsSync(stamp) || !fs.existsSync(path.join(outDir, 'index.html'))) return false;
  const built = fs.statSync(stamp).mtimeMs;
  return SOURCES.every((s) => newestMtimeMs(s) <= built);
}

export async function ensureRendererBuilt(log: (line: string) => void = () => undefined): Promise<string> {
  if (rendererIsFresh()) return RENDERER_OUT;
  const lock = path.join(REPO_ROOT, 'out', '.renderer-build.lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_STALE_MS) fs.rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
      if (rendererIsFresh()) return RENDERER_OUT;
    }
  }
  try {
    if (rendererIsFresh()) return RENDERER_OUT;
    log('building the renderer (vite)…');
    const startedMs = Date.now();
    const tmp = `${RENDERER_OUT}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    const { build } = await import('vite');
    await build({ configFile: path.join(REPO_ROOT, 'renderer', 'vite.config.ts'), logLevel: 'warn', build: { outDir: tmp, emptyOutDir: true } });
    fs.writeFileSync(path.join(tmp, STAMP), new Date(startedMs).toISOString());
    // The stamp's mtime is the build start, so edits made during the build count as stale.
    fs.utimesSync(path.join(tmp, STAMP), startedMs / 1000, startedMs / 1000);
    fs.rmSync(RENDERER_OUT, { recursive: true, force: true });
    fs.renameSync(tmp, RENDERER_OUT);
    log(`renderer built in ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
    return RENDERER_OUT;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
