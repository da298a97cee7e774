/**
 * The `--json` summary of a batch (the CLI contract's last line).
 */
import type { BatchView, FlashSummary, JobView } from '../contract/dto.js';

export function buildFlashSummary(batch: BatchView, jobs: JobView[]): FlashSummary {
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
    units: jobs.map((j) => ({
      unit: j.unit.unitId,
      transport: j.unit.transport,
      protocol: j.unit.protocol,
      result: j.state === 'skipped' ? 'skipped' : j.state === 'interrupted' ? 'interrupted' : (j.result ?? (j.state === 'passed' ? 'ok' : 'station_error')),
      code: j.state === 'passed' ? null : (j.errorCode ?? (j.state === 'skipped' ? (j.message ?? null) : null)),
      bytes: j.state === 'passed' ? j.totalBytes : j.progressBytes,
      crc32: j.sent.crc32 ?? null,
      md5: j.sent.md5 ?? null,
      sha256: comp?.sha256 ?? null,
      durationMs: ms(j.startedAt, j.endedAt),
      attempts: j.attempts,
    })),
  };
}
