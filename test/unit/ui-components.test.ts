// @vitest-environment happy-dom
/**
 * The operator UI's components, mounted with @vue/test-utils on happy-dom with the real Pinia
 * stores and a fake bridge: the virtualised grid (only the rows in view exist for 500 units,
 * scrolling moves the window), filters, hash match/mismatch marks, unit tiles and their intents,
 * error badges in en and zh-CN, and the Plan screen's barcode-scanner flow.
 */
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils';
import { createPinia, setActivePinia, type Pinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Component } from 'vue';
import type { JobView, ResultCode } from '../../main/contract/dto.js';
import type { StationInfo } from '../../main/contract/ipc.js';
import { installBridge } from '../../renderer/bridge.js';
import { useBatchStore } from '../../renderer/stores/batch.js';
import { usePlanStore } from '../../renderer/stores/plan.js';
import { useStationStore } from '../../renderer/stores/station.js';
import { createFakeBridge, makeBatch, makeJob, type FakeBridge } from './ui-fake-bridge.js';

// .vue modules are compiled by @vitejs/plugin-vue at test time; the Node tsconfig has no SFC
// shim, so they are imported by path and typed as components here.
async function sfc(rel: string): Promise<Component> {
  return ((await import(/* @vite-ignore */ new URL(rel, import.meta.url).href)) as { default: Component }).default;
}
const BatchGrid = await sfc('../../renderer/components/BatchGrid.vue');
const UnitCell = await sfc('../../renderer/components/UnitCell.vue');
const ErrorBadge = await sfc('../../renderer/components/ErrorBadge.vue');
const BatchScreen = await sfc('../../renderer/views/BatchScreen.vue');
const PlanScreen = await sfc('../../renderer/views/PlanScreen.vue');

// BatchGrid's layout when the DOM reports no size (happy-dom): 1280×800 px viewport,
// 300×214 px tiles with a 10 px gap → 4 columns, 4 rows in view + 1 overscan row below.
const COLUMNS = 4;
const ROW_PX = 224;
const OVERSCAN_ROWS = 1;
const ROWS_IN_VIEW = Math.ceil(800 / ROW_PX);

const RESULT_TEXT = Object.fromEntries(
  (['ok', 'timeout', 'disconnected', 'crc_mismatch', 'md5_mismatch', 'version_rejected', 'version_mismatch', 'file_invalid', 'signature_invalid', 'no_space', 'policy_blocked', 'device_error', 'cancelled', 'station_error'] satisfies ResultCode[]).map((r) => [
    r,
    { en: `EN result ${r}`, 'zh-CN': `中文 结果 ${r}` },
  ]),
) as StationInfo['resultText'];

let fake: FakeBridge;
let pinia: Pinia;
const mounted: VueWrapper[] = [];
function track<W extends VueWrapper>(w: W): W {
  mounted.push(w);
  return w;
}

beforeEach(() => {
  pinia = createPinia();
  setActivePinia(pinia);
  fake = createFakeBridge();
  installBridge(fake);
  fake.answer('errorTexts', (req) => ({ ok: true, value: Object.fromEntries(req.codes.map((c) => [c, { en: `Move ${c} closer and retry`, 'zh-CN': `请将设备 ${c} 靠近后重试` }])) }));
  fake.answer('listPackages', () => ({ ok: true, value: [] }));
});
afterEach(() => {
  for (const w of mounted.splice(0)) w.unmount();
  document.body.innerHTML = '';
});

const jobsOf = (n: number, state: JobView['state'] = 'transferring') => Array.from({ length: n }, (_, i) => makeJob(i, state, { progressBytes: i % 1000 }));
const unitIds = (w: VueWrapper) => w.findAll('[data-test="unit-cell"]').map((c) => c.attributes('data-unit'));

describe('BatchGrid (virtualised)', () => {
  it('renders only the rows in view for 500 units, and sizes the scroll area for all of them', () => {
    const jobs = jobsOf(500);
    const w = track(mount(BatchGrid, { props: { jobs }, global: { plugins: [pinia] } }));
    const cells = w.findAll('[data-test="unit-cell"]');
    expect(cells.length).toBe((ROWS_IN_VIEW + OVERSCAN_ROWS) * COLUMNS);
    expect(cells.length).toBeLessThan(50);
    expect(w.get('[data-test="batch-grid"]').attributes('data-rendered')).toBe(String(cells.length));
    expect(unitIds(w)[0]).toBe('sim:ymodem:0');
    expect(w.get('.spacer').attributes('style')).toContain(`height: ${Math.ceil(500 / COLUMNS) * ROW_PX}px`);
  });

  it('moves the rendered window when the operator scrolls, keeping the overscan rows above', async () => {
    const jobs = jobsOf(500);
    const w = track(mount(BatchGrid, { props: { jobs }, global: { plugins: [pinia] } }));
    const grid = w.get('[data-test="batch-grid"]');
    const scrolledRows = 50;
    (grid.element as HTMLElement).scrollTop = scrolledRows * ROW_PX;
    await grid.trigger('scroll');
    const ids = unitIds(w);
    const firstRow = scrolledRows - OVERSCAN_ROWS;
    expect(ids[0]).toBe(`sim:ymodem:${firstRow * COLUMNS}`);
    expect(ids).toContain(`sim:ymodem:${scrolledRows * COLUMNS}`);
    expect(ids).not.toContain('sim:ymodem:0');
    expect(w.get('.tiles').attributes('style')).toContain(`translateY(${firstRow * ROW_PX}px)`);
  });

  it('re-renders a tile in place when its job changes (keyed by job id)', async () => {
    const jobs = jobsOf(8, 'queued');
    const w = track(mount(BatchGrid, { props: { jobs }, global: { plugins: [pinia] } }));
    const before = w.get('[data-unit="sim:ymodem:3"]').element;
    const next = jobs.slice();
    next[3] = makeJob(3, 'passed', { progressBytes: 1000, confirmed: { crc32: 'aabbccdd' } });
    await w.setProps({ jobs: next });
    const after = w.get('[data-unit="sim:ymodem:3"]');
    expect(after.element).toBe(before);
    expect(after.attributes('data-state')).toBe('passed');
    expect(w.get('[data-unit="sim:ymodem:2"]').attributes('data-state')).toBe('queued');
  });

  it('forwards a tile’s intents with the job id', async () => {
    const w = track(mount(BatchGrid, { props: { jobs: [makeJob(1, 'transferring'), makeJob(2, 'failed', { result: 'timeout' })] }, global: { plugins: [pinia] } }));
    await w.get('[data-unit="sim:ymodem:1"] [data-test="cancel-job"]').trigger('click');
    await w.get('[data-unit="sim:ymodem:2"] [data-test="retry-job"]').trigger('click');
    await w.get('[data-unit="sim:ymodem:2"] [data-test="open-detail"]').trigger('click');
    expect(w.emitted('cancel')).toEqual([['B1-0001']]);
    expect(w.emitted('retry')).toEqual([['B1-0002']]);
    expect(w.emitted('open')).toEqual([['B1-0002']]);
  });
});

describe('BatchScreen filters over the live store', () => {
  async function screenWith(jobs: JobView[]) {
    const store = useBatchStore();
    store.open('B1');
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 1, batch: makeBatch(jobs), jobs });
    const w = track(mount(BatchScreen, { global: { plugins: [pinia] } }));
    await flushPromises();
    return { w, store };
  }

  it('shows counters from the batch and narrows the grid by state bucket and by search text', async () => {
    const jobs = [makeJob(1, 'passed'), makeJob(2, 'failed', { result: 'crc_mismatch', errorCode: 'PROTOCOL_CRC_MISMATCH' }), makeJob(3, 'transferring'), makeJob(4, 'failed', { result: 'timeout' }), makeJob(5, 'queued'), makeJob(6, 'negotiating')];
    const { w } = await screenWith(jobs);
    expect(w.get('[data-test="count-failed"] .n').text()).toBe('2');
    expect(w.get('[data-test="count-running"] .n').text()).toBe('2');
    const sum = ['running', 'retrying', 'queued', 'paused', 'passed', 'failed', 'skipped', 'cancelled', 'interrupted'].reduce((a, k) => a + Number(w.get(`[data-test="count-${k}"] .n`).text()), 0);
    expect(sum).toBe(Number(w.get('[data-test="count-total"] .n').text()));
    expect(w.findAll('[data-test="unit-cell"]')).toHaveLength(6);

    await w.get('[data-test="filter-failed"]').trigger('click');
    expect(unitIds(w)).toEqual(['sim:ymodem:2', 'sim:ymodem:4']);
    await w.get('[data-test="filter-running"]').trigger('click');
    expect(unitIds(w)).toEqual(['sim:ymodem:3', 'sim:ymodem:6']);

    await w.get('[data-test="filter-all"]').trigger('click');
    await w.get('[data-test="grid-search"]').setValue('sn5');
    expect(unitIds(w)).toEqual(['sim:ymodem:5']);
    await w.get('[data-test="grid-search"]').setValue('no-such-unit');
    expect(w.findAll('[data-test="unit-cell"]')).toHaveLength(0);
    expect(w.text()).toContain('No unit matches the filter.');
  });

  it('follows deltas: a tile changes state and the filter picks it up', async () => {
    const { w } = await screenWith([makeJob(1, 'transferring'), makeJob(2, 'transferring')]);
    await w.get('[data-test="filter-failed"]').trigger('click');
    expect(w.findAll('[data-test="unit-cell"]')).toHaveLength(0);
    fake.push({ type: 'delta', batchId: 'B1', rev: 2, jobs: [makeJob(2, 'failed', { result: 'disconnected' })] });
    await flushPromises();
    expect(unitIds(w)).toEqual(['sim:ymodem:2']);
  });
});

describe('UnitCell', () => {
  it('shows identity, one verdict, progress, rate and ETA while transferring', () => {
    const job = makeJob(7, 'transferring', { progressBytes: 500, totalBytes: 1000, rateBytesPerSec: 2500, attempts: 2, unit: { unitId: 'serial:/dev/ttyUSB3', transport: 'serial', protocol: 'ymodem', address: '/dev/ttyUSB3', name: 'bench 3', serialNumber: 'SN-777' } });
    const w = track(mount(UnitCell, { props: { job, batchState: 'running' }, global: { plugins: [pinia] } }));
    expect(w.get('.name').text()).toBe('bench 3');
    expect(w.get('.sn').text()).toBe('SN-777');
    expect(w.get('[data-test="unit-state"]').text()).toBe('Transferring · attempt 2');
    expect(w.get('[role="progressbar"]').attributes('aria-valuenow')).toBe('50');
    const live = w.get('[data-test="unit-live"]').text();
    expect(live).toContain('50%');
    expect(live).toContain('2.5 kB/s');
    expect(live).toContain('ETA 0:01');
    expect(w.find('[data-test="hash-mark"]').exists()).toBe(false);
    // codes and hashes are in the detail panel, not on the tile
    expect(w.text()).not.toContain('aabbccdd');
  });

  it('shows a paused batch’s waiting units as paused: no rate, no ETA', () => {
    const queued = track(mount(UnitCell, { props: { job: makeJob(1, 'queued'), batchState: 'paused' }, global: { plugins: [pinia] } }));
    expect(queued.get('[data-test="unit-state"]').text()).toBe('Paused');
    expect(queued.get('[data-test="unit-cell"]').attributes('data-shown')).toBe('paused');
    const retrying = track(mount(UnitCell, { props: { job: makeJob(2, 'backoff', { rateBytesPerSec: 3000, progressBytes: 100 }), batchState: 'paused' }, global: { plugins: [pinia] } }));
    expect(retrying.get('[data-test="unit-state"]').text()).toBe('Paused');
    expect(retrying.find('[data-test="unit-rate"]').exists()).toBe(false);
    expect(retrying.find('[data-test="unit-eta"]').exists()).toBe(false);
  });

  it('says "no progress for N min" instead of a frozen ETA', () => {
    const job = makeJob(3, 'transferring', { progressBytes: 100, rateBytesPerSec: 2000 });
    const w = track(mount(UnitCell, { props: { job, batchState: 'running', stalledMin: 3 }, global: { plugins: [pinia] } }));
    expect(w.get('[data-test="unit-stalled"]').text()).toBe('No progress for 3 min');
    expect(w.find('[data-test="unit-eta"]').exists()).toBe(false);
    expect(w.find('[data-test="unit-rate"]').exists()).toBe(false);
  });

  it('names what the device confirmed on a passed unit, and never shows a match mark on a failed one', () => {
    const passed = track(mount(UnitCell, { props: { job: makeJob(1, 'passed', { progressBytes: 1000, result: 'ok', confirmed: { crc32: 'aabbccdd', confirmedBy: ['device-crc32', 'version-after-reboot'] } }) }, global: { plugins: [pinia] } }));
    expect(passed.get('[data-test="hash-mark"]').text()).toBe('✔ device CRC32 matches · version after reboot');
    expect(passed.find('[data-test="retry-job"]').exists()).toBe(false);
    expect(passed.find('[data-test="cancel-job"]').exists()).toBe(false);
    // A failed unit whose device CRC equals what was sent (it failed later) shows no green mark.
    const failed = track(mount(UnitCell, { props: { job: makeJob(2, 'failed', { result: 'version_mismatch', confirmed: { crc32: 'aabbccdd', confirmedBy: ['device-crc32'] } }) }, global: { plugins: [pinia] } }));
    expect(failed.find('[data-test="hash-mark"]').exists()).toBe(false);
    expect(failed.find('.ok').exists()).toBe(false);
  });

  it('offers retry on a failed unit with its next step, and hides commands when read-only', async () => {
    const job = makeJob(4, 'failed', { result: 'timeout', errorCode: 'LINK_TIMEOUT' });
    const w = track(mount(UnitCell, { props: { job }, global: { plugins: [pinia] } }));
    await w.get('[data-test="retry-job"]').trigger('click');
    await w.get('[data-test="unit-cell"]').trigger('keydown', { key: 'Enter' });
    expect(w.emitted('retry')).toEqual([['B1-0004']]);
    expect(w.emitted('open')).toEqual([['B1-0004']]);
    await flushPromises();
    expect(w.get('[data-test="error-next"]').text()).toBe('Move LINK_TIMEOUT closer and retry');
    // one Tab stop per tile: the buttons are reached by mouse or from the detail panel
    expect(w.findAll('button').every((b) => b.attributes('tabindex') === '-1')).toBe(true);
    const ro = track(mount(UnitCell, { props: { job, readOnly: true }, global: { plugins: [pinia] } }));
    expect(ro.find('[data-test="retry-job"]').exists()).toBe(false);
    expect(ro.find('[data-test="open-detail"]').exists()).toBe(true);
  });

  it('shows its labels in zh-CN, with the attempt in Chinese word order', () => {
    useStationStore().lang = 'zh-CN';
    const w = track(mount(UnitCell, { props: { job: makeJob(1, 'passed', { attempts: 2, confirmed: { crc32: 'aabbccdd', confirmedBy: ['device-crc32'] } }) }, global: { plugins: [pinia] } }));
    expect(w.get('[data-test="unit-state"]').text()).toBe('通过 · 第 2 次尝试');
    expect(w.get('[data-test="hash-mark"]').text()).toBe('✔ 设备 CRC32 一致');
    expect(w.get('[data-test="open-detail"]').text()).toBe('详情');
  });
});

describe('ErrorBadge', () => {
  it('asks the station for the code’s operator text and shows it in en, then zh-CN', async () => {
    const station = useStationStore();
    const w = track(mount(ErrorBadge, { props: { code: 'LINK_TIMEOUT', result: 'timeout' }, global: { plugins: [pinia] } }));
    expect(w.get('[data-test="error-code"]').text()).toBe('timeout · LINK_TIMEOUT');
    await flushPromises();
    expect(w.get('[data-test="error-next"]').text()).toBe('Move LINK_TIMEOUT closer and retry');
    station.lang = 'zh-CN';
    await flushPromises();
    expect(w.get('[data-test="error-next"]').text()).toBe('请将设备 LINK_TIMEOUT 靠近后重试');
    expect(fake.calls.filter((c) => c.method === 'errorTexts')).toEqual([{ method: 'errorTexts', req: { codes: ['LINK_TIMEOUT'] } }]);
  });

  it('falls back to the result code’s text when there is no station code', async () => {
    const station = useStationStore();
    fake.answer('stationInfo', () => ({ ok: true, value: { stationId: 'st-1', operator: 'op', language: 'zh-CN', browserMode: true, protocols: ['ymodem'], simProtocols: ['ymodem'], simBehaviours: ['accept'], resultText: RESULT_TEXT, interruptedBatchIds: [] } }));
    await station.load();
    const w = track(mount(ErrorBadge, { props: { result: 'policy_blocked' }, global: { plugins: [pinia] } }));
    expect(w.get('[data-test="error-next"]').text()).toBe('中文 结果 policy_blocked');
    station.lang = 'en';
    await flushPromises();
    expect(w.get('[data-test="error-next"]').text()).toBe('EN result policy_blocked');
    expect(w.get('[data-test="error-code"]').text()).toBe('policy_blocked');
    expect(fake.calls.some((c) => c.method === 'errorTexts')).toBe(false);
  });
});

describe('PlanScreen barcode-scanner flow', () => {
  it('binds a scanned serial number on Enter and moves focus to the next unit', async () => {
    fake.answer('resolveTargets', (req) => ({
      ok: true,
      value: req.targets.flatMap((t) => Array.from({ length: Number(t.split(':')[2]) }, (_, i) => ({ unitId: `sim:ymodem:${i}`, transport: 'sim' as const, protocol: 'ymodem' as const, address: `ymodem:${i}` }))),
    }));
    const plan = usePlanStore();
    expect(await plan.addSim('ymodem', 3, 'accept')).toBe(true);
    const w = track(mount(PlanScreen, { global: { plugins: [pinia] }, attachTo: document.body }));
    await flushPromises();
    const inputs = w.findAll<HTMLInputElement>('[data-test="plan-units"] tbody input');
    expect(inputs).toHaveLength(3);

    // A scanner types the code into the focused field and sends Enter.
    inputs[0]!.element.focus();
    await inputs[0]!.setValue('SN-0001');
    await inputs[0]!.trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(plan.serialNumbers['sim:ymodem:0']).toBe('SN-0001');
    expect(document.activeElement).toBe(inputs[1]!.element);

    inputs[1]!.element.value = '  SN-0002 ';
    await inputs[1]!.trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(plan.serialNumbers['sim:ymodem:1']).toBe('SN-0002');
    expect(document.activeElement).toBe(inputs[2]!.element);

    // The bound numbers travel with the units into the batch.
    expect(plan.boundUnits.map((u) => u.serialNumber)).toEqual(['SN-0001', 'SN-0002', undefined]);
  });
});
