/**
 * RMA recovery end to end: a "bricked" unit (application dead, only its YMODEM bootloader sends
 * `C`) on the far end of a real PTY is recovered by the real `flashline recover` CLI — probe,
 * identify, flash over YMODEM, verify — and the journal holds the ticket, the technician and
 * the full raw trace. A dead port fails with RMA_NO_PATH.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualYmodemUnit } from '../../main/engine/device/ymodem-unit.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import type { RmaRecord } from '../../main/engine/rma/recover.js';
import { createPtyPair, describeWithTools, openDevicePort, tempDir } from '../helpers/pty.js';
import { lastJson, runCli } from '../helpers/cli.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

describeWithTools(['socat'], 'flashline recover (RMA) over a real PTY', () => {
  it('recovers a bricked unit over YMODEM, shows each step, journals ticket, technician and the full raw trace', async () => {
    const dir = tempDir('flashline-rma-');
    const pty = await createPtyPair(fs.mkdtempSync(path.join(dir, 'p-')));
    cleanups.push(() => pty.close());
    const port = await openDevicePort(pty.devicePath);
    cleanups.push(() => port.close());
    const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'RMA-0042' });
    const unit = new VirtualYmodemUnit(memory, { behaviour: 'brick', cIntervalMs: 100, bootMs: 100 });
    expect(memory.state.appDead).toBe(true);
    unit.attach(port);
    cleanups.push(() => unit.dispose());
    const golden = path.join(dir, 'golden-2.0.0.bin');
    const image = buildSimImage(40_000, '2.0.0');
    fs.writeFileSync(golden, image);

    const r = await runCli(['recover', '--port', `${pty.hostPath}@115200`, '--golden', golden, '--version', '2.0.0', '--ticket', 'RMA-2024-0042', '--technician', 'wang.li', '--json', '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    // each step, in order, as it happened
    const steps = r.stderr.split('\n').filter((l) => /[▶✔✘·] /.test(l)).map((l) => l.replace(/^\s*[\d.]+ s\s+/, ''));
    const order = ['▶ probe', '✔ probe', '✔ identify', '▶ flash', '· flash    connecting', '· flash    transferring', '✔ flash', '✔ verify', '✔ journal'];
    let at = -1;
    for (const o of order) {
      const i = steps.findIndex((s, k) => k > at && s.startsWith(o));
      expect(i, `step "${o}" in ${r.stderr}\n${steps.join('\n')}`).toBeGreaterThan(at);
      at = i;
    }
    expect(r.stderr).toMatch(/application dead, only the serial bootloader answers/);
    const out = lastJson<{ ok: boolean; protocol: string; jobId: string; batchId: string; versionAfter: string; sentCrc32: string; confirmedCrc32: string; traceBytes: { tx: number; rx: number } }>(r.stdout);
    expect(out).toMatchObject({ ok: true, protocol: 'ymodem', versionAfter: '2.0.0', sentCrc32: crc32Hex(image), confirmedCrc32: crc32Hex(image) });

    // the unit really runs the golden image now
    expect(memory.state.appDead).toBe(false);
    expect(memory.state.version).toBe('2.0.0');
    expect(createHash('md5').update(memory.readStaging(image.length)).digest('hex')).toBe(createHash('md5').update(image).digest('hex'));

    // the journal: ticket on the job row, technician as operator, full raw trace (every byte sent)
    const journal = Journal.open(path.join(dir, 'journal.sqlite'));
    cleanups.push(() => journal.close());
    const [job] = journal.jobsByTicket('RMA-2024-0042');
    expect(job).toMatchObject({ jobId: out.jobId, state: 'passed', versionAfter: '2.0.0', unit: { address: pty.hostPath, protocol: 'ymodem' } });
    expect(journal.getBatch(job!.batchId)?.operator).toBe('wang.li');
    const rma = journal.getRma(out.jobId)!;
    const record = JSON.parse(rma.notesJson!) as RmaRecord;
    expect(record).toMatchObject({ ticket: 'RMA-2024-0042', technician: 'wang.li', probe: { protocol: 'ymodem', bootloaderOnly: true } });
    const txBytes = record.trace.filter((e) => e.dir === 'tx').reduce((n, e) => n + e.hex!.length / 2, 0);
    expect(txBytes).toBe(out.traceBytes.tx);
    expect(txBytes).toBeGreaterThan(image.length); // the whole image in 1K blocks plus framing, not a tail
    const allTx = Buffer.from(record.trace.filter((e) => e.dir === 'tx').map((e) => e.hex).join(''), 'hex');
    expect(allTx.includes(Buffer.from(image.subarray(30 * 1024 + 10, 31 * 1024 - 10)))).toBe(true); // inside one 1K block
    expect(record.trace.some((e) => e.dir === 'rx' && e.hex === '43')).toBe(true); // the loader's C
    // the journal's job view carries them too (what the UI and the report read)
    expect(journal.getJob(out.jobId)).toMatchObject({ rmaTicket: 'RMA-2024-0042', technician: 'wang.li', rmaTraceEntries: record.trace.length });
    expect(journal.getJobs(job!.batchId)).toHaveLength(1); // one unit per RMA batch

    // the unit's report row: ticket, technician and where the full trace is; the chain still verifies
    const reportRow = { rma_ticket: 'RMA-2024-0042', technician: 'wang.li', trace_ref: `journal:jobs/${out.jobId}/notes (${record.trace.length} raw trace entries)`, operator: 'wang.li', result: 'ok' };
    const jsonFile = path.join(dir, 'rma.json');
    const csvFile = path.join(dir, 'rma.csv');
    const htmlFile = path.join(dir, 'rma.html');
    for (const [format, file] of [['json', jsonFile], ['csv', csvFile], ['html', htmlFile]] as const) {
      const rep = await runCli(['report', out.batchId, '--format', format, '--out', file, '--data-dir', dir]);
      expect(rep.code, rep.stderr).toBe(0);
      const ver = await runCli(['verify-report', file, '--json']);
      expect(ver.code, ver.stdout).toBe(0);
      expect(lastJson<{ ok: boolean; rows: number }>(ver.stdout)).toMatchObject({ ok: true, rows: 1 });
    }
    const report = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as { rows: Record<string, unknown>[] };
    expect(report.rows[0]).toMatchObject(reportRow);
    const csv = fs.readFileSync(csvFile, 'utf8');
    expect(csv).toContain('rma_ticket,technician,trace_ref,confirmed_by,attempt_causes,prev_hash,row_hash');
    expect(csv).toContain(',RMA-2024-0042,wang.li,journal:jobs/');
    expect(fs.readFileSync(htmlFile, 'utf8')).toMatch(/RMA <b>RMA-2024-0042<\/b> · technician wang\.li/);
    // editing the technician in the exported file breaks that row's hash
    fs.writeFileSync(csvFile, csv.replace(',RMA-2024-0042,wang.li,', ',RMA-2024-0042,someone.else,'));
    const tampered = await runCli(['verify-report', csvFile, '--json']);
    expect(tampered.code).toBe(1);
    expect(lastJson<{ errors: string[] }>(tampered.stdout).errors.join('\n')).toMatch(/row 1 .*contents changed/);
  });

  it('a unit with no answering path → RMA_NO_PATH, exit 2', async () => {
    const dir = tempDir('flashline-rma-');
    const pty = await createPtyPair(fs.mkdtempSync(path.join(dir, 'p-')));
    cleanups.push(() => pty.close());
    const golden = path.join(dir, 'g.bin');
    fs.writeFileSync(golden, buildSimImage(1000, '2.0.0'));
    const r = await runCli(['recover', '--port', pty.hostPath, '--golden', golden, '--version', '2.0.0', '--ticket', 'RMA-1', '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('RMA_NO_PATH');
    const missing = await runCli(['recover', '--port', pty.hostPath, '--golden', golden, '--data-dir', dir]);
    expect(missing.stderr).toMatch(/--ticket/);
  });
});
