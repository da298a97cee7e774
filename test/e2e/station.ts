/**
 * e2e helpers: start `flashline serve` as a child process (the real CLI, real engine, virtual
 * units) and Debian's Chromium through playwright-core. Tests skip when Chromium is missing,
 * except in CI where a missing browser is a failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, selectors, type Browser } from 'playwright-core';
import { startCli, REPO, type CliRun } from '../helpers/cli.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
export const ARTIFACTS = path.join(REPO, 'test', 'artifacts');
export const README_SHOTS = path.join(REPO, 'resources', 'screenshots');
const SERVE_START_TIMEOUT_MS = 90_000;

export function chromiumMissing(): string | null {
  if (fs.existsSync(CHROMIUM)) return null;
  const why = `${CHROMIUM} not found (apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`e2e needs Chromium in CI: ${why}`);
  return why;
}

export async function launchChromium(): Promise<Browser> {
  // The renderer marks test hooks with data-test (not Playwright's default data-testid).
  selectors.setTestIdAttribute('data-test');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface ServedStation {
  url: string;
  dataDir: string;
  cli: CliRun;
  stop(): Promise<void>;
}

export async function serveStation(dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-e2e-'))): Promise<ServedStation> {
  const cli = startCli(['serve', '--port', '0', '--data-dir', dataDir]);
  const deadline = Date.now() + SERVE_START_TIMEOUT_MS;
  let url: string | undefined;
  while (!url) {
    url = /Flashline station UI: (http:\/\/\S+)/.exec(cli.stdout())?.[1];
    if (url) break;
    if (cli.child.exitCode !== null) throw new Error(`flashline serve exited: ${cli.stderr()}`);
    if (Date.now() > deadline) throw new Error(`flashline serve did not print its URL: ${cli.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir,
    cli,
    async stop() {
      if (cli.child.exitCode === null) cli.child.kill('SIGTERM');
      await cli.done;
    },
  };
}

export function saveShot(name: string, png: Buffer, forReadme = false): void {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, name), png);
  // The README's copies change only when asked for, so a test run leaves the tree clean.
  if (forReadme && process.env.FLASHLINE_UPDATE_SCREENSHOTS === '1') {
    fs.mkdirSync(README_SHOTS, { recursive: true });
    fs.writeFileSync(path.join(README_SHOTS, name), png);
  }
}

export const VIEWPORTS = [
  { width: 1920, height: 1080 },
  { width: 1366, height: 768 },
] as const;
export const LANGS = ['en', 'zh-CN'] as const;

/**
 * Screenshots of the current screen in both languages at both viewports, named
 * `NAME-LANG-WxH.png`; the 1366×768 ones also refresh the README copies when asked for.
 * Leaves the page in English at the first viewport.
 */
export async function shootAll(page: import('playwright-core').Page, name: string, forReadme = true): Promise<string[]> {
  const names: string[] = [];
  for (const lang of LANGS) {
    await setLang(page, lang);
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      await page.waitForTimeout(150);
      const file = `${name}-${lang}-${vp.width}x${vp.height}.png`;
      // The README keeps the 1366×768 ones (the smallest line monitor); test/artifacts keeps all.
      saveShot(file, await page.screenshot(), forReadme && vp.width === 1366);
      names.push(file);
    }
  }
  await setLang(page, 'en');
  await page.setViewportSize(VIEWPORTS[0]);
  return names;
}

export async function setLang(page: import('playwright-core').Page, lang: 'en' | 'zh-CN'): Promise<void> {
  const want = lang === 'en' ? 'Batch' : '批次';
  if ((await page.getByTestId('nav-batch').innerText()) !== want) await page.getByTestId('lang-toggle').click();
  for (let i = 0; i < 50 && (await page.getByTestId('nav-batch').innerText()) !== want; i++) await page.waitForTimeout(50);
}
