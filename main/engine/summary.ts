/**
 * The `--json` summary of a batch (the CLI contract's last line), and the small pure helpers the
 * summary, the progress text and the report share: attempt causes as one line, what a pass rests
 * on (only what the device confirmed), and a skipped unit's code and reason kept apart.
 */
import type { AttemptCause, BatchView, ConfirmedBy, FlashSummary, HashView, JobView } from '../contract/dto.js';

/** Codes that describe the station, not the unit: never the "first real cause" while another exists. */
const NOT_A_UNIT_CAUSE: ReadonlySet<string> = new Set(['STATION_INTERRUPTED', 'JOB_CANCELLED']);

/**
 * "attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING": consecutive attempts with the same
 * code form one group joined by an en dash. Sorted by attempt; '' when no attempt failed.
 */
export function formatAttemptCauses(causes: readonly AttemptCause[] | undefined): string {
  if (!causes || causes.length === 0) return '';
  const sorted = [...causes].sort((a, b) => a.attempt - b.attempt);
  const groups: { from: number; to: number; code: string }[] = [];
  for (const c of sorted) {
    const last = groups[groups.length - 1];
    if (last && last.code === c.code && c.attempt === last.to + 1) last.to = c.attempt;
    else groups.push({ from: c.attempt, to: c.attempt, code: c.code });
  }
  return groups
    .map((g, i) => {
      const span = g.from === g.to ? `${g.from}` : `${g.from}–${g.to}`;
      const prefix = i === 0 ? (g.from === g.to ? 'attempt ' : 'attempts ') : '';
      return `${prefix}${span}: ${g.code}`;
    })
    .join('; ');
}

/** The first cause that is about the unit (a station stop or a cancel is not), else the first one. */
export function firstRealCause(causes: readonly AttemptCause[] | undefined): AttemptCause | undefined {
  if (!causes || causes.length === 0) return undefined;
  const sorted = [...causes].sort((a, b) => a.attempt - b.attempt);
  return sorted.find((c) => !NOT_A_UNIT_CAUSE.has(c.code)) ?? sorted[0];
}

/** A hash counts as confirmed only with the device's own entry for it in `confirmedBy`. */
export function deviceConfirmedHash(confirmed: HashView, kind: 'crc32' | 'md5'): string | undefined {
  const entry: ConfirmedBy = kind === 'crc32' ? 'device-crc32' : 'device-md5';
  const value = confirmed[kind];
  return value && confirmed.confirmedBy?.includes(entry) ? value : undefined;
}

/** What a pass rests on, in a stable order; hash entries only when the hash itself is present. */
export function confirmedByList(confirmed: HashView): ConfirmedBy[] {
  const order: ConfirmedBy[] = ['device-crc32', 'device-md5', 'size', 'loader-verdict', 'device-done', 'version-after-reboot'];
  const have = new Set(confirmed.confirmedBy ?? []);
  if (!confirmed.crc32) have.delete('device-crc32');
  if (!confirmed.md5) have.delete('device-md5');
  return order.filter((c) => have.has(c));
}

/**
 * A skipped unit's code: the journaled code when there is one, else the code of the engine's own
 * skip paths (version gate, allow/deny list), read from its reason.
 */
export function skipCode(job: Pick<JobView, 'errorCode' | 'skipReason' | 'message'>): string {
  if (job.errorCode) return job.errorCode;
  const why = job.skipReason ?? job.message ?? '';
  if (/deny list/.test(why)) return 'DENY_LISTED';
  if (/allow list/.test(why)) return 'NOT_ON_ALLOW_LIST';
  if (/^diff package needs/.test(why)) return 'DIFF_SOURCE_MISMATCH';
  return 'VERSION_AT_TARGET';
}

export function skipReason(job: Pick<JobView, 'skipReason' | 'message'>): string {
  return job.skipReason ?? job.message ?? '';
}

/**
 * Attempt causes for a job: the JobView's own list, else `fromJournal` (derived from the journal's
 * attempts table by the caller), else none.
 */
export function causesOf(job: JobView, fromJournal?: ReadonlyMap<string, AttemptCause[]>): AttemptCause[] {
  return job.attemptCauses?.length ? job.attemptCauses : (fromJournal?.get(job.jobId) ?? []);
}

export function buildFlashSummary(batch: BatchView, jobs: JobView[], journalCauses?: ReadonlyMap<string, AttemptCause[]>): FlashSummary {
  const comp = batch.packageInfo.components[0];
  const ms = (a?: string, b?: string) => (a && b ? Math.max(0, Date.parse(b) - Date.parse(a)) : 0);
  return {
    batchId: batch.batchId,
    total: jobs.length,
    passed: jobs.filter((j) => j.state === 'passed').length,
    failed: jobs.filter((j) => j.state === 'failed').length,
    skipped: jobs.filter((j) => j.state === 'skipped').length,
    cancelled: jobs.filter((j) => j.state === 'cancelled').length,
    durationMs: ms(batch.startedAt ?? batch.createdAt, batch.endedAt ?? new Date().toISOString()),
    units: jobs.map((j) => {
      const skipped = j.state === 'skipped';
      const causes = formatAttemptCauses(causesOf(j, journalCauses));
      const unit: FlashSummary['units'][number] = {
        unit: j.unit.unitId,
        transport: j.unit.transport,
        protocol: j.unit.protocol,
        result: skipped ? 'skipped' : j.state === 'interrupted' ? 'interrupted' : (j.result ?? (j.state === 'passed' ? 'ok' : 'station_error')),
        code: j.state === 'passed' ? null : skipped ? skipCode(j) : (j.errorCode ?? null),
        bytes: j.state === 'passed' ? j.totalBytes : j.progressBytes,
        crc32: j.sent.crc32 ?? null,
        md5: j.sent.md5 ?? null,
        sha256: comp?.sha256 ?? null,
        durationMs: ms(j.startedAt, j.endedAt),
        attempts: j.attempts,
        confirmedBy: confirmedByList(j.confirmed),
        attemptCauses: causes,
      };
      if (skipped) unit.reason = skipReason(j);
      return unit;
    }),
  };
}
