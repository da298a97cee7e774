#!/usr/bin/env node
// Builds the desktop app ahead of time (no TypeScript is compiled when the app starts):
//   out/main/index.js        Electron main (main/app/desktop-entry.ts)
//   out/main/engine-host.js  the engine, run in an Electron utility process (main/host/)
//   out/main/worker-entry.js, package-tasks.js, report-tasks.js, worker-boot.mjs   the worker pool
//   out/preload/index.cjs    the sandboxed preload
//   out/renderer/            the operator UI (vite, main/server/build-renderer.ts)
// npm packages stay external (electron-builder ships them and rebuilds native addons).
// Usage: node main/app/build-desktop.mjs [--out DIR] [--no-renderer]. Prints one JSON line.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
const outArg = argv.indexOf('--out');
const out = outArg >= 0 && argv[outArg + 1] ? path.resolve(argv[outArg + 1]) : path.join(root, 'out');
const t0 = Date.now();

export async function buildDesktop(outDir = out) {
  const mainOut = path.join(outDir, 'main');
  fs.rmSync(mainOut, { recursive: true, force: true });
  const r = await build({
    absWorkingDir: root,
    entryPoints: {
      index: 'main/app/desktop-entry.ts',
      'engine-host': 'main/host/engine-host-entry.ts',
      'worker-entry': 'main/engine/workers/worker-entry.ts',
      'package-tasks': 'main/engine/package/package-tasks.ts',
      'report-tasks': 'main/engine/report/report-tasks.ts',
    },
    outdir: mainOut,
    // One flat folder: the worker pool finds its entry and task modules beside the code that
    // asks (import.meta.url of whichever chunk holds it).
    entryNames: '[name]',
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    external: ['electron'],
    sourcemap: false,
    logLevel: 'warning',
    metafile: true,
  });
  fs.copyFileSync(path.join(root, 'main', 'engine', 'workers', 'worker-boot.mjs'), path.join(mainOut, 'worker-boot.mjs'));
  const preloadOut = path.join(outDir, 'preload');
  fs.mkdirSync(preloadOut, { recursive: true });
  fs.copyFileSync(path.join(root, 'preload', 'index.cjs'), path.join(preloadOut, 'index.cjs'));
  return { outDir, files: Object.keys(r.metafile.outputs).map((f) => path.relative(outDir, path.resolve(root, f))).sort() };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const res = await buildDesktop();
  let renderer = null;
  if (!argv.includes('--no-renderer')) {
    // The renderer builder is TypeScript: run it through tsx's API (a build-time dependency only).
    const { register } = await import('tsx/esm/api');
    register();
    const { ensureRendererBuilt } = await import('../server/build-renderer.ts');
    renderer = await ensureRendererBuilt((l) => process.stderr.write(l + '\n'));
  }
  console.log(JSON.stringify({ built: res.files, renderer, ms: Date.now() - t0 }));
}
