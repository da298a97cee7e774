/**
 * Builds a batch report from journaled views: one row per job, a summary with counts, sealed by
 * the hash chain. Pure apart from the default `generatedAt`, so it can run in a worker thread;
 * it reads nothing from the journal itself.
 */
import type { BatchView, HashView, JobView, Lang } from '../../contract/dto.js';
import { RESULT_TEXT, operatorText } from '../errors.js';
import { sealReport, keyId, type KeyInput } from './hash-chain.js';
import { RESULT_COUNT_KEYS, REPORT_FORMAT, countRows } from './model.js';
import type { HashVerdict, Report, ReportHeader, ReportRow } from './model.js';

export interface BuildReportOptions {
  /** Language of the HTML page; both message columns are always present. */
  lang?: Lang;
  generatedAt?: string;
  /** Station Ed25519 private key (PEM or KeyObject); without it the report is chain-only. */
  signingKey?: KeyInput;
}

export function buildReport(batch: BatchView, jobs: JobView[], opts: BuildReportOptions = {}): Report {
  const pkg = batch.packageInfo;
  const components = pkg.components;
  const rows = jobs.map((job, i): ReportRow => ({
    row: i + 1,
    serial_number: job.unit.serialNumber ?? job.unit.sim?.serialNumber ?? '',
    unit_id: job.unit.unitId,
    unit_name: job.unit.name ?? '',
    address: job.unit.address,
    transport: job.unit.transport,
    protocol: job.unit.protocol,
    package_id: pkg.id,
    component: components.map((c) => c.component).join('+'),
    target_version: components.map((c) => c.version).join('+'),
    version_before: job.versionBefore ?? '',
    version_after: job.versionAfter ?? '',
    size_bytes: job.totalBytes,
    sent_crc32: job.sent.crc32 ?? '',
    confirmed_crc32: job.confirmed.crc32 ?? '',
    crc32_verdict: hashVerdict(job.sent, job.confirmed, 'crc32'),
    sent_md5: job.sent.md5 ?? '',
    confirmed_md5: job.confirmed.md5 ?? '',
    md5_verdict: hashVerdict(job.sent, job.confirmed, 'md5'),
    state: job.state,
    result: job.result ?? '',
    error_code: job.errorCode ?? '',
    device_code: job.deviceCode ?? '',
    message_en: operatorMessage(job, 'en'),
    message_zh: operatorMessage(job, 'zh-CN'),
    detail: job.message ?? '',
    attempts: job.attempts,
    started_at: job.startedAt ?? '',
    ended_at: job.endedAt ?? '',
    duration_ms: durationMs(job.startedAt, job.endedAt),
    station_id: batch.stationId,
    operator: batch.operator,
    batch_id: batch.batchId,
    rma_ticket: job.rmaTicket ?? '',
    technician: job.rmaTicket ? (job.technician ?? '') : '',
    trace_ref: job.rmaTicket ? rmaTraceRef(job) : '',
  }));

  const counts = countRows(rows);
  const header = {
    format: REPORT_FORMAT,
    batch_id: batch.batchId,
    batch_state: batch.state,
    package_id: pkg.id,
    package_files: components.map((c) => c.fileName).join('; '),
    package_components: components.map((c) => `${c.component} ${c.version} (${c.kind}${c.sourceVersion ? ` from ${c.sourceVersion}` : ''})`).join('; '),
    package_sha256: components.map((c) => c.sha256).join('; '),
    package_signature: pkg.signature,
    station_id: batch.stationId,
    operator: batch.operator,
    created_at: batch.createdAt,
    started_at: batch.startedAt ?? '',
    ended_at: batch.endedAt ?? '',
    duration_ms: durationMs(batch.startedAt, batch.endedAt),
    generated_at: opts.generatedAt ?? new Date().toISOString(),
    lang: opts.lang ?? 'en',
    total: counts.total ?? 0,
    passed: counts.passed ?? 0,
    failed: counts.failed ?? 0,
    skipped: counts.skipped ?? 0,
    cancelled: counts.cancelled ?? 0,
    interrupted: counts.interrupted ?? 0,
    unfinished: counts.unfinished ?? 0,
    ...Object.fromEntries(RESULT_COUNT_KEYS.map((k) => [k, counts[k] ?? 0])),
    integrity: opts.signingKey ? 'chain+ed25519' : 'chain-only',
    signing_key_id: opts.signingKey ? keyId(opts.signingKey) : '',
  } as ReportHeader;
  return sealReport(header, rows, opts.signingKey);
}

function hashVerdict(sent: HashView, confirmed: HashView, kind: 'crc32' | 'md5'): HashVerdict {
  const s = sent[kind];
  const c = confirmed[kind];
  if (!s) return '';
  if (!c) return 'unconfirmed';
  return s.toLowerCase() === c.toLowerCase() ? 'match' : 'mismatch';
}

/** What the operator should do: the error code's catalog text, else the result's. */
function operatorMessage(job: JobView, lang: Lang): string {
  if (job.result === 'ok') return RESULT_TEXT.ok[lang];
  const byCode = job.errorCode ? operatorText(job.errorCode, lang) : '';
  if (byCode) return byCode;
  return job.result ? RESULT_TEXT[job.result][lang] : '';
}

/** A pointer QA can follow: the journal row that holds the RMA job's complete raw trace. */
export function rmaTraceRef(job: Pick<JobView, 'jobId' | 'rmaTraceEntries'>): string {
  return `journal:jobs/${job.jobId}/notes (${job.rmaTraceEntries ?? 0} raw trace entries)`;
}

function durationMs(start?: string, end?: string): number | null {
  if (!start || !end) return null;
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isFinite(ms) ? ms : null;
}
