/**
 * Worker-thread task: renders a batch report (CSV/JSON/HTML) from journaled views, so a large
 * batch's report never blocks the engine's thread (and its jobs' timing). Pure; runs in the pool.
 * Must not import the journal, transports, protocols or electron.
 */
import type { BatchView, JobView } from '../../contract/dto.js';
import { exportReport, type BuildReportOptions, type ReportFormat } from './index.js';

export function renderReport(input: { batch: BatchView; jobs: JobView[]; format: ReportFormat; opts?: BuildReportOptions }): string {
  return exportReport(input.batch, input.jobs, input.format, input.opts ?? {});
}
