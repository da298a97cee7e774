/**
 * Batch reports: build (pure, worker-safe), render to CSV/JSON/HTML, verify. Callers pass
 * journaled views in; nothing here touches the journal, the filesystem or the clock beyond
 * the default `generatedAt`.
 * Must not import the journal, transports, protocols or electron.
 */
import type { BatchView, JobView } from '../../contract/dto.js';
import { renderCsv } from './csv.js';
import { renderHtml } from './html.js';
import { renderJson } from './json.js';
import { buildReport, type BuildReportOptions } from './rows.js';
import type { ReportFormat } from './verify.js';

export { buildReport, type BuildReportOptions } from './rows.js';
export { renderCsv, parseCsv } from './csv.js';
export { renderJson } from './json.js';
export { renderHtml, escapeHtml } from './html.js';
export { verifyReport, detectFormat, type ReportFormat, type VerifyResult } from './verify.js';
export { keyId, type KeyInput, type SignatureStatus } from './hash-chain.js';
export { REPORT_FORMAT, ROW_FIELDS, HEADER_FIELDS } from './model.js';
export type { Report, ReportRow, SealedRow, ReportSummary, ReportHeader, HashVerdict } from './model.js';

const RENDERERS = { csv: renderCsv, json: renderJson, html: renderHtml } as const;

/** Builds and renders in one call: what `report:export` and the CLI need. */
export function exportReport(batch: BatchView, jobs: JobView[], format: ReportFormat, opts: BuildReportOptions = {}): string {
  return RENDERERS[format](buildReport(batch, jobs, opts));
}
