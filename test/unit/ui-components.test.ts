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
// 300×196 px tiles with a 10 px gap → 4 columns, 4 rows in view + 1 overscan row below.
const COLUMNS = 4;
const ROW_PX = 206;
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
  it('shows identity, state, progress, rate and ETA while transferring', () => {
    const job = makeJob(7, 'transferring', { progressBytes: 500, totalBytes: 1000, rateBytesPerSec: 2500, attempts: 2, unit: { unitId: 'serial:/dev/ttyUSB3', transport: 'serial', protocol: 'ymodem', address: '/dev/ttyUSB3', name: 'bench 3', serialNumber: 'SN-777' } });
    const w = track(mount(UnitCell, { props: { job }, global: { plugins: [pinia] } }));
    expect(w.get('.name').text()).toBe('bench 3');
    expect(w.get('.sn').text()).toBe('SN-777');
    expect(w.get('.addr').text()).toBe('/dev/ttyUSB3 · serial · ymodem');
    expect(w.get('[data-test="unit-state"]').text()).toBe('Transferring · attempt 2');
    expect(w.get('[role="progressbar"]').attributes('aria-valuenow')).toBe('50');
    expect(w.get('.rate').text()).toContain('50%');
    expect(w.get('.rate').text()).toContain('2.5 kB/s');
    expect(w.get('.rate').text()).toContain('ETA 0:01');
    expect(w.find('[data-test="hash-mark"]').exists()).toBe(false);
    expect(w.find('[data-test="error-badge"]').exists()).toBe(false);
  });

  it('marks a device-confirmed CRC32 that matches what was sent', () => {
    const job = makeJob(1, 'passed', { progressBytes: 1000, result: 'ok', confirmed: { crc32: 'aabbccdd', md5: '0123456789abcdef0123456789abcdef' } });
    const w = track(mount(UnitCell, { props: { job }, global: { plugins: [pinia] } }));
    const mark = w.get('[data-test="hash-mark"]');
    expect(mark.classes()).toContain('ok');
    expect(mark.text()).toBe('✔ match');
    expect(w.get('.hash').text()).toContain('aabbccdd → aabbccdd');
    expect(w.find('[data-test="retry-job"]').exists()).toBe(false);
    expect(w.find('[data-test="cancel-job"]').exists()).toBe(false);
  });

  it('marks a mismatch of CRC32 or of MD5 alone', () => {
    const crc = track(mount(UnitCell, { props: { job: makeJob(1, 'failed', { result: 'crc_mismatch', confirmed: { crc32: 'deadbeef' } }) }, global: { plugins: [pinia] } }));
    expect(crc.get('[data-test="hash-mark"]').classes()).toContain('bad');
    expect(crc.get('[data-test="hash-mark"]').text()).toBe('✘ MISMATCH');
    const md5 = track(mount(UnitCell, { props: { job: makeJob(2, 'failed', { result: 'md5_mismatch', confirmed: { crc32: 'aabbccdd', md5: 'ffffffffffffffffffffffffffffffff' } }) }, global: { plugins: [pinia] } }));
    expect(md5.get('[data-test="hash-mark"]').classes()).toContain('bad');
  });

  it('offers retry on a failed unit and hides commands when read-only', async () => {
    const job = makeJob(4, 'failed', { result: 'timeout', errorCode: 'LINK_TIMEOUT' });
    const w = track(mount(UnitCell, { props: { job }, global: { plugins: [pinia] } }));
    await w.get('[data-test="retry-job"]').trigger('click');
    await w.get('[data-test="unit-cell"]').trigger('keydown', { key: 'Enter' });
    expect(w.emitted('retry')).toEqual([['B1-0004']]);
    expect(w.emitted('open')).toEqual([['B1-0004']]);
    expect(w.get('[data-test="error-code"]').text()).toBe('timeout · LINK_TIMEOUT');
    const ro = track(mount(UnitCell, { props: { job, readOnly: true }, global: { plugins: [pinia] } }));
    expect(ro.find('[data-test="retry-job"]').exists()).toBe(false);
    expect(ro.find('[data-test="open-detail"]').exists()).toBe(true);
  });

  it('shows its labels in zh-CN', () => {
    useStationStore().lang = 'zh-CN';
    const w = track(mount(UnitCell, { props: { job: makeJob(1, 'passed', { confirmed: { crc32: 'deadbeef' } }) }, global: { plugins: [pinia] } }));
    expect(w.get('[data-test="unit-state"]').text()).toBe('通过');
    expect(w.get('[data-test="hash-mark"]').text()).toBe('✘ 不一致');
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
