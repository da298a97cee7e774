// @vitest-environment happy-dom
/**
 * Pinia stores against a fake bridge: revisioned deltas, gap → resnapshot, filters, commands,
 * plan building, operator texts, report download, trace formatting.
 */
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { installBridge } from '../../renderer/bridge.js';
import { bucketOf, useBatchStore } from '../../renderer/stores/batch.js';
import { decodeHex, traceText } from '../../renderer/stores/detail.js';
import { planFromForm, splitList, usePlanStore } from '../../renderer/stores/plan.js';
import { useReportsStore } from '../../renderer/stores/reports.js';
import { useStationStore } from '../../renderer/stores/station.js';
import { translate } from '../../renderer/i18n/index.js';
import { createFakeBridge, makeBatch, makeJob, type FakeBridge } from './ui-fake-bridge.js';

let fake: FakeBridge;
beforeEach(() => {
  setActivePinia(createPinia());
  fake = createFakeBridge();
  installBridge(fake);
});

describe('batch store', () => {
  it('applies a snapshot, then deltas in revision order, replacing only the changed job objects', () => {
    const store = useBatchStore();
    store.open('B1');
    expect(fake.listeners('B1')).toBe(1);
    const jobs = [makeJob(1), makeJob(2), makeJob(3)];
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 4, batch: makeBatch(jobs), jobs });
    expect(store.jobs).toHaveLength(3);
    const untouched = store.jobs[2];
    fake.push({ type: 'delta', batchId: 'B1', rev: 5, jobs: [makeJob(2, 'transferring', { progressBytes: 500 })] });
    expect(store.jobs[1]!.state).toBe('transferring');
    expect(store.jobs[1]!.progressBytes).toBe(500);
    expect(store.jobs[2]).toBe(untouched);
    expect(store.rev).toBe(5);
    // an old delta (already in the snapshot) is ignored
    fake.push({ type: 'delta', batchId: 'B1', rev: 3, jobs: [makeJob(2, 'failed')] });
    expect(store.jobs[1]!.state).toBe('transferring');
    // events of another batch are ignored
    fake.push({ type: 'delta', batchId: 'B2', rev: 6, jobs: [makeJob(2, 'failed')] });
    expect(store.jobs[1]!.state).toBe('transferring');
  });

  it('resubscribes for a fresh snapshot when a delta is missing', () => {
    const store = useBatchStore();
    store.open('B1');
    const jobs = [makeJob(1)];
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 1, batch: makeBatch(jobs), jobs });
    fake.push({ type: 'delta', batchId: 'B1', rev: 3, jobs: [makeJob(1, 'passed')] });
    expect(store.jobs[0]!.state).toBe('queued');
    expect(fake.calls.filter((c) => c.method === 'onBatchEvent')).toHaveLength(2);
    expect(fake.calls.some((c) => c.method === 'unsubscribe')).toBe(true);
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 3, batch: makeBatch([makeJob(1, 'passed')]), jobs: [makeJob(1, 'passed')] });
    expect(store.jobs[0]!.state).toBe('passed');
  });

  it('filters by state bucket and by name, serial number or port', () => {
    const store = useBatchStore();
    store.open('B1');
    const jobs = [makeJob(1, 'passed'), makeJob(2, 'failed'), makeJob(3, 'transferring'), makeJob(4, 'backoff'), makeJob(12, 'queued')];
    fake.push({ type: 'snapshot', batchId: 'B1', rev: 0, batch: makeBatch(jobs), jobs });
    store.filter = 'running';
    expect(store.visibleJobs.map((j) => j.unit.unitId)).toEqual(['sim:ymodem:3', 'sim:ymodem:4']);
    store.filter = 'failed';
    expect(store.visibleJobs).toHaveLength(1);
    store.filter = 'all';
    store.query = 'sn1';
    expect(store.visibleJobs.map((j) => j.unit.serialNumber)).toEqual(['SN1', 'SN12']);
    expect(bucketOf('verifying')).toBe('running');
    expect(bucketOf('interrupted')).toBe('other');
  });

  it('sends commands with the open batch id and keeps the error of a refused one', async () => {
    const store = useBatchStore();
    store.open('B1');
    await store.start();
    await store.retryJob('B1-0002');
    expect(fake.calls.find((c) => c.method === 'startBatch')?.req).toEqual({ batchId: 'B1' });
    expect(fake.calls.find((c) => c.method === 'retryJob')?.req).toEqual({ batchId: 'B1', jobId: 'B1-0002' });
    fake.answer('cancelBatch', () => ({ ok: false, error: { code: 'CONFIG_INVALID', result: 'station_error', message: 'nope', operatorText: { en: 'x', 'zh-CN': 'y' }, retryable: false } }));
    expect(await store.cancelAll()).toBe(false);
    expect(store.lastError?.message).toBe('nope');
  });
});

describe('plan store', () => {
  it('resolves all targets together so virtual unit ids never collide, and binds scanned serial numbers', async () => {
    fake.answer('resolveTargets', (req) => ({
      ok: true,
      value: req.targets.flatMap((t, k) => [{ unitId: `u${k}-${t}`, transport: 'sim' as const, protocol: 'ymodem' as const, address: t, sim: { behaviour: 'accept' as const, initialVersion: '1.0.0' } }]),
    }));
    const plan = usePlanStore();
    await plan.addSim('ymodem', 3, 'accept');
    await plan.addSim('ymodem', 1, 'crc_failure');
    expect(plan.targets).toEqual(['sim:ymodem:3', 'sim:ymodem:1:crc_failure']);
    expect(fake.calls.filter((c) => c.method === 'resolveTargets').at(-1)?.req).toEqual({ targets: ['sim:ymodem:3', 'sim:ymodem:1:crc_failure'] });
    plan.bindSerial(plan.units[0]!.unitId, '  SN-4711 ');
    expect(plan.boundUnits[0]!.serialNumber).toBe('SN-4711');
    expect(plan.boundUnits[0]!.sim?.serialNumber).toBe('SN-4711');
    fake.answer('createBatch', (req) => ({ ok: true, value: makeBatch([], { batchId: `B-${req.units.length}` }) }));
    plan.form.denyText = 'a, b\nc';
    const b = await plan.createBatch('p1');
    expect(b?.batchId).toBe('B-2');
    const sent = fake.calls.find((c) => c.method === 'createBatch')!.req as { plan: { deny: string[] } };
    expect(sent.plan.deny).toEqual(['a', 'b', 'c']);
  });

  it('keeps the station error of a bad target and the previous units', async () => {
    fake.answer('resolveTargets', () => ({ ok: false, error: { code: 'CONFIG_INVALID', result: 'station_error', message: 'target "x": expected KIND', operatorText: { en: '', 'zh-CN': '' }, retryable: false } }));
    const plan = usePlanStore();
    expect(await plan.addTarget('x')).toBe(false);
    expect(plan.targets).toEqual([]);
    expect(plan.error?.message).toMatch(/expected KIND/);
  });

  it('turns the form into a plan', () => {
    const p = planFromForm({ allowText: '', denyText: '', skipIfAtTarget: false, minBatteryPct: 30, minRssiDbm: null, globalConcurrency: 8, perBleAdapter: 4, retries: 2, backoffMs: 250, stopAfterFailures: 5, keepSimState: false });
    expect(p).toEqual({ versionGate: { skipIfAtTarget: false }, policy: { minBatteryPct: 30 }, concurrency: { global: 8, perBleAdapter: 4 }, retry: { maxAttempts: 3, backoffMs: 250, backoffMaxMs: 5000 }, stopTheLine: { consecutiveFailures: 5 } });
    expect(splitList(' a;b ,, c ')).toEqual(['a', 'b', 'c']);
  });
});

describe('station store and i18n', () => {
  it('asks the station once per error code and answers in the current language', async () => {
    fake.answer('errorTexts', (req) => ({ ok: true, value: Object.fromEntries(req.codes.map((c) => [c, { en: `en ${c}`, 'zh-CN': `zh ${c}` }])) }));
    const station = useStationStore();
    expect(station.operatorText('REBOOT_TIMEOUT')).toBe('');
    expect(station.operatorText('REBOOT_TIMEOUT')).toBe('');
    await new Promise((r) => setTimeout(r, 0));
    expect(fake.calls.filter((c) => c.method === 'errorTexts')).toHaveLength(1);
    expect(station.operatorText('REBOOT_TIMEOUT')).toBe('en REBOOT_TIMEOUT');
    station.setLang('zh-CN');
    expect(station.operatorText('REBOOT_TIMEOUT')).toBe('zh REBOOT_TIMEOUT');
    expect(fake.calls.find((c) => c.method === 'setSettings')?.req).toEqual({ language: 'zh-CN' });
  });

  it('translates with fallback to English and then the key', () => {
    expect(translate('zh-CN', 'state.failed')).toBe('失败');
    expect(translate('en', 'state.failed')).toBe('Failed');
    expect(translate('zh-CN', 'no.such.key')).toBe('no.such.key');
  });
});

describe('reports store and trace text', () => {
  it('downloads the content in browser mode and records a desktop save', async () => {
    const got: string[] = [];
    const reports = useReportsStore();
    reports.setDownloader((name, mime, content) => got.push(`${name}|${mime}|${content}`));
    fake.answer('exportReport', (req) => ({ ok: true, value: { fileName: `${req.batchId}.csv`, mime: 'text/csv', content: 'row,unit_id\n' } }));
    await reports.exportReport('B1', 'csv');
    expect(got).toEqual(['B1.csv|text/csv|row,unit_id\n']);
    fake.answer('exportReport', () => ({ ok: true, value: { fileName: 'B1.pdf', mime: 'application/pdf', savedPath: '/home/qa/B1.pdf' } }));
    await reports.exportReport('B1', 'pdf');
    expect(got).toHaveLength(1);
    expect(reports.last?.savedPath).toBe('/home/qa/B1.pdf');
  });

  it('formats a trace with hex and printable text', () => {
    expect(decodeHex('43410a7f')).toBe('CA..');
    const text = traceText('J1', [{ attempt: 1, lines: [{ tMs: 5, dir: 'tx', hex: '0143' }, { tMs: 9, dir: 'note', text: 'timeout' }] }]);
    expect(text).toContain('## attempt 1');
    expect(text).toContain('tx   01 43  |.C|');
    expect(text).toContain('note   timeout');
  });
});
