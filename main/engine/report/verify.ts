/**
 * Verifies a report file in any of its three formats: parses untrusted text, checks the hash
 * chain (and signature, given the station public key), that the summary counts match the rows,
 * and for HTML that the visible page is exactly the rendering of the embedded data.
 */
import { checkChain, cellText, type KeyInput, type SignatureStatus } from './hash-chain.js';
import { readCsvReport } from './csv.js';
import { extractEmbeddedJson, renderHtml } from './html.js';
import { readJsonReport } from './json.js';
import { countRows } from './model.js';
import type { Report } from './model.js';

export type ReportFormat = 'csv' | 'json' | 'html';

export interface VerifyResult {
  ok: boolean;
  format: ReportFormat;
  rows: number;
  errors: string[];
  warnings: string[];
  signature: SignatureStatus;
}

export function detectFormat(content: string): ReportFormat {
  const start = content.replace(/^\uFEFF/, '').trimStart();
  if (start.startsWith('{')) return 'json';
  if (start.startsWith('<')) return 'html';
  return 'csv';
}

export function verifyReport(content: string, opts: { publicKey?: KeyInput } = {}): VerifyResult {
  const format = detectFormat(content);
  let parsed: { summary: Record<string, unknown>; rows: Record<string, unknown>[]; errors: string[] };
  const extra: string[] = [];
  if (format === 'csv') parsed = readCsvReport(content);
  else if (format === 'json') parsed = readJsonReport(content);
  else {
    const embedded = extractEmbeddedJson(content);
    parsed = embedded === undefined ? { summary: {}, rows: [], errors: ['no embedded report data in the HTML page'] } : readJsonReport(embedded);
    if (embedded !== undefined && parsed.errors.length === 0 && !isVisiblePageFaithful(content, parsed)) {
      extra.push('the visible page differs from the embedded report data (the table or summary was edited)');
    }
  }
  const chain = checkChain(parsed.summary, parsed.rows, opts.publicKey);
  const errors = [...parsed.errors, ...chain.errors, ...checkCounts(parsed.summary, parsed.rows), ...extra];
  return { ok: errors.length === 0, format, rows: parsed.rows.length, errors, warnings: chain.warnings, signature: chain.signature };
}

/** Counts are chained too, but a consistent rewrite without a key could still lie about them. */
function checkCounts(summary: Record<string, unknown>, rows: Record<string, unknown>[]): string[] {
  const errors: string[] = [];
  for (const [key, n] of Object.entries(countRows(rows as { state: unknown; result: unknown }[]))) {
    if (cellText(summary[key]) !== String(n)) errors.push(`summary ${key} is ${cellText(summary[key])}, rows give ${n}`);
  }
  return errors;
}

function isVisiblePageFaithful(content: string, parsed: { summary: Record<string, unknown>; rows: Record<string, unknown>[] }): boolean {
  try {
    const report = { summary: parsed.summary, rows: parsed.rows } as unknown as Report;
    return renderHtml(report) === content;
  } catch {
    return false; // embedded data too malformed to render: the chain check reports why
  }
}
