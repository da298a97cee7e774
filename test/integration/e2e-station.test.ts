/**
 * The operator's station end to end: `flashline serve` + Debian Chromium (playwright-core).
 * Import a package, plan 24 virtual units with 3 faulty ones, run, watch the grid to the end,
 * open a failed unit's trace, export CSV and check it against the journal, switch to zh-CN.
 * Faults chosen: refuse_version (fails: version_rejected), crc_failure (fails after its retries:
 * crc_mismatch), crc_failure_once (recovers on the retry) → 22 passed, 2 failed.
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
import { chromiumMissing, launchChromium, saveShot, serveStation, type ServedStation } from '../e2e/station.js';

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
    await page.getByTestId('create-start').click();

    // 3. the grid, mid-batch: screenshots in both languages
    await page.getByTestId('screen-batch').waitFor();
    const count = async (k: string) => Number(await page.getByTestId(`count-${k}`).locator('.n').innerText());
    // mid-batch: some units done, some running (the first wave of 8 has finished)
    await expect.poll(async () => (await count('passed')) > 0 && (await count('running')) > 0, { timeout: 60_000, interval: 100 }).toBe(true);
    saveShot('grid-running-en.png', await page.screenshot(), true);
    await page.getByTestId('lang-toggle').click();
    await expect.poll(() => page.getByTestId('nav-batch').innerText()).toBe('批次');
    saveShot('grid-running-zh-CN.png', await page.screenshot(), true);
    await page.getByTestId('lang-toggle').click();
    await expect.poll(() => page.getByTestId('nav-batch').innerText()).toBe('Batch');

    // 4. watch it to the end
    await expect.poll(() => page.getByTestId('batch-state').innerText(), { timeout: BATCH_TIMEOUT_MS, interval: 500 }).toBe('Finished');
    expect(await count('total')).toBe(24);
    expect(await count('passed')).toBe(22);
    expect(await count('failed')).toBe(2);
    saveShot('grid-finished-en.png', await page.screenshot(), true);
    await page.getByTestId('filter-failed').click();
    await expect.poll(() => page.getByTestId('unit-cell').count()).toBe(2);
    saveShot('grid-failed-filter-en.png', await page.screenshot(), true);
    await page.getByTestId('filter-all').click();

    // faults carry their codes and the operator's next step
    const refused = page.locator('[data-test=unit-cell][data-state=failed]', { hasText: 'version_rejected' });
    await expect.poll(() => refused.count()).toBe(1);
    expect(await refused.getByTestId('error-next').innerText()).toContain('refused this version');
    const crcFailed = page.locator('[data-test=unit-cell][data-state=failed]', { hasText: 'crc_mismatch' });
    await expect.poll(() => crcFailed.count()).toBe(1);
    expect(await crcFailed.getByTestId('error-next').innerText()).toMatch(/CRC/);
    // the unit that failed its CRC once passed on a later attempt
    const recovered = page.locator('[data-test=unit-cell][data-state=passed]', { hasText: 'attempt' });
    expect(await recovered.count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('[data-test=unit-cell][data-state=passed] [data-test=hash-mark]').first().innerText()).toContain('match');

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
    saveShot('unit-detail-en.png', await page.screenshot(), true);
    await detail.getByTestId('close-detail').click();

    // 6. export CSV and check its rows against the journal
    const batchId = (await page.getByTestId('batch-id').innerText()).trim();
    await page.getByTestId('nav-reports').click();
    await page.getByTestId('duration-chart').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    expect(download.suggestedFilename()).toBe(`${batchId}.csv`);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    saveShot('reports-en.png', await page.screenshot(), true);
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
    saveShot('grid-finished-zh-CN.png', await page.screenshot(), true);
    expect(await page.getByTestId('nav-reports').innerText()).toBe('报告');
  }, 240_000);
});
