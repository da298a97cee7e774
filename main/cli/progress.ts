/**
 * Live progress in the terminal: a line per unit when a few units run (or when output is not a
 * terminal: one line per state change), a compact redrawn table for many units on a TTY.
 */
import type { BatchEvent, FlashSummary, JobView } from '../contract/dto.js';
import { operatorText } from '../engine/errors.js';
import { formatAttemptCauses, skipCode, skipReason } from '../engine/summary.js';

const FEW_UNITS = 8;

export class ProgressPrinter {
  private readonly lastState = new Map<string, string>();
  private readonly lastTenth = new Map<string, number>();
  private tableLines = 0;
  private readonly jobs = new Map<string, JobView>();

  constructor(private readonly out: NodeJS.WriteStream, private readonly total: number) {}

  private get compact(): boolean {
    return this.total > FEW_UNITS && !!this.out.isTTY;
  }

  onEvent(e: BatchEvent): void {
    for (const j of e.jobs) this.jobs.set(j.jobId, j);
    if (this.compact) return this.drawTable(e);
    for (const j of e.jobs) {
      const tenth = j.totalBytes ? Math.floor((j.progressBytes / j.totalBytes) * 10) : 0;
      const changed = this.lastState.get(j.jobId) !== j.state;
      const moved = j.state === 'transferring' && this.total <= FEW_UNITS && tenth !== this.lastTenth.get(j.jobId);
      if (!changed && !moved) continue;
      this.lastState.set(j.jobId, j.state);
      this.lastTenth.set(j.jobId, tenth);
      this.out.write(`${formatUnitLine(j)}\n`);
    }
  }

  private drawTable(e: BatchEvent): void {
    const c = e.batch?.counts;
    const lines: string[] = [];
    if (c) lines.push(`units ${c.total}  running ${c.running}  queued ${c.queued}  passed ${c.passed}  failed ${c.failed}  skipped ${c.skipped}`);
    const cols = Math.max(1, Math.floor((this.out.columns ?? 100) / 26));
    const all = [...this.jobs.values()];
    for (let i = 0; i < all.length; i += cols) {
      lines.push(all.slice(i, i + cols).map((j) => cell(j).padEnd(26)).join(''));
    }
    if (this.tableLines) this.out.write(`\x1b[${this.tableLines}A\x1b[J`);
    this.out.write(lines.join('\n') + '\n');
    this.tableLines = lines.length;
  }
}

function pct(j: JobView): string {
  return j.totalBytes ? `${Math.floor((j.progressBytes / j.totalBytes) * 100)}%` : '';
}

function cell(j: JobView): string {
  const name = (j.unit.name ?? j.unit.address).slice(0, 12);
  const s = j.state === 'transferring' ? pct(j) : j.state === 'failed' ? `FAIL ${j.result}` : j.state;
  return `${name} ${s}`.slice(0, 25);
}

export function formatUnitLine(j: JobView): string {
  const name = j.unit.name ?? j.unit.unitId;
  const base = `${new Date().toISOString().slice(11, 19)} ${name.padEnd(16)} ${j.state.padEnd(12)}`;
  if (j.state === 'transferring') {
    const rate = j.rateBytesPerSec ? ` ${(j.rateBytesPerSec / 1024).toFixed(1)} kB/s` : '';
    return `${base} ${pct(j).padStart(4)} ${j.progressBytes}/${j.totalBytes} B${rate}`;
  }
  const causes = formatAttemptCauses(j.attemptCauses);
  if (j.state === 'passed') {
    const crc = j.confirmed.confirmedBy?.includes('device-crc32') && j.confirmed.crc32 ? `crc32 ${j.confirmed.crc32} (device)` : `crc32 ${j.sent.crc32 ?? '?'} (sent, unconfirmed)`;
    const by = j.confirmed.confirmedBy?.length ? `  confirmed by ${j.confirmed.confirmedBy.join('+')}` : '';
    return `${base} ${j.versionBefore ?? '?'} → ${j.versionAfter ?? '?'}  ${crc}${by} attempts ${j.attempts}${causes ? `  (${causes})` : ''}`;
  }
  if (j.state === 'failed') {
    const hint = operatorText(j.errorCode ?? '', 'en', j.unit);
    return `${base} ${j.result} (${j.errorCode}) ${j.message ?? ''}${causes ? `\n${' '.repeat(30)}${causes}` : ''}${hint ? `\n${' '.repeat(30)}→ ${hint}` : ''}`;
  }
  if (j.state === 'backoff') return `${base} retry after ${j.errorCode}: ${j.message ?? ''}`;
  if (j.state === 'skipped') return `${base} ${skipCode(j)}: ${skipReason(j)}`;
  return base;
}

/**
 * The end-of-batch lines for units an operator must look at: every unit that did not pass, and
 * every passed unit that needed more than one attempt, with its code, reason and attempt causes.
 */
export function formatUnitOutcomes(s: FlashSummary): string[] {
  const lines: string[] = [];
  for (const u of s.units) {
    if (u.result === 'ok' && !u.attemptCauses) continue;
    const parts = [`  ${u.unit}`, u.result, u.code ?? ''];
    if (u.reason) parts.push(`— ${u.reason}`);
    // One failed attempt whose cause is the code already shown says nothing new.
    if (u.attemptCauses && u.attemptCauses !== `attempt 1: ${u.code}`) parts.push(`(${u.attemptCauses})`);
    if (u.result === 'ok' && u.confirmedBy?.length) parts.push(`confirmed by ${u.confirmedBy.join('+')}`);
    lines.push(parts.filter(Boolean).join(' '));
  }
  return lines;
}
