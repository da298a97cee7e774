/**
 * The operator's station end to end: `flashline serve` + Debian Chromium (playwright-core).
 * Import a package, plan 24 virtual units with 3 faulty ones, run, watch the grid to the end,
 * open a failed unit's trace, export CSV and check it against the journal, switch to zh-CN.
 * Faults chosen: refuse_version (fails: version_rejected), crc_failure (fails after its retries:
 * crc_mismatch), crc_failure_once (recovers on the retry) → 22 passed, 2 failed.
 * Then the station is stopped mid-batch and restarted: the page says it is offline, greys the
 * live figures, reconnects by itself, the package list survives, and the interrupted batch is
 * resumed from History and followed live to the end. Screenshots of every screen in en and
 * zh-CN at 1920×1080 and 1366×768 go to test/artifacts/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { parseCsv } from '../../main/engine/report/index.js';
import { confirmedByList } from '../../main/engine/summary.js';
import { chromiumMissing, launchChromium, saveShot, serveStation, shootAll, type ServedStation } from '../e2e/station.js';

const missing = chromiumMissing();
const IMAGE_BYTES = 96 * 1024;
const HEALTHY = 21;
const FAULTS = ['refuse_version', 'crc_failure', 'crc_failure_once'] as const;
const BATCH_TIMEOUT_MS = 120_000;

describe.skipIf(missing)('operator station in Chromium (flashline serve)', () => {
  let station: ServedStation;
  let browser: Browser;
  let page: Page;
  let imagePath: string;

  beforeAll(async () => {
    station = await serveStation();
    imagePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-e2e-img-')), 'app-2.0.0.bin');
    fs.writeFileSync(imagePath, buildSimImage(IMAGE_BYTES, '2.0.0'));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
    page.on('pageerror', (e) => {
      throw e;
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('refuses the page and the socket without the token', async () => {
    const noToken = station.url.replace(/\?token=.*/, '');
    const res = await fetch(noToken);
    expect(res.status).toBe(403);
    const wrong = await fetch(station.url.replace(/token=[^&]+/, 'token=wrong'));
    expect(wrong.status).toBe(403);
  });

  it('runs a 24-unit batch from the UI and reports it', async () => {
    await page.goto(station.url);
    await page.getByTestId('nav-packages').click();
    await page.getByTestId('screen-packages').waitFor();
    await shootAll(page, 'packages-empty', false);

    // 1. import the package
    await page.getByTestId('package-file').setInputFiles(imagePath);
    await page.getByTestId('package-import').click();
    const crcCell = page.getByTestId('pkg-crc32').first();
    await crcCell.waitFor();
    const journalCrc = (await crcCell.innerText()).trim();
    expect(journalCrc).toMatch(/^[0-9a-f]{8}$/);
    expect(await page.getByTestId('pkg-version').first().innerText()).toBe('2.0.0');

    // 2. plan: 21 healthy + 3 faulty virtual units, 8 at a time so the grid shows every state
    await page.getByTestId('nav-plan').click();
    await page.getByTestId('sim-protocol').selectOption('ymodem');
    await page.getByTestId('sim-count').fill(String(HEALTHY));
    await page.getByTestId('sim-behaviour').selectOption('accept');
    await page.getByTestId('sim-add').click();
    for (const f of FAULTS) {
      await page.getByTestId('sim-count').fill('1');
      await page.getByTestId('sim-behaviour').selectOption(f);
      await page.getByTestId('sim-add').click();
    }
    await expect.poll(() => page.locator('[data-test=plan-units] tbody tr').count()).toBe(24);
    await page.getByTestId('concurrency').fill('8');
    await page.getByTestId('retries').fill('2');
    await shootAll(page, 'plan');
    await page.getByTestId('create-start').click();

    // 3. the grid, mid-batch: screenshots in both languages
    await page.getByTestId('screen-batch').waitFor();
    const count = async (k: string) => Number(await page.getByTestId(`count-${k}`).locator('.n').innerText());
    // mid-batch: some units done, some running (the first wave of 8 has finished)
    await expect.poll(async () => (await count('passed')) > 0 && (await count('running')) > 0, { timeout: 60_000, interval: 100 }).toBe(true);
    saveShot('grid-running-en.png', await page.screenshot(), true);

    // 4. watch it to the end
    await expect.poll(() => page.getByTestId('batch-state').innerText(), { timeout: BATCH_TIMEOUT_MS, interval: 500 }).toBe('Finished');
    expect(await count('total')).toBe(24);
    expect(await count('passed')).toBe(22);
    expect(await count('failed')).toBe(2);
    const tallied = await Promise.all(['running', 'retrying', 'queued', 'paused', 'passed', 'failed', 'skipped', 'cancelled', 'interrupted'].map(count));
    expect(tallied.reduce((a, b) => a + b, 0)).toBe(24);
    // the end of the batch: a banner (and a beep)
    await page.getByTestId('finish-banner').waitFor();
    expect(await page.getByTestId('finish-banner').getAttribute('data-kind')).toBe('finished');
    await shootAll(page, 'grid-finished');
    await page.getByTestId('filter-failed').click();
    await expect.poll(() => page.getByTestId('unit-cell').count()).toBe(2);
    saveShot('grid-failed-filter-en.png', await page.screenshot());
    await page.getByTestId('filter-all').click();
    // the big board: failures first, huge counters
    await page.getByTestId('view-board').click();
    await page.getByTestId('board').waitFor();
    expect(await page.getByTestId('board-pass').locator('.n').innerText()).toBe('22');
    expect(await page.getByTestId('board-fail').locator('.n').innerText()).toBe('2');
    expect(await page.getByTestId('board-cell').first().getAttribute('data-state')).toBe('failed');
    await shootAll(page, 'board');
    await page.getByTestId('view-grid').click();
    await page.getByTestId('finish-banner-close').click();

    // faults carry the operator's next step on the tile, codes in the detail panel
    const refusedText = page.locator('[data-test=unit-cell][data-state=failed]', { hasText: 'refused this version' });
    await expect.poll(() => refusedText.count()).toBe(1);
    const refused = page.locator(`[data-test=unit-cell][data-unit="${await refusedText.getAttribute('data-unit')}"]`);
    const crcFailed = page.locator('[data-test=unit-cell][data-state=failed]', { hasText: /CRC/ });
    await expect.poll(() => crcFailed.count()).toBe(1);
    // no green mark on a failed tile
    expect(await page.locator('[data-test=unit-cell][data-state=failed] [data-test=hash-mark]').count()).toBe(0);
    // the unit that failed its CRC once passed on a later attempt
    const recovered = page.locator('[data-test=unit-cell][data-state=passed]', { hasText: 'attempt' });
    expect(await recovered.count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('[data-test=unit-cell][data-state=passed] [data-test=hash-mark]').first().innerText()).toMatch(/device CRC32 matches|version after reboot|loader verdict/);
    // tiles never clip: every tile's content stays inside it, buttons ≥ 40 px, next step ≥ 16 px
    const geometry = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('[data-test=unit-cell]')].map((c) => {
        const box = c.getBoundingClientRect();
        const kids = [...c.querySelectorAll<HTMLElement>('header, .verdict, .bar, .live, .next, footer, footer button')].map((k) => k.getBoundingClientRect());
        const buttons = [...c.querySelectorAll<HTMLElement>('footer button')].map((b) => b.getBoundingClientRect().height);
        return { inside: kids.every((k) => k.bottom <= box.bottom + 0.5 && k.right <= box.right + 0.5), minButton: Math.min(...buttons), nextPx: parseFloat(getComputedStyle(c.querySelector('.next')!).fontSize) };
      }),
    );
    expect(geometry.length).toBeGreaterThan(0);
    for (const g of geometry) {
      expect(g.inside).toBe(true);
      expect(g.minButton).toBeGreaterThanOrEqual(40);
      expect(g.nextPx).toBeGreaterThanOrEqual(16);
    }

    // 5. a failed unit's trace
    await refused.getByTestId('open-detail').click();
    const detail = page.getByTestId('unit-detail');
    await detail.waitFor();
    await expect.poll(() => detail.locator('[data-test=trace] tbody tr').count()).toBeGreaterThan(0);
    expect(await detail.locator('[data-test=timeline] tbody tr').count()).toBeGreaterThan(2);
    const traceText = await detail.getByTestId('trace-text').inputValue();
    expect(traceText).toMatch(/attempt 1/);
    expect(traceText).toMatch(/ tx /);
    expect(await detail.getByTestId('detail-state').innerText()).toContain('Failed');
    expect(await detail.getByTestId('detail-codes').innerText()).toContain('version_rejected');
    // focus moves into the panel; Esc closes it
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-test'))).toBe('unit-detail');
    await shootAll(page, 'unit-detail');
    await page.keyboard.press('Escape');
    await expect.poll(() => detail.count()).toBe(0);

    // 6. export CSV and check its rows against the journal
    const batchId = (await page.getByTestId('batch-id').innerText()).trim();
    await page.getByTestId('nav-reports').click();
    await page.getByTestId('duration-chart').waitFor();
    expect(await page.getByTestId('report-batch').inputValue()).toBe(batchId);
    expect(await page.getByTestId('chart-y-label').textContent()).toContain('Duration (s)');
    expect(await page.getByTestId('chart-y2-label').textContent()).toContain('kB/s');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    expect(download.suggestedFilename()).toBe(`${batchId}.csv`);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    await shootAll(page, 'reports');
    const parsed = parseCsv(csv);
    if (!parsed.ok) throw new Error(parsed.reason);
    const headerAt = parsed.records.findIndex((r) => r[0] === 'row' && r.includes('unit_id'));
    expect(headerAt).toBeGreaterThanOrEqual(0);
    const header = parsed.records[headerAt]!;
    const rows = parsed.records.slice(headerAt + 1).filter((r) => r.length === header.length).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]!])));
    const journal = Journal.open(path.join(station.dataDir, 'journal.sqlite'));
    try {
      const jobs = journal.getJobs(batchId);
      expect(rows).toHaveLength(jobs.length);
      for (const job of jobs) {
        const row = rows.find((r) => r.unit_id === job.unit.unitId);
        expect(row, job.unit.unitId).toBeDefined();
        expect(row!.state).toBe(job.state);
        expect(row!.result).toBe(job.result ?? '');
        expect(row!.sent_crc32).toBe(job.sent.crc32);
        // Only a CRC the device itself confirmed is shown as confirmed (issue 9 §1).
        expect(row!.confirmed_crc32).toBe(job.confirmed.confirmedBy?.includes('device-crc32') ? (job.confirmed.crc32 ?? '') : '');
        expect(row!.confirmed_by).toBe(confirmedByList(job.confirmed).join('+'));
        expect(row!.attempts).toBe(String(job.attempts));
        expect(row!.batch_id).toBe(batchId);
      }
      expect(rows.filter((r) => r.state === 'passed')).toHaveLength(22);
    } finally {
      journal.close();
    }

    // 7. zh-CN labels
    await page.getByTestId('nav-batch').click();
    await page.getByTestId('lang-toggle').click();
    await expect.poll(() => page.getByTestId('nav-batch').innerText()).toBe('批次');
    expect(await page.getByTestId('batch-state').innerText()).toBe('已完成');
    expect(await page.getByTestId('count-passed').locator('.l').innerText()).toBe('通过');
    expect(await page.getByTestId('count-failed').locator('.l').innerText()).toBe('失败');
    expect(await refused.getByTestId('unit-state').innerText()).toContain('失败');
    await expect.poll(() => refused.getByTestId('error-next').innerText()).toContain('设备拒绝了该版本');
    expect(await page.getByTestId('nav-reports').innerText()).toBe('报告');
    await page.getByTestId('lang-toggle').click();
    await expect.poll(() => page.getByTestId('nav-batch').innerText()).toBe('Batch');
    for (const s of ['settings', 'rma'] as const) {
      await page.getByTestId(`nav-${s}`).click();
      await page.getByTestId(`screen-${s}`).waitFor();
      await shootAll(page, s);
    }
  }, 300_000);

  it('says when the station is gone, reconnects by itself, keeps packages, and resumes the interrupted batch live from History', async () => {
    const count = async (k: string) => Number(await page.getByTestId(`count-${k}`).locator('.n').innerText());
    await page.getByTestId('nav-plan').click();
    await page.getByTestId('plan-package').waitFor();
    await page.getByTestId('plan-clear').click();
    await page.getByTestId('sim-count').fill('24');
    await page.getByTestId('sim-behaviour').selectOption('accept');
    await page.getByTestId('sim-add').click();
    await expect.poll(() => page.locator('[data-test=plan-units] tbody tr').count()).toBe(24);
    await page.getByTestId('concurrency').fill('2');
    await page.getByTestId('create-start').click();
    await page.getByTestId('screen-batch').waitFor();
    await expect.poll(async () => (await count('passed')) > 0 && (await count('running')) > 0, { timeout: 60_000, interval: 100 }).toBe(true);
    const batchId = (await page.getByTestId('batch-id').innerText()).trim();
    const total = await count('total');

    // stop the station mid-batch: the page says so and greys the live figures
    await station.stop();
    await page.getByTestId('offline-banner').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('link-state').getAttribute('data-connected')).toBe('false');
    expect(await page.getByTestId('screen-batch').getAttribute('class')).toContain('stale');
    await shootAll(page, 'offline');

    // restart it on the same data dir: the same URL answers, the page reconnects and resyncs
    station = await serveStation(station.dataDir);
    await expect.poll(() => page.getByTestId('link-state').getAttribute('data-connected'), { timeout: 30_000, interval: 200 }).toBe('true');
    expect(await page.getByTestId('offline-banner').count()).toBe(0);
    await expect.poll(() => page.getByTestId('batch-state').innerText(), { timeout: 20_000 }).toBe('Interrupted');
    const interrupted = await count('interrupted');
    expect(interrupted).toBeGreaterThan(0);
    const tallied = await Promise.all(['running', 'retrying', 'queued', 'paused', 'passed', 'failed', 'skipped', 'cancelled', 'interrupted'].map(count));
    expect(tallied.reduce((a, b) => a + b, 0)).toBe(total);
    await shootAll(page, 'grid-interrupted');

    // packages survive the restart
    await page.getByTestId('nav-packages').click();
    await expect.poll(() => page.getByTestId('pkg-version').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    await shootAll(page, 'packages');

    // History shows every count and resumes the batch; the grid follows it live to the end
    await page.getByTestId('nav-history').click();
    const row = page.locator(`[data-batch="${batchId}"]`);
    await row.waitFor();
    expect(Number(await row.getByTestId('h-interrupted').innerText())).toBe(interrupted);
    await shootAll(page, 'history');
    await page.getByTestId(`resume-${batchId}`).click();
    await page.getByTestId('screen-batch').waitFor();
    await expect.poll(() => page.getByTestId('batch-state').innerText(), { timeout: 20_000, interval: 200 }).toBe('Running');
    await expect.poll(() => page.getByTestId('batch-state').innerText(), { timeout: BATCH_TIMEOUT_MS, interval: 500 }).toBe('Finished');
    saveShot('grid-resumed-finished-en.png', await page.screenshot());
    expect(await count('failed')).toBe(0);
    expect(await count('passed')).toBe(total);
    expect(await count('interrupted')).toBe(0);
  }, 300_000);

  it('takes barcode scans wherever the focus is, and locks engineer controls until unlocked', async () => {
    await page.getByTestId('finish-banner-close').click().catch(() => undefined);
    await page.getByTestId('nav-plan').click();
    await page.getByTestId('plan-clear').click();
    await page.getByTestId('sim-count').fill('3');
    await page.getByTestId('sim-add').click();
    const rows = page.locator('[data-test=plan-units] tbody tr');
    await expect.poll(() => rows.count()).toBe(3);
    const sn = (i: number) => page.getByTestId('sn-input').nth(i).inputValue();
    const scanMsg = page.getByTestId('scan-msg');
    // 1. focus on a button: the scan goes to the scan box, and its Enter does not press the button
    await page.getByTestId('sim-add').focus();
    await page.keyboard.type('SN-E2E-0001', { delay: 2 });
    await page.keyboard.press('Enter');
    await expect.poll(() => scanMsg.getAttribute('data-kind')).toBe('bound');
    expect(await rows.count()).toBe(3);
    expect(await sn(0)).toBe('SN-E2E-0001');
    // 2. the scan box itself
    await page.getByTestId('scan-box').focus();
    await page.keyboard.type('SN-E2E-0002', { delay: 2 });
    await page.keyboard.press('Enter');
    await expect.poll(() => sn(1)).toBe('SN-E2E-0002');
    // 3. a duplicate is refused with a clear message
    await page.keyboard.type('SN-E2E-0001', { delay: 2 });
    await page.keyboard.press('Enter');
    await expect.poll(() => scanMsg.getAttribute('data-kind')).toBe('duplicate');
    expect(await scanMsg.innerText()).toContain('already bound');
    // 4. focus in another text field: it keeps its own text, the scan goes to the next unit
    await page.getByTestId('target-input').fill('abc');
    await page.getByTestId('target-input').focus();
    await page.keyboard.type('SN-E2E-0003', { delay: 2 });
    await page.keyboard.press('Enter');
    await expect.poll(() => sn(2)).toBe('SN-E2E-0003');
    expect(await page.getByTestId('target-input').inputValue()).toBe('abc');
    await page.getByTestId('target-input').fill('');
    await shootAll(page, 'plan-scanned');

    // Roles: set the engineer PIN, lock, and every engineer control is locked (the API refuses too)
    await page.getByTestId('nav-settings').click();
    await page.getByTestId('engineer-secret').fill('4711');
    await page.getByTestId('engineer-secret-save').click();
    await page.getByTestId('engineer-secret-saved').waitFor();
    await expect.poll(() => page.getByTestId('role').getAttribute('data-role')).toBe('engineer');
    await page.getByTestId('role-lock').click();
    await expect.poll(() => page.getByTestId('role').getAttribute('data-role')).toBe('operator');
    await page.getByTestId('settings-locked').waitFor();
    expect(await page.getByTestId('settings-save').isDisabled()).toBe(true);
    await shootAll(page, 'settings-locked');
    await page.getByTestId('nav-packages').click();
    await page.getByTestId('packages-locked').waitFor();
    expect(await page.getByTestId('package-import').isDisabled()).toBe(true);
    await page.getByTestId('nav-plan').click();
    expect(await page.getByTestId('plan-policy').getAttribute('disabled')).not.toBeNull();
    expect(await page.getByTestId('retries').isDisabled()).toBe(true);
    // unlock with the PIN
    await page.getByTestId('role-unlock').click();
    await page.getByTestId('role-secret').fill('4711');
    await page.getByTestId('role-unlock-ok').click();
    await expect.poll(() => page.getByTestId('role').getAttribute('data-role')).toBe('engineer');
    expect(await page.getByTestId('retries').isDisabled()).toBe(false);
    // the audit log in History
    await page.getByTestId('nav-history').click();
    await page.getByTestId('audit-log').waitFor();
    const actions = await page.locator('[data-test=audit-log] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')));
    expect(actions).toContain('setEngineerSecret');
    expect(actions).toContain('unlockEngineer');
    expect(actions).toContain('startBatch');
    expect(actions).toContain('resumeBatch');
    await shootAll(page, 'history-audit');
  }, 300_000);
});
