/**
 * Report rendering through the worker pool (report-tasks.ts beside this file, .ts from sources,
 * .js in the desktop build). The engine's thread only hands over views and gets text back.
 * Must not import the journal, transports, protocols or electron.
 */
import type { BatchView, JobView } from '../../contract/dto.js';
import { defineTask, runInWorker, siblingModule } from '../workers/worker-pool.js';
import type { BuildReportOptions, ReportFormat } from './index.js';
import type * as tasks from './report-tasks.js';

const renderTask = defineTask<typeof tasks.renderReport>(siblingModule(import.meta.url, 'report-tasks'), 'renderReport');

export function exportReportInWorker(batch: BatchView, jobs: JobView[], format: ReportFormat, opts: BuildReportOptions = {}): Promise<string> {
  return runInWorker(renderTask, { batch, jobs, format, opts });
}
