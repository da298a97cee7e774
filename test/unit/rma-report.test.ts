/**
 * RMA fields on the journal's job view and on the unit's report row (issue 4 §4): a real SQLite
 * journal, the real report builder and verifier. Production rows keep the RMA columns empty.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../main/engine/journal/journal.js';
import { buildReport, renderCsv, renderHtml, renderJson, verifyReport } from '../../main/engine/report/index.js';
import { passedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

const journals: Journal[] = [];
afterEach(() => journals.splice(0).forEach((j) => j.close()));

function journalWithJobs() {
  const journal = Journal.open(':memory:');
  journals.push(journal);
  const units = [sampleUnit(1), sampleUnit(2), sampleUnit(3)];
  const batch = { ...sampleBatch('B-RMA', units), state: 'finished' as const, operator: 'wang.li' };
  const jobs = units.map((u, i) => passedJob('B-RMA', u, i + 1));
  journal.createBatch(batch, jobs);
  return { journal, batch, jobs };
}

describe('RMA ticket and technician in the journal and the report row', () => {
  it('the job view carries ticket, technician and trace length; other jobs carry none', () => {
    const { journal, jobs } = journalWithJobs();
    const trace = [{ tMs: 0, dir: 'rx', hex: '43' }, { tMs: 1.5, dir: 'tx', hex: '01' }, { tMs: 2, dir: 'note', text: 'probe' }];
    journal.saveRma(jobs[0]!.jobId, 'RMA-7', JSON.stringify({ ticket: 'RMA-7', technician: 'wang.li', probe: {}, trace }));
    // notes that are not JSON (written by hand or by an older tool) must not break reading
    journal.saveRma(jobs[1]!.jobId, 'RMA-8', 'power-cycled twice, then flashed');
    const [a, b, c] = journal.getJobs('B-RMA');
    expect(a).toMatchObject({ rmaTicket: 'RMA-7', technician: 'wang.li', rmaTraceEntries: 3 });
    expect(b).toMatchObject({ rmaTicket: 'RMA-8' });
    expect(b).not.toHaveProperty('technician');
    expect(b).not.toHaveProperty('rmaTraceEntries');
    expect(c).toStrictEqual(jobs[2]); // a production job round-trips exactly, no RMA keys
    expect(journal.getJob(jobs[0]!.jobId)).toStrictEqual(a);
    expect(journal.jobsByTicket('RMA-7')).toStrictEqual([a]);
    expect(journal.searchJobs('ttyUSB1')[0]).toMatchObject({ rmaTicket: 'RMA-7' });
  });

  it('the report row shows them, every format verifies, and editing them breaks the chain', () => {
    const { journal, batch } = journalWithJobs();
    const jobs0 = journal.getJobs('B-RMA');
    journal.saveRma(jobs0[1]!.jobId, 'RMA-2024-0042', JSON.stringify({ ticket: 'RMA-2024-0042', technician: '王工', probe: {}, trace: [{ tMs: 0, dir: 'tx', hex: 'ff' }] }));
    const report = buildReport(batch, journal.getJobs('B-RMA'), { generatedAt: '2025-03-01T09:00:00.000Z' });
    expect(report.rows[0]).toMatchObject({ rma_ticket: '', technician: '', trace_ref: '' });
    expect(report.rows[1]).toMatchObject({ rma_ticket: 'RMA-2024-0042', technician: '王工', trace_ref: `journal:jobs/${jobs0[1]!.jobId}/notes (1 raw trace entries)` });
    for (const text of [renderCsv(report), renderJson(report), renderHtml(report)]) expect(verifyReport(text)).toMatchObject({ ok: true, rows: 3 });
    const html = renderHtml({ ...report, summary: { ...report.summary, lang: 'zh-CN' } });
    expect(html).toContain('RMA <b>RMA-2024-0042</b> · 技术员 王工');
    const edited = renderJson(report).replace('"technician": "王工"', '"technician": "李工"');
    expect(edited).not.toBe(renderJson(report));
    const v = verifyReport(edited);
    expect(v.ok).toBe(false);
    expect(v.errors.join('\n')).toMatch(/row 2 .*contents changed/);
  });
});
