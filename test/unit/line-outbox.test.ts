/**
 * The outbox triggers are generic: every journal table (including ones and columns added later,
 * e.g. an audit table or hash-chain columns) lands in line_outbox with its row as JSON, a BLOB
 * column never breaks a journal write, and MES result events fire once per final result.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { BatchView, JobView } from '../../main/contract/dto.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { Outbox } from '../../main/engine/line/outbox.js';
import { checkLineOptions, loadLineOptions } from '../../main/engine/line/line.js';

function tmpJournal(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-outbox-')), 'journal.sqlite');
}

const batch: BatchView = {
  batchId: 'B1', state: 'created', operator: 'qa', stationId: 'st-1', createdAt: '2026-12-01T00:00:00.000Z',
  packageInfo: { id: 'p', components: [] } as unknown as BatchView['packageInfo'], plan: {} as BatchView['plan'],
  counts: { total: 1, queued: 1, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 },
};
const job: JobView = {
  jobId: 'B1-0001', batchId: 'B1', unit: { unitId: 'sim:ymodem:1', transport: 'sim', protocol: 'ymodem', address: 'ymodem:1', serialNumber: 'SN1' },
  state: 'queued', progressBytes: 0, totalBytes: 10, attempts: 0, sent: { crc32: 'aa' }, confirmed: {}, resumable: false,
};

describe('line outbox', () => {
  it('ships every table and column, also ones added after the journal was made; the newest version of a row replaces the older', () => {
    const file = tmpJournal();
    const j = Journal.open(file);
    // What other features add to the journal: a column on jobs, a new table, a BLOB.
    const raw = new Database(file);
    raw.exec("ALTER TABLE jobs ADD COLUMN row_hash TEXT; CREATE TABLE audit (id INTEGER PRIMARY KEY, at TEXT, what TEXT, sig BLOB);");
    const ob = Outbox.open(file, { stationId: 'st-1', line: true, mes: false });
    j.createBatch(batch, [job]);
    raw.prepare("UPDATE jobs SET row_hash = 'h1' WHERE id = 'B1-0001'").run();
    raw.prepare("INSERT INTO audit (at, what, sig) VALUES ('t', 'login', x'00ff')").run();
    j.recordTransition({ ...job, state: 'connecting', attempts: 1 }, 'queued');
    j.startAttempt(job.jobId, 1, 0);
    const rows = ob.lineRows(100);
    const byTable = (t: string) => rows.filter((r) => r.table === t);
    expect(byTable('batches')).toHaveLength(1);
    expect(byTable('jobs')).toHaveLength(1); // three writes, one row waiting: the newest
    const jobRow = JSON.parse(byTable('jobs')[0]!.rowJson);
    expect(jobRow).toMatchObject({ id: 'B1-0001', state: 'connecting', row_hash: 'h1', serial_number: 'SN1' });
    expect(byTable('transitions')[0]).toMatchObject({ rowKey: '["B1-0001",1]', batchId: 'B1', stationId: 'st-1' });
    expect(byTable('attempts')[0]!.batchId).toBe('B1');
    expect(JSON.parse(byTable('audit')[0]!.rowJson)).toMatchObject({ what: 'login', sig: '00FF' });
    // In outbox order, the job's newest version comes after its transition's batch row.
    expect(rows.map((r) => r.seq)).toEqual([...rows.map((r) => r.seq)].sort((a, b) => a - b));
    ob.dropLine(rows.map((r) => r.seq));
    expect(ob.lineWaiting()).toBe(0);
    ob.close();
    raw.close();
    j.close();
  });

  it('a journal that already has history is backfilled once when the station joins a line', () => {
    const file = tmpJournal();
    const j = Journal.open(file);
    j.createBatch(batch, [job]);
    let ob = Outbox.open(file, { stationId: 'st-1', line: true, mes: false });
    // The batch, its job, the batch's first chained state and the journal's chain head.
    expect(ob.lineRows(10).map((r) => r.table).sort()).toEqual(['batch_states', 'batches', 'chain_head', 'jobs']);
    expect(ob.lineWaiting()).toBe(4);
    ob.dropLine(ob.lineRows(10).map((r) => r.seq));
    ob.close();
    ob = Outbox.open(file, { stationId: 'st-1', line: true, mes: false });
    expect(ob.lineWaiting()).toBe(0);
    // Switched off: no trigger left, nothing queues.
    Outbox.open(file, { stationId: 'st-1', line: false, mes: false }).close();
    j.recordTransition({ ...job, state: 'connecting', attempts: 1 }, 'queued');
    expect(ob.lineWaiting()).toBe(0);
    ob.close();
    j.close();
  });

  it('MES events: one per final result (a retried unit gets a new id), one per finished batch, none for progress', () => {
    const file = tmpJournal();
    const j = Journal.open(file);
    const ob = Outbox.open(file, { stationId: 'st-1', line: false, mes: true });
    j.createBatch(batch, [job, { ...job, jobId: 'B1-0002', state: 'skipped' }]);
    j.recordTransition({ ...job, state: 'connecting', attempts: 1 }, 'queued');
    j.saveProgress(job.jobId, 5);
    j.recordTransition({ ...job, state: 'failed', attempts: 1, result: 'timeout' }, 'connecting');
    j.recordTransition({ ...job, state: 'queued', attempts: 1 }, 'failed');
    j.recordTransition({ ...job, state: 'passed', attempts: 2, result: 'ok' }, 'queued');
    j.updateBatch('B1', { state: 'running' });
    j.updateBatch('B1', { state: 'finished', endedAt: '2026-12-01T00:01:00.000Z' });
    const due = ob.mesDue(Date.now(), 100);
    expect(due.map((e) => [e.kind, e.id])).toEqual([
      ['unit', 'st-1:B1-0002:0'],
      ['unit', 'st-1:B1-0001:1'],
      ['unit', 'st-1:B1-0001:3'],
      ['batch', 'st-1:B1:finished:2026-12-01T00:01:00.000Z'],
    ]);
    expect(JSON.parse(due[3]!.payloadJson)).toMatchObject({ stationId: 'st-1', batch: { id: 'B1', state: 'finished' }, counts: { passed: 1, skipped: 1 } });
    expect(JSON.parse(due[2]!.payloadJson).job).toMatchObject({ id: 'B1-0001', state: 'passed', result: 'ok', serial_number: 'SN1' });
    ob.close();
    j.close();
  });

  it('line settings: precedence and every option checked', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-linecfg-'));
    expect(loadLineOptions(dir, undefined, {})).toEqual({});
    fs.writeFileSync(path.join(dir, 'line.json'), JSON.stringify({ lineDb: 'postgres://file/db', mes: { resultUrl: 'http://m/r', secret: 'f' } }));
    expect(loadLineOptions(dir, undefined, {}).lineDb).toBe('postgres://file/db');
    expect(loadLineOptions(dir, undefined, { FLASHLINE_LINE_DB: 'postgres://env/db' }).lineDb).toBe('postgres://env/db');
    expect(loadLineOptions(dir, 'postgres://cli/db', { FLASHLINE_LINE_DB: 'postgres://env/db' }).lineDb).toBe('postgres://cli/db');
    expect(loadLineOptions(dir, undefined, { FLASHLINE_MES_SECRET: 's3' }).mes!.secret).toBe('s3');
    fs.writeFileSync(path.join(dir, 'line.json'), JSON.stringify({ lineDB: 'typo' }));
    expect(() => loadLineOptions(dir, undefined, {})).toThrow(/unknown setting lineDB/);
    fs.writeFileSync(path.join(dir, 'line.json'), '{ nope');
    expect(() => loadLineOptions(dir, undefined, {})).toThrow(/not valid JSON/);
    expect(() => checkLineOptions({ pollMs: -1, mes: { timeoutMs: 0, extra: 1 } as never })).toThrow(/pollMs.*unknown mes setting extra.*timeoutMs/);
  });
});
