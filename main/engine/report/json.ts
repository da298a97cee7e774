/**
 * JSON form of a report: `{ summary, rows }` exactly as built, pretty-printed. Field order inside
 * objects does not matter to the chain (it canonicalises in a fixed order), so tools may re-key it.
 */
import type { Report } from './model.js';

export function renderJson(report: Report): string {
  return JSON.stringify(report, null, 2) + '\n';
}

export interface ParsedJson {
  summary: Record<string, unknown>;
  rows: Record<string, unknown>[];
  errors: string[];
}

/** Parses untrusted text into summary and rows, reporting shape problems instead of throwing. */
export function readJsonReport(content: string): ParsedJson {
  let data: unknown;
  try {
    data = JSON.parse(content);
  } catch (err) {
    return { summary: {}, rows: [], errors: [`JSON is malformed: ${(err as Error).message}`] };
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(data) || !isObject(data.summary) || !Array.isArray(data.rows)) {
    return { summary: {}, rows: [], errors: ['not a Flashline report: expected { summary, rows }'] };
  }
  const errors: string[] = [];
  const rows = data.rows.filter((r, i) => {
    if (isObject(r)) return true;
    errors.push(`row ${i + 1} is not an object`);
    return false;
  }) as Record<string, unknown>[];
  return { summary: data.summary, rows, errors };
}
