// @vitest-environment happy-dom
/**
 * The RMA screen's store and view with the real Pinia stores and a fake bridge: the form's
 * required fields (ticket first), the request it sends, steps polled until the end, the batch
 * events followed for progress, the result with its code and next step in en and zh-CN, the
 * links to unit detail and report, and past RMA jobs by ticket.
 */
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Component } from 'vue';
import type { JobView, PackageInfo } from '../../main/contract/dto.js';
import type { RmaRunView, RmaStepView } from '../../main/contract/ipc.js';
import { installBridge } from '../../renderer/bridge.js';
import { useBatchStore } from '../../renderer/stores/batch.js';
import { useDetailStore } from '../../renderer/stores/detail.js';
import { RMA_POLL_MS, rmaFormProblems, rmaRequestOf, useRmaStore } from '../../renderer/stores/rma.js';
import { useStationStore } from '../../renderer/stores/station.js';
import { useUiStore } from '../../renderer/stores/ui.js';
import { createFakeBridge, makeBatch, makeJob, type FakeBridge } from './ui-fake-bridge.js';

async function sfc(rel: string): Promise<Component> {
  return ((await import(/* @vite-ignore */ new URL(rel, import.meta.url).href)) as { default: Component }).default;
}
const RmaScreen = await sfc('../../renderer/views/RmaScreen.vue');

const PKG: PackageInfo = { id: 'gold-1', sourcePath: '/pk/g.bin', format: 'bin', components: [{ component: 'app', version: '2.0.0', kind: 'full', fileName: 'g.bin', sizeBytes: 1000, crc32: 'aabbccdd', md5: '', sha256: '' }], signature: 'none', loadedAt: '2024-01-01T00:00:00Z' };
const step = (seq: number, s: Omit<RmaStepView, 'seq' | 'atMs'>): RmaStepView => ({ seq, atMs: seq * 100, ...s });
const STEPS: RmaStepView[] = [
  step(1, { step: 'probe', status: 'start', text: 'probing /dev/pts/7 @ 115200' }),
  step(2, { step: 'probe', status: 'ok', text: 'ymodem: a bootloader is requesting a file (C)' }),
  step(3, { step: 'identify', status: 'ok', text: 'application dead, only the serial bootloader answers; recovering over ymodem' }),
  step(4, { step: 'flash', status: 'start', text: 'golden image app 2.0.0' }),
  step(5, { step: 'flash', status: 'progress', text: 'transferring' }),
];
const rmaJob = (state: JobView['state'], extra: Partial<JobView> = {}) =>
  makeJob(1, state, { unit: { unitId: 'serial:/dev/pts/7', transport: 'serial', protocol: 'ymodem', address: '/dev/pts/7', name: 'RMA T-1' }, rmaTicket: 'T-1', technician: 'wang', ...extra });
const run = (extra: Partial<RmaRunView>): RmaRunView => ({ recoveryId: 'R1', ticket: 'T-1', technician: 'wang', port: '/dev/pts/7', packageId: 'gold-1', state: 'running', steps: [], ...extra });

let fake: FakeBridge;
const mounted: VueWrapper[] = [];
beforeEach(() => {
  setActivePinia(createPinia());
  fake = createFakeBridge();
  installBridge(fake);
  fake.answer('listPackages', () => ({ ok: true, value: [PKG] }));
  fake.answer('scanUnits', () => ({ ok: true, value: { serial: [{ path: '/dev/ttyUSB0', manufacturer: 'FTDI' }], ble: { state: 'unsupported' } } }));
  fake.answer('listRmaJobs', () => ({ ok: true, value: [] }));
  fake.answer('errorTexts', (req) => ({ ok: true, value: Object.fromEntries(req.codes.map((c) => [c, { en: `EN next step for ${c}`, 'zh-CN': `中文下一步 ${c}` }])) }));
});
afterEach(() => {
  for (const w of mounted.splice(0)) w.unmount();
  vi.useRealTimers();
});

/** A station that runs the recovery through the given views, one per rmaStatus call. */
function scriptRecovery(views: RmaRunView[]): void {
  fake.answer('recoverUnit', () => ({ ok: true, value: run({ steps: STEPS.slice(0, 1) }) }));
  let i = 0;
  fake.answer('rmaStatus', () => ({ ok: true, value: views[Math.min(i++, views.length - 1)]! }));
  fake.answer('rmaDetail', () => ({
    ok: true,
    value: { job: rmaJob('passed'), ticket: 'T-1', technician: 'wang', probe: { protocol: 'ymodem', evidence: 'C', bootloaderOnly: true }, rawTrace: [{ tMs: 0.5, dir: 'rx', hex: '43' }, { tMs: 1, dir: 'tx', hex: '01' + '00ff' }], reportRow: { rma_ticket: 'T-1', technician: 'wang', result: 'ok', row_hash: 'x' } },
  }));
}

describe('rma store', () => {
  it('the form needs port, package, ticket and technician; the request is trimmed', () => {
    const f = { port: ' ', baudRate: 115200, packageId: '', ticket: '  ', technician: '', protocol: '' as const };
    expect(rmaFormProblems(f)).toEqual({ port: 'portRequired', packageId: 'packageRequired', ticket: 'ticketRequired', technician: 'technicianRequired' });
    expect(rmaFormProblems({ ...f, port: '/dev/x', packageId: 'p', ticket: 'T', technician: 'w', baudRate: 12.5 })).toEqual({ baudRate: 'baudInvalid' });
    expect(rmaRequestOf({ port: ' /dev/x ', baudRate: 9600, packageId: 'p', ticket: ' T-9 ', technician: ' w ', protocol: '' })).toEqual({ port: '/dev/x', baudRate: 9600, packageId: 'p', ticket: 'T-9', technician: 'w' });
    expect(rmaRequestOf({ port: '/dev/x', baudRate: 9600, packageId: 'p', ticket: 'T', technician: 'w', protocol: 'ymodem' }).protocol).toBe('ymodem');
  });

  it('does not call the station without a ticket; then polls steps, follows the batch, and loads the record at the end', async () => {
    vi.useFakeTimers();
    const rma = useRmaStore();
    Object.assign(rma.form, { port: '/dev/pts/7', packageId: 'gold-1', technician: 'wang' });
    expect(await rma.start()).toBe(false);
    expect(fake.calls.some((c) => c.method === 'recoverUnit')).toBe(false);

    rma.form.ticket = 'T-1';
    scriptRecovery([
      run({ steps: STEPS.slice(0, 3) }),
      run({ steps: STEPS, batchId: 'B1', jobId: 'B1-0001' }),
      run({ steps: [...STEPS, step(6, { step: 'flash', status: 'ok', text: 'flashed' }), step(7, { step: 'verify', status: 'ok', text: 'crc ok' }), step(8, { step: 'journal', status: 'ok', text: 'ticket T-1' })], batchId: 'B1', jobId: 'B1-0001', state: 'passed', job: rmaJob('passed', { result: 'ok' }) }),
    ]);
    expect(await rma.start()).toBe(true);
    expect(fake.calls.find((c) => c.method === 'recoverUnit')!.req).toEqual({ port: '/dev/pts/7', baudRate: 115200, packageId: 'gold-1', ticket: 'T-1', technician: 'wang' });
    expect(rma.running).toBe(true);
    expect(rma.run!.steps).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(RMA_POLL_MS);
    expect(rma.run!.steps).toHaveLength(3);
    expect(fake.listeners('B1')).toBe(0);
    await vi.advanceTimersByTimeAsync(RMA_POLL_MS);
    expect(rma.run!.batchId).toBe('B1');
    expect(fake.listeners('B1')).toBe(1); // following the batch events for progress
    fake.push({ type: 'delta', batchId: 'B1', rev: 1, jobs: [rmaJob('transferring', { jobId: 'B1-0001', progressBytes: 500 })] });
    expect(rma.job).toMatchObject({ state: 'transferring', progressBytes: 500 });

    await vi.advanceTimersByTimeAsync(RMA_POLL_MS);
    expect(rma.run!.state).toBe('passed');
    expect(rma.running).toBe(false);
    expect(fake.listeners('B1')).toBe(0); // unsubscribed at the end
    await flushPromises();
    expect(rma.detail?.reportRow).toMatchObject({ rma_ticket: 'T-1' });
    expect(fake.calls.filter((c) => c.method === 'listRmaJobs').at(-1)!.req).toEqual({ ticket: 'T-1' });
    const polls = fake.calls.filter((c) => c.method === 'rmaStatus').length;
    await vi.advanceTimersByTimeAsync(RMA_POLL_MS * 5);
    expect(fake.calls.filter((c) => c.method === 'rmaStatus')).toHaveLength(polls); // polling stopped
  });

  it('a refused start keeps the error for the screen', async () => {
    const rma = useRmaStore();
    Object.assign(rma.form, { port: '/dev/pts/7', packageId: 'gold-1', technician: 'wang', ticket: 'T-2' });
    fake.answer('recoverUnit', () => ({ ok: false, error: { code: 'PORT_BUSY', result: 'station_error', message: 'busy', operatorText: { en: 'busy', 'zh-CN': '忙' }, retryable: true } }));
    expect(await rma.start()).toBe(false);
    expect(rma.error?.code).toBe('PORT_BUSY');
    expect(rma.run).toBeNull();
  });
});

describe('RmaScreen', () => {
  async function mountScreen(): Promise<VueWrapper> {
    const station = useStationStore();
    station.info = { stationId: 'st-1', operator: 'wang', language: 'en', browserMode: true, protocols: ['ymodem'], simProtocols: ['ymodem'], simBehaviours: ['accept'], resultText: { device_error: { en: 'EN device error', 'zh-CN': '中文 设备错误' } } as never, interruptedBatchIds: [] };
    const w = mount(RmaScreen, { attachTo: document.body });
    mounted.push(w);
    await flushPromises();
    return w;
  }

  it('lists scanned ports, picks the package, fills the technician, and refuses to start without a ticket', async () => {
    const w = await mountScreen();
    expect(w.find('[data-test="rma-ports-found"]').text()).toContain('1 ports found');
    expect(w.findAll('#rma-ports option').map((o) => o.attributes('value'))).toEqual(['/dev/ttyUSB0']);
    expect((w.find('[data-test="rma-package"]').element as HTMLSelectElement).value).toBe('gold-1');
    expect((w.find('[data-test="rma-technician"]').element as HTMLInputElement).value).toBe('wang');
    await w.find('[data-test="rma-port"]').setValue('/tmp/pty/host'); // typed: PTYs are never listed
    await w.find('[data-test="rma-form"]').trigger('submit');
    await flushPromises();
    expect(w.find('[data-test="rma-invalid-ticket"]').text()).toBe('The RMA ticket number is required.');
    expect(fake.calls.some((c) => c.method === 'recoverUnit')).toBe(false);
  });

  it('shows every step as it arrives, then the result with code and next step, and links to detail and report', async () => {
    vi.useFakeTimers();
    const failedJob = rmaJob('failed', { jobId: 'B1-0001', result: 'device_error', errorCode: 'PROTOCOL_CANCELLED_BY_DEVICE', versionBefore: '1.0.0' });
    scriptRecovery([
      run({ steps: STEPS.slice(0, 3) }),
      run({ steps: [...STEPS, step(6, { step: 'flash', status: 'failed', text: 'PROTOCOL_CANCELLED_BY_DEVICE' })], batchId: 'B1', jobId: 'B1-0001', state: 'failed', probe: { protocol: 'ymodem', evidence: 'C', bootloaderOnly: true }, job: failedJob, error: { code: 'PROTOCOL_CANCELLED_BY_DEVICE', result: 'device_error', message: 'device sent CAN CAN', operatorText: { en: 'x', 'zh-CN': 'y' }, retryable: false } }),
    ]);
    fake.answer('getBatch', () => ({ ok: true, value: { batch: makeBatch([failedJob]), jobs: [failedJob] } }));
    fake.answer('jobDetail', () => ({ ok: true, value: { transitions: [], trace: [] } }));
    const w = await mountScreen();
    await w.find('[data-test="rma-port"]').setValue('/dev/pts/7');
    await w.find('[data-test="rma-ticket"]').setValue('T-1');
    await w.find('[data-test="rma-form"]').trigger('submit');
    await flushPromises();
    expect(w.findAll('[data-test="rma-step"]')).toHaveLength(1);
    expect(w.find('[data-test="rma-start"]').text()).toBe('Recovering…');
    await vi.advanceTimersByTimeAsync(RMA_POLL_MS);
    const shown = w.findAll('[data-test="rma-step"]');
    expect(shown.map((s) => s.attributes('data-step'))).toEqual(['probe', 'probe', 'identify']);
    expect(shown[2]!.text()).toContain('Identify');
    expect(shown[2]!.text()).toContain('application dead, only the serial bootloader answers');
    expect(w.find('[data-test="rma-result"]').exists()).toBe(false);

    await vi.advanceTimersByTimeAsync(RMA_POLL_MS);
    await flushPromises();
    expect(w.findAll('[data-test="rma-step"]').at(-1)!.attributes('data-status')).toBe('failed');
    const result = w.find('[data-test="rma-result"]');
    expect(result.attributes('data-state')).toBe('failed');
    expect(result.text()).toContain('Not recovered.');
    expect(result.find('[data-test="error-code"]').text()).toBe('device_error · PROTOCOL_CANCELLED_BY_DEVICE');
    expect(result.find('[data-test="error-next"]').text()).toBe('EN next step for PROTOCOL_CANCELLED_BY_DEVICE');
    expect(w.find('[data-test="rma-versions"]').text()).toBe('1.0.0 → ?');
    expect(w.find('[data-test="rma-raw-trace"]').findAll('tr')).toHaveLength(2);
    expect((w.find('[data-test="rma-raw-text"]').element as HTMLTextAreaElement).value).toContain('tx   0100ff');
    expect(w.find('[data-test="rma-report-row"]').text()).toContain('rma_ticket');
    expect(w.find('[data-test="rma-report-row"]').text()).not.toContain('row_hash');

    // zh-CN
    useStationStore().lang = 'zh-CN';
    await flushPromises();
    expect(w.find('[data-test="rma-result"]').text()).toContain('未能恢复。');
    expect(w.find('[data-test="error-next"]').text()).toBe('中文下一步 PROTOCOL_CANCELLED_BY_DEVICE');
    expect(w.findAll('[data-test="rma-step"]')[0]!.text()).toContain('探测');

    // links: unit detail opens on the recovery's job, the report screen on its batch
    await w.find('[data-test="rma-open-detail"]').trigger('click');
    await flushPromises();
    expect(useDetailStore().jobId).toBe('B1-0001');
    expect(useBatchStore().batchId).toBe('B1');
    expect(useBatchStore().readOnly).toBe(true);
    await w.find('[data-test="rma-open-report"]').trigger('click');
    expect(useUiStore().screen).toBe('reports');
  });

  it('searches past RMA jobs by ticket', async () => {
    fake.answer('listRmaJobs', (req) => ({ ok: true, value: req.ticket === 'T-1' ? [rmaJob('passed', { result: 'ok' })] : [] }));
    const w = await mountScreen();
    expect(w.find('[data-test="rma-history"]').exists()).toBe(false);
    await w.find('[data-test="rma-history-search"]').setValue('T-1');
    await w.find('[data-test="rma-history-go"]').trigger('click');
    await flushPromises();
    const rows = w.findAll('[data-test="rma-history-row"]');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.text()).toContain('T-1');
    expect(rows[0]!.text()).toContain('wang');
    expect(fake.calls.filter((c) => c.method === 'listRmaJobs').at(-1)!.req).toEqual({ ticket: 'T-1' });
  });
});
