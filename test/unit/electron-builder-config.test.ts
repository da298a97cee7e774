/**
 * electron-builder.yml, read and schema-checked by electron-builder's own config loader (the
 * packaging itself needs Electron's download, which our machines cannot reach), then held to
 * issue 6: NSIS, AppImage + deb, dmg; native addons rebuilt for Electron; only built JavaScript
 * shipped (issue 12 §1: out/main, out/preload, out/renderer — never TypeScript sources).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

const require = createRequire(import.meta.url);

interface BuilderConfig {
  /** The loader normalises `files` into file sets ({ filter: [globs] }). */
  files?: (string | { from?: string; filter?: string[] })[];
  asar?: boolean;
  asarUnpack?: string[];
  npmRebuild?: boolean;
  win?: { target?: string[] };
  linux?: { target?: string[]; maintainer?: string };
  mac?: { target?: string[]; extendInfo?: Record<string, string> };
  directories?: { output?: string };
}
interface ConfigModule {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: object | null): Promise<BuilderConfig>;
  validateConfiguration(config: BuilderConfig, debugLogger: unknown): Promise<void>;
}
const appBuilder = require('app-builder-lib/out/util/config/config.js') as ConfigModule;
const { DebugLogger } = require('builder-util/out/DebugLogger.js') as { DebugLogger: new (enabled: boolean) => unknown };

async function loadConfig(): Promise<BuilderConfig> {
  const config = await appBuilder.getConfig(REPO, null, null);
  await appBuilder.validateConfiguration(config, new DebugLogger(false));
  return config;
}

/** The subset of electron-builder's file globs used here: `dir/**` and exact paths. */
function isShipped(files: string[], rel: string): boolean {
  let shipped = false;
  for (const pattern of files) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    const hit = glob.endsWith('/**') ? rel.startsWith(glob.slice(0, -2)) : glob === rel;
    if (hit) shipped = !negated;
  }
  return shipped;
}

describe('electron-builder.yml', () => {
  it('passes electron-builder’s own schema validation', async () => {
    await expect(loadConfig()).resolves.toBeTruthy();
  });

  it('builds NSIS, AppImage + deb and dmg', async () => {
    const c = await loadConfig();
    expect(c.win?.target).toEqual(['nsis']);
    expect(c.linux?.target).toEqual(['AppImage', 'deb']);
    expect(c.mac?.target).toEqual(['dmg']);
    // fpm refuses a deb without a maintainer, and package.json names no author
    expect(c.linux?.maintainer).toMatch(/<[^@>]+@[^>]+>/);
    // CoreBluetooth kills an app with no Bluetooth usage description (noble on macOS)
    expect(c.mac?.extendInfo?.NSBluetoothAlwaysUsageDescription).toBeTruthy();
  });

  it('rebuilds native addons for Electron and ships them as real files', async () => {
    const c = await loadConfig();
    expect(c.npmRebuild).not.toBe(false);
    // workers and the engine's utility process boot from file URLs: no asar, or the addons unpacked
    expect(c.asar === false || (c.asarUnpack ?? []).some((g) => g.includes('.node'))).toBe(true);
  });

  it('ships the built main, engine host, preload and renderer, never sources, tests or build output', async () => {
    const c = await loadConfig();
    const files = (c.files ?? []).flatMap((f) => (typeof f === 'string' ? [f] : f.from && f.from !== '.' ? [] : (f.filter ?? [])));
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { main: string; scripts: Record<string, string> };
    expect(pkg.main).toBe('out/main/index.js');
    for (const rel of [pkg.main, 'out/main/engine-host.js', 'out/main/worker-entry.js', 'out/main/package-tasks.js', 'out/main/report-tasks.js', 'out/main/worker-boot.mjs', 'out/preload/index.cjs', 'out/renderer/index.html', 'package.json']) {
      expect(isShipped(files, rel), rel).toBe(true);
    }
    for (const rel of ['main/app/electron-main.ts', 'main/engine/engine.ts', 'preload/index.cjs', 'test/unit/x.test.ts', 'out/dist/linux-unpacked/x', 'out/bench-renderer/bench.html', 'renderer/App.vue']) {
      expect(isShipped(files, rel), rel).toBe(false);
    }
    // The build that makes those files runs before packaging and before `electron .`.
    expect(pkg.scripts.dist).toMatch(/^npm run build:desktop && electron-builder/);
    expect(pkg.scripts.start).toMatch(/^npm run build:desktop && electron \./);
    const script = fs.readFileSync(path.join(REPO, 'main', 'app', 'build-desktop.mjs'), 'utf8');
    for (const entry of ["index: 'main/app/desktop-entry.ts'", "'engine-host': 'main/host/engine-host-entry.ts'", "'worker-entry':", "'package-tasks':", "'report-tasks':"]) expect(script).toContain(entry);
    expect(fs.readFileSync(path.join(REPO, 'main', 'server', 'build-renderer.ts'), 'utf8')).toContain("path.join(REPO_ROOT, 'out', 'renderer')");
    expect(c.directories?.output).toBe('out/dist');
  });
});
