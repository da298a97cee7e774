/**
 * Sample batches/jobs for the journal and report tests, and — when run as a script
 * (`node --import tsx journal-writer.ts <db>`) — a writer that journals transitions in a tight
 * loop until it is killed, so the crash test can SIGKILL it mid-write.
 */
import { fileURLToPath } from 'node:url';
import type { BatchView, JobState, JobView, PackageInfo, Plan, UnitRef } from '../../main/contract/dto.js';
import { Journal } from '../../main/engine/journal/journal.js';

export const samplePackage: PackageInfo = {
  id: '3f2a9c1d00112233-app',
  sourcePath: '/firmware/app-1.4.0.bin',
  format: 'bin',
  components: [
    {
      component: 'app',
      version: '1.4.0',
      kind: 'full',
      fileName: 'app-1.4.0.bin',
      sizeBytes: 102400,
      crc32: '2cd27a54',
      md5: '0123456789abcdef0123456789abcdef',
      sha256: 'ab'.repeat(32),
    },
  ],
  signature: 'none',
  loadedAt: '2025-03-01T08:00:00.000Z',
};

export function sampleUnit(i: number): UnitRef {
  return {
    unitId: `serial:/dev/ttyUSB${i}`,
    transport: 'serial',
    protocol: 'ymodem',
    address: `/dev/ttyUSB${i}`,
    baudRate: 115200,
    serialNumber: `SN-${String(i).padStart(4, '0')}`,
  };
}

export function samplePlan(units: UnitRef[]): Plan {
  return {
    packageId: samplePackage.id,
    units,
    versionGate: { skipIfAtTarget: true },
    policy: {},
    retry: { maxAttempts: 3, backoffMs: 1000, backoffMaxMs: 8000 },
    concurrency: { global: 8, perBleAdapter: 6 },
  };
}

export function sampleBatch(batchId: string, units: UnitRef[]): BatchView {
  return {
    batchId,
    state: 'created',
    operator: 'Li Wei',
    stationId: 'ST-07',
    packageInfo: samplePackage,
    plan: samplePlan(units),
    createdAt: '2025-03-01T08:01:00.000Z',
    counts: { total: units.length, queued: units.length, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 },
  };
}

/** A queued job with only the required fields set (no optional key present). */
export function queuedJob(batchId: string, unit: UnitRef, i: number): JobView {
  return {
    jobId: `${batchId}-j${i}`,
    batchId,
    unit,
    state: 'queued',
    progressBytes: 0,
    totalBytes: samplePackage.components[0]!.sizeBytes,
    attempts: 0,
    sent: {},
    confirmed: {},
    resumable: false,
  };
}

/** A passed job with every optional field set. */
export function passedJob(batchId: string, unit: UnitRef, i: number): JobView {
  return {
    ...queuedJob(batchId, unit, i),
    state: 'passed',
    progressBytes: 102400,
    attempts: 2,
    result: 'ok',
    errorCode: 'PROTOCOL_TIMEOUT',
    deviceCode: '0x05',
    message: 'passed after a retry',
    versionBefore: '1.3.2',
    versionAfter: '1.4.0',
    sent: { crc32: '2cd27a54', md5: '0123456789abcdef0123456789abcdef' },
    confirmed: { crc32: '2cd27a54', md5: '0123456789abcdef0123456789abcdef', confirmedBy: ['device-crc32', 'device-md5', 'version-after-reboot'] },
    startedAt: '2025-03-01T08:02:00.000Z',
    endedAt: '2025-03-01T08:02:41.250Z',
    rateBytesPerSec: 2500.5,
    resumable: true,
  };
}

const CYCLE: JobState[] = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'backoff', 'queued'];

function runWriter(file: string): never {
  const journal = Journal.open(file);
  const units = Array.from({ length: 8 }, (_, i) => sampleUnit(i));
  const batchId = 'crash-batch';
  const jobs = units.map((u, i) => queuedJob(batchId, u, i));
  journal.createBatch({ ...sampleBatch(batchId, units), state: 'running' }, jobs);
  let n = 0;
  for (;;) {
    const i = n % jobs.length;
    const prev = jobs[i]!;
    const next: JobView = { ...prev, state: CYCLE[Math.floor(n / jobs.length) % CYCLE.length]!, progressBytes: n, attempts: n };
    journal.recordTransition(next, prev.state);
    journal.saveProgress(next.jobId, n + 1);
    jobs[i] = { ...next, progressBytes: n + 1 };
    n++;
    // Tell the parent real writes are under way; the loop never yields, so the kill lands in
    // the middle of synchronous SQLite work (stdout to a pipe is synchronous on Linux).
    if (n === 500) process.stdout.write('ready\n');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: journal-writer.ts <db-file>');
  runWriter(file);
}
