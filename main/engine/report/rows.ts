/**
 * Builds a batch report from journaled views: one row per job, a summary with counts, sealed by
 * the hash chain. Pure apart from the default `generatedAt`, so it can run in a worker thread;
 * it reads nothing from the journal itself.
 */
import type { AttemptCause, BatchView, HashView, JobView, Lang } from '../../contract/dto.js';
import { operatorText, resultText } from '../errors.js';
import { causesOf, confirmedByList, deviceConfirmedHash, formatAttemptCauses, skipCode, skipReason } from '../summary.js';
import { sealReport, keyId, spkiDer, type KeyInput } from './hash-chain.js';
import { RESULT_COUNT_KEYS, REPORT_FORMAT, countRows } from './model.js';
import type { HashVerdict, Report, ReportHeader, ReportRow } from './model.js';

export interface BuildReportOptions {
  /** Language of the HTML page; both message columns are always present. */
  lang?: Lang;
  generatedAt?: string;
  /** Station Ed25519 private key (PEM or KeyObject); without it the report is chain-only. */
  signingKey?: KeyInput;
  /** The journal's chain head (`SEQ:SHA256`) when the report is made, so the report pins the journal. */
  journalHead?: string;
  /** Attempt causes derived from the journal's attempts table, for jobs whose view carries none. */
  attemptCauses?: ReadonlyMap<string, AttemptCause[]>;
}

/** What this report's signature and chains prove, in words a customer can check (issue 10 §4). */
export function proofText(signed: boolean, keyFingerprint: string, journalHead: string): { en: string; zh: string } {
  const en = [
    'Each row is chained to the one before it with SHA-256, starting from this summary: changing, adding, removing or reordering any row or summary field breaks the chain.',
    signed
      ? `The chain head is signed with this station's Ed25519 key (fingerprint ${keyFingerprint}); check it with “flashline verify-report FILE --key PUBLIC-KEY” using the key the station owner gave you. A valid signature proves this station issued exactly this content; nobody without the station's private key can rewrite it unnoticed.`
      : 'This report is NOT signed: it proves only that it is internally consistent, not which station wrote it; anyone can rewrite the whole file.',
    'A CRC32 or MD5 listed as confirmed, and each entry of confirmed_by, is something the device itself reported or checked (device-crc32, device-md5, version-after-reboot, loader-verdict, size, device-done); anything else is shown as unconfirmed.',
    journalHead
      ? `journal_head ${journalHead} is the position of the station's own hash-chained journal when this report was made; “flashline verify-journal” on the station shows the journal still holds it unchanged.`
      : '',
    'Line-ending changes (CRLF) do not matter; any other edit does.',
  ].filter(Boolean).join(' ');
  const zh = [
    '每一行都用 SHA-256 与前一行链接，链从本摘要开始：修改、增加、删除或调换任何一行或摘要字段都会破坏哈希链。',
    signed
      ? `链头已用本工位的 Ed25519 密钥签名（指纹 ${keyFingerprint}）；请用工位所有者提供的公钥运行 “flashline verify-report 文件 --key 公钥” 校验。签名有效即证明该内容确由此工位出具；没有工位私钥的人无法在不被发现的情况下改写它。`
      : '本报告未签名：只能证明其内部一致，不能证明由哪个工位出具；任何人都可以重写整个文件。',
    '列为已确认的 CRC32 或 MD5，以及 confirmed_by 中的每一项，都是设备自己报告或校验过的（device-crc32、device-md5、version-after-reboot、loader-verdict、size、device-done）；其他一律显示为未确认（unconfirmed）。',
    journalHead
      ? `journal_head ${journalHead} 是生成本报告时工位自身哈希链日志的位置；在工位上运行 “flashline verify-journal” 可确认日志仍完整保留该位置。`
      : '',
    '换行符的改变（CRLF）不影响校验；任何其他改动都会被发现。',
  ].filter(Boolean).join('');
  return { en, zh };
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
    confirmed_crc32: deviceConfirmedHash(job.confirmed, 'crc32') ?? '',
    crc32_verdict: hashVerdict(job.sent, job.confirmed, 'crc32'),
    sent_md5: job.sent.md5 ?? '',
    confirmed_md5: deviceConfirmedHash(job.confirmed, 'md5') ?? '',
    md5_verdict: hashVerdict(job.sent, job.confirmed, 'md5'),
    state: job.state,
    result: job.result ?? '',
    error_code: job.state === 'skipped' ? skipCode(job) : (job.errorCode ?? ''),
    device_code: job.deviceCode ?? '',
    message_en: operatorMessage(job, 'en'),
    message_zh: operatorMessage(job, 'zh-CN'),
    detail: job.state === 'skipped' ? skipReason(job) : (job.message ?? ''),
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
    confirmed_by: confirmedByList(job.confirmed).join('+'),
    attempt_causes: formatAttemptCauses(causesOf(job, opts.attemptCauses)),
  }));
  const signed = !!opts.signingKey;
  const fingerprint = signed ? keyId(opts.signingKey!) : '';
  const proof = proofText(signed, fingerprint, opts.journalHead ?? '');

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
    integrity: signed ? 'chain+ed25519' : 'chain-only',
    signing_key_id: fingerprint,
    signing_public_key: signed ? spkiDer(opts.signingKey!).toString('base64') : '',
    journal_head: opts.journalHead ?? '',
    proof_en: proof.en,
    proof_zh: proof.zh,
  } as ReportHeader;
  return sealReport(header, rows, opts.signingKey);
}

/** `unconfirmed` unless the device itself reported or checked the hash (confirmedBy names it). */
function hashVerdict(sent: HashView, confirmed: HashView, kind: 'crc32' | 'md5'): HashVerdict {
  const s = sent[kind];
  const c = deviceConfirmedHash(confirmed, kind);
  if (!s) return '';
  if (!c) return 'unconfirmed';
  return s.toLowerCase() === c.toLowerCase() ? 'match' : 'mismatch';
}

/** What the operator should do: the error code's catalog text, else the result's. */
function operatorMessage(job: JobView, lang: Lang): string {
  if (job.result === 'ok') return resultText('ok', lang);
  const byCode = job.errorCode ? operatorText(job.errorCode, lang, job.unit) : '';
  if (byCode) return byCode;
  return job.result ? resultText(job.result, lang, job.unit) : '';
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
