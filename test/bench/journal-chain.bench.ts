/**
 * Journal hash-chain benchmark (issue 10 §4): what chaining costs a transition write, how long
 * `verify-journal` takes over a large journal, and what signing adds to a 500-unit report.
 * A batch of `--units` jobs, each with `--transitions` transitions and 2 attempts, on a temp file.
 * Run: node --import tsx test/bench/journal-chain.bench.ts [--units 500] [--transitions 8] — prints one JSON object.
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { JobState } from '../../main/contract/dto.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { buildReport, renderCsv, verifyReport } from '../../main/engine/report/index.js';
import { passedJob, queuedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

const { values } = parseArgs({ options: { units: { type: 'string', default: '500' }, transitions: { type: 'string', default: '8' } } });
const units = Number(values.units);
const perJob = Number(values.transitions);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-chain-bench-'));
const file = path.join(dir, 'journal.sqlite');
const STATES: JobState[] = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'backoff', 'connecting'];

try {
  const j = Journal.open(file);
  const us = Array.from({ length: units }, (_, i) => sampleUnit(i));
  const jobs = us.map((u, i) => queuedJob('BENCH', u, i));
  j.createBatch(sampleBatch('BENCH', us), jobs);
  const t0 = performance.now();
  let writes = 0;
  for (const job of jobs) {
    j.startAttempt(job.jobId, 1, 0);
    for (let k = 0; k < perJob; k++) {
      j.recordTransition({ ...job, state: STATES[k % STATES.length]!, attempts: 1 }, k === 0 ? 'queued' : STATES[(k - 1) % STATES.length]!);
      writes++;
    }
    j.endAttempt(job.jobId, 1, 'ok', undefined, 'confirm');
    j.recordTransition({ ...passedJob('BENCH', job.unit, 0), jobId: job.jobId }, STATES[(perJob - 1) % STATES.length]!);
    writes += 2;
  }
  const writeMs = performance.now() - t0;
  const t1 = performance.now();
  const check = j.verifyChain();
  const verifyMs = performance.now() - t1;
  const batch = j.getBatch('BENCH')!;
  const finalJobs = j.getJobs('BENCH');
  const head = j.chainHead();
  j.close();

  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const t2 = performance.now();
  const unsignedCsv = renderCsv(buildReport(batch, finalJobs, { journalHead: head }));
  const unsignedMs = performance.now() - t2;
  const t3 = performance.now();
  const signedCsv = renderCsv(buildReport(batch, finalJobs, { journalHead: head, signingKey: privateKey }));
  const signedMs = performance.now() - t3;
  const t4 = performance.now();
  const verified = verifyReport(signedCsv, { publicKey });
  const verifyReportMs = performance.now() - t4;

  console.log(
    JSON.stringify({
      units,
      chainedWrites: writes,
      writeMsPerChainedRow: +(writeMs / writes).toFixed(4),
      verifyJournalMs: +verifyMs.toFixed(1),
      journalOk: check.ok,
      links: check.links,
      reportRows: finalJobs.length,
      reportBuildUnsignedMs: +unsignedMs.toFixed(1),
      reportBuildSignedMs: +signedMs.toFixed(1),
      verifyReportMs: +verifyReportMs.toFixed(1),
      reportVerdict: verified.statement,
      csvBytes: Buffer.byteLength(unsignedCsv),
    }),
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
