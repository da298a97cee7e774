/**
 * CSV form of a report (RFC 4180, CRLF, UTF-8 with a BOM so Excel shows zh-CN text).
 * Layout: the summary first, one `#key,value` record per field (header fields — including
 * `#proof_en`/`#proof_zh`, what the signature and chains prove — then row_count, chain_head,
 * signature), then the column header, then one record per unit ending in prev_hash,row_hash. Also the reader the verifier uses; it never evaluates anything.
 */
import { cellText } from './hash-chain.js';
import { ANY_SUMMARY_FIELDS, SEALED_ROW_FIELDS, SUMMARY_FIELDS, fieldsOf } from './model.js';
import type { Report } from './model.js';

const BOM = '\uFEFF';
const CRLF = '\r\n';

/**
 * Excel runs a cell starting with = + - @ (or tab/CR) as a formula, and a unit name comes from
 * the device. Such cells get a leading apostrophe; the reader strips exactly one again, so every
 * value — including one that really starts with apostrophes — round-trips.
 */
const FORMULA_LIKE = /^'*[=+\-@\t\r]/;

function csvField(value: unknown): string {
  let text = cellText(value);
  if (FORMULA_LIKE.test(text)) text = "'" + text;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function unneutralise(text: string): string {
  return FORMULA_LIKE.test(text) && text.startsWith("'") ? text.slice(1) : text;
}

export function toCsvRecord(values: readonly unknown[]): string {
  return values.map(csvField).join(',');
}

export function renderCsv(report: Report): string {
  const summary = report.summary as unknown as Record<string, unknown>;
  const fields = fieldsOf(summary.format) ?? { summary: SUMMARY_FIELDS, sealedRow: SEALED_ROW_FIELDS };
  const lines = fields.summary.map((k) => toCsvRecord(['#' + k, summary[k]]));
  lines.push(toCsvRecord(fields.sealedRow));
  for (const row of report.rows) {
    const r = row as unknown as Record<string, unknown>;
    lines.push(toCsvRecord(fields.sealedRow.map((f) => r[f])));
  }
  return BOM + lines.join(CRLF) + CRLF;
}

/** RFC 4180 records; accepts CRLF or LF. Returns an error instead of guessing on a stray quote. */
export function parseCsv(text: string): { ok: true; records: string[][] } | { ok: false; reason: string } {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endField = () => {
    record.push(field);
    field = '';
  };
  const endRecord = () => {
    endField();
    records.push(record);
    record = [];
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        const next = text[i + 1];
        if (next !== undefined && next !== ',' && next !== '\r' && next !== '\n') return { ok: false, reason: `text after a closing quote at offset ${i + 1}` };
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"') {
      if (field !== '') return { ok: false, reason: `quote inside an unquoted field at offset ${i}` };
      quoted = true;
    } else if (ch === ',') endField();
    else if (ch === '\n') endRecord();
    else if (ch === '\r' && text[i + 1] === '\n') {
      endRecord();
      i++;
    } else field += ch;
    i++;
  }
  if (quoted) return { ok: false, reason: 'unterminated quoted field' };
  if (field !== '' || record.length > 0) endRecord();
  return { ok: true, records };
}

export interface ParsedTable {
  summary: Record<string, string>;
  rows: Record<string, string>[];
  errors: string[];
}

/** Splits a report CSV back into summary fields and rows keyed by column name. */
export function readCsvReport(content: string): ParsedTable {
  const out: ParsedTable = { summary: {}, rows: [], errors: [] };
  const parsed = parseCsv(content.startsWith(BOM) ? content.slice(1) : content);
  if (!parsed.ok) {
    out.errors.push(`CSV is malformed: ${parsed.reason}`);
    return out;
  }
  let columns: string[] | undefined;
  parsed.records.forEach((rec, idx) => {
    const cells = rec.map(unneutralise);
    const first = cells[0] ?? '';
    if (cells.length === 1 && first === '') return; // blank line
    if (!columns && first.startsWith('#')) {
      const key = first.slice(1);
      if (!ANY_SUMMARY_FIELDS.has(key)) out.errors.push(`line ${idx + 1}: unknown summary field "${key}"`);
      else if (key in out.summary) out.errors.push(`line ${idx + 1}: summary field "${key}" appears twice`);
      else out.summary[key] = cells[1] ?? '';
      return;
    }
    if (!columns) {
      const expected = fieldsOf(out.summary.format)?.sealedRow ?? SEALED_ROW_FIELDS;
      if (cells.join(',') !== expected.join(',')) out.errors.push('column header differs from the report format (columns added, removed or renamed)');
      columns = cells;
      return;
    }
    if (cells.length !== columns.length) {
      out.errors.push(`record ${idx + 1}: ${cells.length} cells, expected ${columns.length}`);
      return;
    }
    const row: Record<string, string> = {};
    columns.forEach((c, j) => (row[c] = cells[j]!));
    out.rows.push(row);
  });
  if (!columns) out.errors.push('no column header found');
  return out;
}
