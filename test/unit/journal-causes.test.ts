/**
 * Issue 9 §1/§9 in the journal: jobs come back with every failed attempt's cause (station stops
 * and cancels are not causes), a skipped job with its reason, and the plan with its effective
 * profile — what resume and the reports read.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../main/engine/journal/journal.js';
import { queuedJob, sampleBatch, sampleUnit } from '../helpers/journal-writer.js';

describe('journal: attempt causes, skip reasons, effective profile', () => {
  it('round-trips them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-jcauses-'));
    const j = Journal.open(path.join(dir, 'journal.sqlite'));
    try {
      const units = [sampleUnit(1), sampleUnit(2)];
      const batch = sampleBatch('B1', units);
      batch.plan.profiles = { ymodem: { id: 'st-iap-ymodem', name: 'ST', builtIn: true, protocol: 'ymodem', options: { blockSize: 1024, fileName: 'x.bin' }, timers: { connectTimeoutMs: 15000, rebootTimeoutMs: 15000 } } };
      const [a, b] = units.map((u, i) => queuedJob('B1', u, i + 1));
      j.createBatch(batch, [a!, b!]);
      j.startAttempt(a!.jobId, 1, 0);
      j.endAttempt(a!.jobId, 1, 'timeout', 'SOTA_READ_TIMEOUT', 'transfer');
      j.startAttempt(a!.jobId, 2, 0);
      j.endAttempt(a!.jobId, 2, 'station_error', 'STATION_INTERRUPTED', 'transfer');
      j.startAttempt(a!.jobId, 3, 0);
      j.endAttempt(a!.jobId, 3, 'timeout', 'DEVICE_NOT_RESPONDING', 'connect');
      j.recordTransition({ ...b!, state: 'skipped', errorCode: 'VERSION_AT_TARGET', message: 'already at 1.4.0', skipReason: 'already at 1.4.0' }, 'queued');
      const jobs = j.getJobs('B1');
      expect(jobs[0]!.attemptCauses).toEqual([
        { attempt: 1, code: 'SOTA_READ_TIMEOUT', result: 'timeout' },
        { attempt: 3, code: 'DEVICE_NOT_RESPONDING', result: 'timeout' },
      ]);
      expect(j.getJob(a!.jobId)!.attemptCauses).toHaveLength(2);
      expect(jobs[1]).toMatchObject({ state: 'skipped', errorCode: 'VERSION_AT_TARGET', skipReason: 'already at 1.4.0' });
      expect(jobs[1]!.attemptCauses).toBeUndefined();
      expect(j.getBatch('B1')!.plan.profiles?.ymodem?.options.fileName).toBe('x.bin');
    } finally {
      j.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
