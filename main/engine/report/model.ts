/**
 * The report's data model: one row per unit plus a summary, and the fixed field orders that
 * the hash chain canonicalises. Every renderer writes these fields and every verifier reads them
 * back, so changing an order or a name is a new `REPORT_FORMAT`.
 */
import type { Lang, ResultCode } from '../../contract/dto.js';
import { RESULT_CODES } from '../../contract/dto.js';

export const REPORT_FORMAT = 'flashline-report/2';
/** Reports written before the device-confirmation columns, the journal head and the embedded key; still verified. */
export const REPORT_FORMAT_V1 = 'flashline-report/1';

/** Sent vs device-confirmed hash: `unconfirmed` when the device never reported one. */
export type HashVerdict = 'match' | 'mismatch' | 'unconfirmed' | '';

export interface ReportRow {
  row: number; // 1-based position, so a printed page can be matched to the file
  serial_number: string;
  unit_id: string;
  unit_name: string;
  address: string;
  transport: string;
  protocol: string;
  package_id: string;
  component: string;
  target_version: string;
  version_before: string;
  version_after: string;
  size_bytes: number;
  sent_crc32: string;
  /** Only a CRC the device itself reported or checked (confirmedBy has `device-crc32`); else empty. */
  confirmed_crc32: string;
  crc32_verdict: HashVerdict;
  sent_md5: string;
  confirmed_md5: string;
  md5_verdict: HashVerdict;
  state: string;
  result: string;
  error_code: string;
  device_code: string;
  message_en: string;
  message_zh: string;
  detail: string;
  attempts: number;
  started_at: string;
  ended_at: string;
  duration_ms: number | null;
  station_id: string;
  operator: string;
  batch_id: string;
  /** RMA workflow (issue 4 §4): empty for a production job. */
  rma_ticket: string;
  technician: string;
  /** Where the full raw protocol trace of an RMA job is kept (the journal), with its size. */
  trace_ref: string;
  /** What the pass rests on, e.g. `device-crc32+version-after-reboot` (only what the device confirmed). */
  confirmed_by: string;
  /** Every failed attempt's cause: "attempt 1: SOTA_READ_TIMEOUT; 2–3: DEVICE_NOT_RESPONDING". */
  attempt_causes: string;
}

export interface SealedRow extends ReportRow {
  prev_hash: string;
  row_hash: string;
}

export type ResultCountKey = `result_${ResultCode}`;

export type ReportHeader = {
  format: string;
  batch_id: string;
  batch_state: string;
  package_id: string;
  package_files: string;
  package_components: string;
  package_sha256: string;
  package_signature: string;
  station_id: string;
  operator: string;
  created_at: string;
  started_at: string;
  ended_at: string;
  duration_ms: number | null;
  generated_at: string;
  lang: Lang;
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  cancelled: number;
  interrupted: number;
  unfinished: number;
  integrity: 'chain-only' | 'chain+ed25519';
  signing_key_id: string;
  /** The station's Ed25519 public key (base64 SPKI DER) that signed this report; '' when unsigned. */
  signing_public_key: string;
  /** The station journal's hash-chain head when the report was made: `SEQ:SHA256` ('' when unknown). */
  journal_head: string;
  /** What the signature and the chains prove, for a customer (en, zh-CN). */
  proof_en: string;
  proof_zh: string;
} & Record<ResultCountKey, number>;

/** Written after the header; not hashed into it because it is derived from the chain. */
export interface ReportTrailer {
  row_count: number;
  chain_head: string;
  signature: string; // base64 Ed25519 over signedMessage(); '' when chain-only
}

export type ReportSummary = ReportHeader & ReportTrailer;

export interface Report {
  summary: ReportSummary;
  rows: SealedRow[];
}

const ROW_FIELDS_V1 = [
  'row', 'serial_number', 'unit_id', 'unit_name', 'address', 'transport', 'protocol', 'package_id',
  'component', 'target_version', 'version_before', 'version_after', 'size_bytes', 'sent_crc32',
  'confirmed_crc32', 'crc32_verdict', 'sent_md5', 'confirmed_md5', 'md5_verdict', 'state', 'result',
  'error_code', 'device_code', 'message_en', 'message_zh', 'detail', 'attempts', 'started_at',
  'ended_at', 'duration_ms', 'station_id', 'operator', 'batch_id', 'rma_ticket', 'technician', 'trace_ref',
] as const satisfies readonly (keyof ReportRow)[];

export const ROW_FIELDS = [...ROW_FIELDS_V1, 'confirmed_by', 'attempt_causes'] as const satisfies readonly (keyof ReportRow)[];

export const CHAIN_FIELDS = ['prev_hash', 'row_hash'] as const satisfies readonly (keyof SealedRow)[];

export const RESULT_COUNT_KEYS: readonly ResultCountKey[] = RESULT_CODES.map((c) => `result_${c}` as const);

export const STATE_COUNT_KEYS = ['passed', 'failed', 'skipped', 'cancelled', 'interrupted'] as const;

const HEADER_FIELDS_V1: readonly (keyof ReportHeader)[] = [
  'format', 'batch_id', 'batch_state', 'package_id', 'package_files', 'package_components',
  'package_sha256', 'package_signature', 'station_id', 'operator', 'created_at', 'started_at',
  'ended_at', 'duration_ms', 'generated_at', 'lang', 'total', ...STATE_COUNT_KEYS, 'unfinished',
  ...RESULT_COUNT_KEYS, 'integrity', 'signing_key_id',
];

export const HEADER_FIELDS: readonly (keyof ReportHeader)[] = [...HEADER_FIELDS_V1, 'signing_public_key', 'journal_head', 'proof_en', 'proof_zh'];

export const TRAILER_FIELDS = ['row_count', 'chain_head', 'signature'] as const satisfies readonly (keyof ReportTrailer)[];

/** Every column a sealed row carries, in file order. */
export const SEALED_ROW_FIELDS: readonly string[] = [...ROW_FIELDS, ...CHAIN_FIELDS];
/** Every summary key, in file order. */
export const SUMMARY_FIELDS: readonly string[] = [...HEADER_FIELDS, ...TRAILER_FIELDS];

/** The field orders of one report format: what its chain canonicalises and its files carry. */
export interface FormatFields {
  header: readonly string[];
  row: readonly string[];
  sealedRow: readonly string[];
  summary: readonly string[];
}

const FORMAT_FIELDS: Record<string, FormatFields> = {
  [REPORT_FORMAT]: { header: HEADER_FIELDS, row: ROW_FIELDS, sealedRow: SEALED_ROW_FIELDS, summary: SUMMARY_FIELDS },
  [REPORT_FORMAT_V1]: {
    header: HEADER_FIELDS_V1,
    row: ROW_FIELDS_V1,
    sealedRow: [...ROW_FIELDS_V1, ...CHAIN_FIELDS],
    summary: [...HEADER_FIELDS_V1, ...TRAILER_FIELDS],
  },
};

/** Field orders for a format this build can verify, or undefined. */
export function fieldsOf(format: unknown): FormatFields | undefined {
  return typeof format === 'string' && Object.prototype.hasOwnProperty.call(FORMAT_FIELDS, format) ? FORMAT_FIELDS[format] : undefined;
}

/** Every summary key any known format uses (the CSV reader accepts these before it knows the format). */
export const ANY_SUMMARY_FIELDS: ReadonlySet<string> = new Set(Object.values(FORMAT_FIELDS).flatMap((f) => f.summary));

/** Counts the summary states, recomputed by the verifier from the rows it read. */
export function countRows(rows: readonly { state: unknown; result: unknown }[]): Record<string, number> {
  const counts: Record<string, number> = { total: rows.length, unfinished: 0 };
  for (const k of [...STATE_COUNT_KEYS, ...RESULT_COUNT_KEYS]) counts[k] = 0;
  for (const r of rows) {
    const state = String(r.state);
    if ((STATE_COUNT_KEYS as readonly string[]).includes(state)) counts[state]! += 1;
    else counts.unfinished! += 1;
    const key = `result_${String(r.result)}`;
    if (key in counts) counts[key]! += 1;
  }
  return counts;
}
