// @vitest-environment happy-dom
/**
 * The screen never lies (issue 13 §1–2): counters that add up in every state, paused and stalled
 * units, resume renews the live watch, the finish banner and sound, link loss and resync,
 * history load errors, the big board's layout, repeat last plan and retry all failed.
 */
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia, type Pinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Component } from 'vue';
import type { BatchState, JobState, UnitRef } from '../../main/contract/dto.js';
import { installBridge, reportLink } from '../../renderer/bridge.js';
import { failuresFirst, STALL_AFTER_MS, TALLY_KEYS, tallyOf, useBatchStore } from '../../renderer/stores/batch.js';
import { useConnectionStore } from '../../renderer/stores/connection.js';
import { useHistoryStore } from '../../renderer/stores/history.js';
import { freshSimUnits, usePlanStore } from '../../renderer/stores/plan.js';
import { formatAttemptCauses, shortName } from '../../renderer/format.js';
import { usePackagesStore } from '../../renderer/stores/packages.js';
import { BurstDetector, scanMessage, unitNamedBy, useScanStore } from '../../renderer/stores/scan.js';
import { createFakeBridge, makeBatch, makeJob, type FakeBridge } from './ui-fake-bridge.js';

async function sfc(rel: string): Promise<Component> {
  return ((await import(/* @vite-ignore */ new URL(rel, import.meta.url).href)) as { default: Component }).default;
}
const BoardView = await sfc('../../renderer/components/BoardView.vue');
const HistoryScreen = await sfc('../../renderer/views/HistoryScreen.vue');

let fake: FakeBridge;
let pinia: Pinia;
beforeEach(() => {
  pinia = createPinia();
  setActivePinia(pinia);
  fake = createFakeBridge();
  installBridge(fake);
});

const ALL_STATES: JobState[] = ['queued', 'connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'backoff', 'interrupted', 'passed', 'failed', 'cancelled', 'skipped'];
const BATCH_STATES: BatchState[] = ['created', 'running', 'paused', 'finished', 'cancelled', 'interrupted'];

describe('counters', () => {
  it('add up to the total in every batch state, with retrying apart from running', () => {
    const jobs = ALL_STATES.map((s, i) => makeJob(i, s));
    for (const bs of BATCH_STATES) {
      const t = tallyOf(jobs, bs);
      expect(TALLY_KEYS.reduce((a, k) => a + t[k], 0), bs).toBe(t.total);
    }
    const running = tallyOf(jobs, 'running');
    expect(running.running).toBe(6);
    expect(running.retrying).toBe(1);
    expect(running.interrupted).toBe(1);
    // paused: waiting units are paused, not running and not queued
    const paused = tallyOf(jobs, 'paused');
    expect(paused.paused).toBe(3);
    expect(paused.queued).toBe(0);
    expect(paused.retrying).toBe(0);
    // interrupted batch: every unfinished unit is interrupted
    const inter = tallyOf(jobs, 'interrupted');
    expect(inter.interrupted).toBe(9);
    expect(inter.running).toBe(0);
  });

  it('puts failures first, then units in flight, keeping plan order', () => {
    const jobs = [makeJob(1, 'passed'), makeJob(2, 'failed'), makeJob(3, 'queued'), makeJob(4, 'transferring'), makeJob(5, 'failed')];
    expect(failuresFirst(jobs).map((j) => j.jobId)).toEqual(['B1-0002', 'B1-0005', 'B1-0004', 'B1-0003', 'B1-0001']);
  });
});

describe('batch store', () => {
  it('marks an active unit stalled after a minute without progress, and clears it on progress', () => {
    const store = useBatchStore();
    let now = 1_000_000;
    store.setClock(() => now);
    store.open('B1');
    const jobs = [makeJob(1, 'transferring', { progressBytes: 10 }), makeJob(2, 'queued')];
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 1, batch: makeBatch(jobs), jobs });
    now += STALL_AFTER_MS - 1;
    store.checkStalls();
    expect(store.stalled.size).toBe(0);
    now += 3 * 60_000;
    store.checkStalls();
    expect(store.stalled.get('B1-0001')).toBe(3);
    expect(store.stalled.has('B1-0002')).toBe(false); // queued units do not stall
    fake.push({ type: 'delta', batchId: 'B1', rev: 2, jobs: [makeJob(1, 'transferring', { progressBytes: 20 })] });
    store.checkStalls();
    expect(store.stalled.size).toBe(0);
    store.close();
  });

  it('renews the watch after resuming an interrupted batch so the grid follows it live', async () => {
    const store = useBatchStore();
    store.open('B1', { readOnly: true });
    expect(fake.calls.filter((c) => c.method === 'onBatchEvent')).toHaveLength(1);
    expect(await store.resume()).toBe(true);
    expect(fake.calls.filter((c) => c.method === 'onBatchEvent')).toHaveLength(2);
    expect(store.readOnly).toBe(false);
    expect(fake.listeners('B1')).toBe(1);
    store.close();
  });

  it('raises the finish banner and sound when a running batch ends or stops the line, not on a snapshot', () => {
    const store = useBatchStore();
    const sounds: string[] = [];
    store.setBeeper((k) => sounds.push(k));
    store.open('B1');
    const jobs = [makeJob(1, 'passed')];
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 1, batch: makeBatch(jobs, { state: 'finished' }), jobs });
    expect(store.banner).toBeNull();
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 2, batch: makeBatch(jobs, { state: 'running' }), jobs });
    fake.push({ type: 'delta', batchId: 'B1', rev: 3, batch: makeBatch(jobs, { state: 'paused', pausedReason: 'stop-the-line: 3 failures in a row' }), jobs: [] });
    expect(store.banner?.kind).toBe('stopLine');
    fake.push({ type: 'delta', batchId: 'B1', rev: 4, batch: makeBatch(jobs, { state: 'running' }), jobs: [] });
    fake.push({ type: 'delta', batchId: 'B1', rev: 5, batch: makeBatch(jobs, { state: 'finished' }), jobs: [] });
    expect(store.banner?.kind).toBe('finished');
    expect(sounds).toEqual(['stopLine', 'finished']);
    store.close();
  });

  it('retries every failed unit', async () => {
    const store = useBatchStore();
    fake.answer('retryJob', () => ({ ok: true, value: true }));
    store.open('B1');
    const jobs = [makeJob(1, 'failed'), makeJob(2, 'passed'), makeJob(3, 'failed')];
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 1, batch: makeBatch(jobs), jobs });
    expect(await store.retryAllFailed()).toBe(true);
    expect(fake.calls.filter((c) => c.method === 'retryJob').map((c) => (c.req as { jobId: string }).jobId)).toEqual(['B1-0001', 'B1-0003']);
    store.close();
  });
});

describe('plan store', () => {
  it('repeats the last plan as a new batch without the old barcodes', async () => {
    const plan = usePlanStore();
    fake.answer('createBatch', () => ({ ok: true, value: makeBatch([]) }));
    expect(await plan.repeatLast()).toBeNull();
    const unit = { unitId: 'sim:ymodem:0', transport: 'sim' as const, protocol: 'ymodem' as const, address: 'ymodem:0', sim: { behaviour: 'accept' as const, initialVersion: '1.0.0' } };
    plan.units = [unit];
    plan.bindSerial('sim:ymodem:0', 'SN-1');
    await plan.createBatch('p1');
    await plan.repeatLast();
    const creates = fake.calls.filter((c) => c.method === 'createBatch').map((c) => c.req as { packageId: string; units: UnitRef[] });
    expect(creates).toHaveLength(2);
    expect(creates[0]!.units[0]!.serialNumber).toBe('SN-1');
    expect(creates[1]!.packageId).toBe('p1');
    // fresh virtual devices for each batch, and serial numbers no earlier batch used
    const [a, b] = [creates[0]!.units[0]!, creates[1]!.units[0]!];
    expect(a.sim!.instance).toBeTruthy();
    expect(b.sim!.instance).toBeTruthy();
    expect(b.sim!.instance).not.toBe(a.sim!.instance);
    expect(b.serialNumber).toBe(`sim:ymodem:0-${b.sim!.instance}`);
    expect(b.sim!.serialNumber).toBe(b.serialNumber);
  });

  it('keeps the virtual units’ state only when asked, and never gives two units one serial number', () => {
    const units = [0, 1].map((i) => ({ unitId: `sim:ymodem:${i}`, transport: 'sim' as const, protocol: 'ymodem' as const, address: `ymodem:${i}`, serialNumber: `SIMYMOD000${i}`, sim: { behaviour: 'accept' as const, initialVersion: '1.0.0', serialNumber: `SIMYMOD000${i}` } }));
    const one = freshSimUnits(units, 'aaa');
    const two = freshSimUnits(units, 'bbb');
    const sns = [...one, ...two].map((u) => u.serialNumber);
    expect(new Set(sns).size).toBe(4);
    expect(one[0]!.sim!.instance).toBe('aaa');
  });
});

describe('connection', () => {
  it('follows the link and counts reconnects after a loss', () => {
    const conn = useConnectionStore();
    expect(conn.connected).toBe(true);
    reportLink(true);
    expect(conn.generation).toBe(0);
    reportLink(false);
    expect(conn.connected).toBe(false);
    expect(conn.lostAt).not.toBeNull();
    reportLink(true);
    expect(conn.connected).toBe(true);
    expect(conn.generation).toBe(1);
    conn.dispose();
  });
});

describe('HistoryScreen', () => {
  it('shows a load error instead of "no batches", and every count of a batch', async () => {
    fake.answer('listBatches', () => ({ ok: false, error: { code: 'TRANSPORT_LOST', result: 'station_error', message: 'lost', operatorText: { en: 'Lost connection to the station.', 'zh-CN': '与工位的连接已断开。' }, retryable: true } }));
    const w = mount(HistoryScreen, { global: { plugins: [pinia] } });
    await flushPromises();
    expect(w.find('[data-test="history-error"]').text()).toContain('Lost connection to the station.');
    expect(w.find('[data-test="history-none"]').exists()).toBe(false);
    const jobs = [makeJob(1, 'passed'), makeJob(2, 'failed'), makeJob(3, 'interrupted'), makeJob(4, 'queued')];
    fake.answer('listBatches', () => ({ ok: true, value: [makeBatch(jobs, { state: 'interrupted' })] }));
    await useHistoryStore().refresh();
    await flushPromises();
    expect(w.find('[data-test="history-error"]').exists()).toBe(false);
    const row = w.get('[data-batch="B1"]');
    for (const [k, n] of [['total', 4], ['passed', 1], ['failed', 1], ['interrupted', 2], ['queued', 0], ['paused', 0], ['skipped', 0], ['cancelled', 0], ['running', 0]] as const) expect(row.get(`[data-test="h-${k}"]`).text(), k).toBe(String(n));
    expect(row.find('[data-test="resume-B1"]').exists()).toBe(true);
    w.unmount();
  });
});

describe('BoardView', () => {
  it('lays 200 units out without scrolling at 1366×768, failures first, with short names', async () => {
    const jobs = Array.from({ length: 200 }, (_, i) => makeJob(i + 1, i === 150 ? 'failed' : i < 100 ? 'passed' : 'queued'));
    const w = mount(BoardView, { props: { jobs, batch: makeBatch(jobs, { startedAt: new Date(Date.now() - 60_000).toISOString() }), tally: tallyOf(jobs, 'running') }, global: { plugins: [pinia] } });
    await flushPromises();
    // happy-dom has no layout: the board uses its fallback area of 1300×500 px, what is left of 1366×768.
    const cols = Number(w.get('.board-cells').attributes('data-cols'));
    const rows = Math.ceil(200 / cols);
    const rowPx = parseInt(/grid-auto-rows: (\d+)px/.exec(w.get('.board-cells').attributes('style') ?? '')![1]!, 10);
    expect(rows * rowPx + (rows - 1) * 4).toBeLessThanOrEqual(500);
    expect(1300 / cols).toBeGreaterThanOrEqual(44);
    const cells = w.findAll('[data-test="board-cell"]');
    expect(cells).toHaveLength(200);
    expect(cells[0]!.attributes('data-state')).toBe('failed');
    expect(cells[0]!.text()).toBe('151');
    expect(w.get('[data-test="board-pass"] .n').text()).toBe('100');
    expect(w.get('[data-test="board-fail"] .n').text()).toBe('1');
    expect(w.get('[data-test="board-remaining"] .n').text()).toBe('99');
    expect(w.get('[data-test="board-yield"]').text()).toBe('99 %');
    expect(w.get('[data-test="board-elapsed"]').text()).toMatch(/^1:0\d$/);
    expect(w.get('[data-test="board-end"]').text()).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(shortName({ unit: { unitId: 'serial:/dev/ttyUSB12' } })).toBe('/ttyUSB12'.slice(-8));
    w.unmount();
  });
});

describe('scanner', () => {
  const units = [0, 1, 2].map((i) => ({ unitId: `serial:/dev/ttyUSB${i}`, transport: 'serial' as const, protocol: 'ymodem' as const, address: `/dev/ttyUSB${i}` }));

  it('tells a scanner burst from typing', () => {
    const d = new BurstDetector();
    'SN-0001'.split('').forEach((c, i) => d.key(c, 1000 + i * 8));
    expect(d.enter(1000 + 7 * 8)).toBe('SN-0001');
    // a busy machine stretches a few gaps: still a scan (median gap counts)
    'SN-0002'.split('').forEach((c, i) => d.key(c, 2000 + i * 20 + (i === 3 ? 90 : 0)));
    expect(d.enter(2000 + 6 * 20 + 90 + 10)).toBe('SN-0002');
    // a person: 120 ms between keys
    'abcd'.split('').forEach((c, i) => d.key(c, 5000 + i * 120));
    expect(d.enter(5000 + 4 * 120)).toBeNull();
    // too short for a barcode
    'ab'.split('').forEach((c, i) => d.key(c, 9000 + i * 5));
    expect(d.enter(9010)).toBeNull();
  });

  it('binds each scan to the next unbound unit, or to the unit a port barcode named, and refuses duplicates', async () => {
    const plan = usePlanStore();
    plan.units = units;
    const scan = useScanStore();
    expect(await scan.submit('SN-A')).toEqual({ kind: 'bound', unitId: 'serial:/dev/ttyUSB0', code: 'SN-A' });
    expect(await scan.submit('  SN-B ')).toMatchObject({ kind: 'bound', unitId: 'serial:/dev/ttyUSB1', code: 'SN-B' });
    expect(await scan.submit('SN-A')).toEqual({ kind: 'duplicate', code: 'SN-A', unitId: 'serial:/dev/ttyUSB0' });
    expect(plan.serialNumbers['serial:/dev/ttyUSB2']).toBeUndefined();
    // a barcode naming a port arms that unit; the next serial number goes there and replaces
    expect(await scan.submit('PORT:/dev/ttyUSB0')).toMatchObject({ kind: 'armed', unitId: 'serial:/dev/ttyUSB0' });
    expect(await scan.submit('SN-C')).toMatchObject({ kind: 'bound', unitId: 'serial:/dev/ttyUSB0' });
    expect(plan.serialNumbers['serial:/dev/ttyUSB0']).toBe('SN-C');
    expect(await scan.submit('SN-D')).toMatchObject({ kind: 'bound', unitId: 'serial:/dev/ttyUSB2' });
    expect(await scan.submit('SN-E')).toEqual({ kind: 'noUnit', code: 'SN-E' });
    expect(scanMessage({ kind: 'duplicate', code: 'SN-A', unitId: 'u1' }, (k, p) => `${k}:${JSON.stringify(p)}`).ok).toBe(false);
    expect(unitNamedBy('mac=AA:BB:CC:DD:EE:FF', [{ unitId: 'ble:aabbccddeeff', transport: 'ble', protocol: 'llsync-ota', address: 'aa:bb:cc:dd:ee:ff' }])?.unitId).toBe('ble:aabbccddeeff');
  });

  it('selects the mapped package for a product barcode, and says so when the station has no product profiles', async () => {
    fake.answer('listScanMappings', () => ({ ok: true, value: [{ barcode: 'PRD-42', packageId: 'p1', profileId: 'prof-42' }, { barcode: 'PRD-9', packageId: 'gone' }] }));
    fake.answer('listPackages', () => ({ ok: true, value: [{ id: 'p1', sourcePath: '/d/packages/0123456789ab-app.zip', format: 'zip', components: [], signature: 'none', loadedAt: '' }] }));
    const scan = useScanStore();
    await scan.loadMappings();
    const out = await scan.submit('PRD-42');
    expect(out).toMatchObject({ kind: 'product', packageId: 'p1', profileId: 'prof-42', profileMissing: true });
    expect(usePackagesStore().selectedId).toBe('p1');
    expect(await scan.submit('PRD-9')).toMatchObject({ kind: 'unknownPackage' });
  });
});

describe('attempt causes in the unit detail (issue 9 §1)', () => {
  it('groups consecutive equal causes and labels them in the screen language', () => {
    const causes = [
      { attempt: 1, code: 'SOTA_READ_TIMEOUT' },
      { attempt: 2, code: 'DEVICE_NOT_RESPONDING' },
      { attempt: 3, code: 'DEVICE_NOT_RESPONDING' },
    ];
    expect(formatAttemptCauses(causes, (n) => `attempt ${n}`)).toBe('attempt 1: SOTA_READ_TIMEOUT; attempt 2–3: DEVICE_NOT_RESPONDING');
    expect(formatAttemptCauses(causes, (n) => `第 ${n} 次`)).toBe('第 1 次: SOTA_READ_TIMEOUT; 第 2–3 次: DEVICE_NOT_RESPONDING');
    expect(formatAttemptCauses([{ attempt: 1, code: 'A' }, { attempt: 2, code: 'B' }, { attempt: 3, code: 'A' }], String)).toBe('1: A; 2: B; 3: A');
  });
});
