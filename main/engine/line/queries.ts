/**
 * QA questions across the line, answered from the line database: which image a serial number or
 * MAC got (on which station, with which hashes), the batches of a station in a time window, and a
 * report of every station's units with yield per station, per product and per day (csv/json/html).
 */
import type pg from 'pg';
import type { BatchView, JobView } from '../../contract/dto.js';
import { StationError } from '../errors.js';

export interface LineUnit {
  stationId: string;
  batchId: string;
  jobId: string;
  unitId: string;
  serialNumber: string | null;
  address: string;
  protocol: string | null;
  product: string | null;
  packageVersion: string | null;
  packageId: string | null;
  operator: string | null;
  state: string;
  result: string | null;
  errorCode: string | null;
  message: string | null;
  attempts: number;
  versionBefore: string | null;
  versionAfter: string | null;
  sentCrc32: string | null;
  sentMd5: string | null;
  confirmedCrc32: string | null;
  confirmedMd5: string | null;
  startedAt: string | null;
  endedAt: string | null;
  /** The journal's hash-chain fields of this row, when the station's journal keeps them. */
  chain?: Record<string, unknown>;
}

export interface LineBatch {
  stationId: string;
  batchId: string;
  state: string;
  operator: string | null;
  product: string | null;
  packageVersion: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  other: number;
}

export interface YieldRow {
  key: string;
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  /** passed / (passed + failed); null when no unit was flashed or failed. */
  yieldPct: number | null;
}

export interface LineReport {
  from: string;
  to: string;
  generatedAt: string;
  units: LineUnit[];
  perStation: YieldRow[];
  perProduct: YieldRow[];
  perDay: YieldRow[];
}

/** `2026-12-01` or any ISO time → ISO string; refuses anything else (no silent ignore). */
export function parseTime(v: string, name: string): string {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T00:00:00Z`) : new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime())) throw new StationError('CONFIG_INVALID', `--${name} "${v}": expected a date (YYYY-MM-DD) or an ISO time`);
  return d.toISOString();
}

/** MAC or BLE address in any notation → 12 lowercase hex digits (or null when it is not one). */
export function normalizeMac(v: string): string | null {
  const hex = v.toLowerCase().replace(/[^0-9a-f]/g, '');
  return hex.length === 12 && /^[0-9a-f:.\-\s]+$/i.test(v) ? hex : null;
}

const UNIT_SELECT = `
SELECT j.station_id, j.batch_id, j.job_id, j.unit_id, j.serial_number, j.address, j.unit->>'protocol' AS protocol,
       b.package->'components'->0->>'component' AS product, b.package->'components'->0->>'version' AS package_version,
       b.package->>'id' AS package_id, b.operator, j.state, j.result, j.error_code, j.message, j.attempts,
       j.version_before, j.version_after, j.sent_crc32, j.sent_md5, j.confirmed_crc32, j.confirmed_md5,
       j.started_at, j.ended_at, j.row_data
  FROM line_jobs j
  LEFT JOIN line_batches b ON b.station_id = j.station_id AND b.batch_id = j.batch_id`;

const CHAIN_KEYS = /hash|chain|prev/i;

function unitFromRow(r: Record<string, unknown>): LineUnit {
  const data = (r.row_data ?? {}) as Record<string, unknown>;
  const chain = Object.fromEntries(Object.entries(data).filter(([k]) => CHAIN_KEYS.test(k)));
  const u: LineUnit = {
    stationId: r.station_id as string,
    batchId: r.batch_id as string,
    jobId: r.job_id as string,
    unitId: r.unit_id as string,
    serialNumber: (r.serial_number as string | null) ?? null,
    address: r.address as string,
    protocol: (r.protocol as string | null) ?? null,
    product: (r.product as string | null) ?? null,
    packageVersion: (r.package_version as string | null) ?? null,
    packageId: (r.package_id as string | null) ?? null,
    operator: (r.operator as string | null) ?? null,
    state: r.state as string,
    result: (r.result as string | null) ?? null,
    errorCode: (r.error_code as string | null) ?? null,
    message: (r.message as string | null) ?? null,
    attempts: Number(r.attempts ?? 0),
    versionBefore: (r.version_before as string | null) ?? null,
    versionAfter: (r.version_after as string | null) ?? null,
    sentCrc32: (r.sent_crc32 as string | null) ?? null,
    sentMd5: (r.sent_md5 as string | null) ?? null,
    confirmedCrc32: (r.confirmed_crc32 as string | null) ?? null,
    confirmedMd5: (r.confirmed_md5 as string | null) ?? null,
    startedAt: (r.started_at as string | null) ?? null,
    endedAt: (r.ended_at as string | null) ?? null,
  };
  if (Object.keys(chain).length) u.chain = chain;
  return u;
}

/** Every job of a unit across the line, newest first: by serial number or by MAC/address. */
export async function findUnits(client: pg.ClientBase, by: { serial?: string; mac?: string }): Promise<LineUnit[]> {
  if (!!by.serial === !!by.mac) throw new StationError('CONFIG_INVALID', 'give exactly one of --serial SN or --mac MAC');
  if (by.serial) {
    const r = await client.query(`${UNIT_SELECT} WHERE j.serial_number = $1 ORDER BY j.ended_at DESC NULLS LAST, j.started_at DESC NULLS LAST`, [by.serial]);
    return r.rows.map(unitFromRow);
  }
  const mac = normalizeMac(by.mac!);
  if (!mac) throw new StationError('CONFIG_INVALID', `--mac "${by.mac}": expected 6 bytes, e.g. AA:BB:CC:DD:EE:FF`);
  const r = await client.query(
    `${UNIT_SELECT} WHERE regexp_replace(lower(j.address), '[^0-9a-f]', '', 'g') = $1
        OR regexp_replace(lower(COALESCE(j.unit->>'mac', '')), '[^0-9a-f]', '', 'g') = $1
     ORDER BY j.ended_at DESC NULLS LAST, j.started_at DESC NULLS LAST`,
    [mac],
  );
  return r.rows.map(unitFromRow);
}

/** Batches created in [from, to) — of one station, or of every station. */
export async function listLineBatches(client: pg.ClientBase, f: { station?: string; from?: string; to?: string }): Promise<LineBatch[]> {
  const r = await client.query(
    `SELECT b.station_id, b.batch_id, b.state, b.operator, b.package->'components'->0->>'component' AS product,
            b.package->'components'->0->>'version' AS package_version, b.created_at, b.started_at, b.ended_at,
            COUNT(j.job_id)::int AS total,
            COUNT(*) FILTER (WHERE j.state = 'passed')::int AS passed,
            COUNT(*) FILTER (WHERE j.state = 'failed')::int AS failed,
            COUNT(*) FILTER (WHERE j.state = 'skipped')::int AS skipped
       FROM line_batches b
       LEFT JOIN line_jobs j ON j.station_id = b.station_id AND j.batch_id = b.batch_id
      WHERE ($1::text IS NULL OR b.station_id = $1)
        AND ($2::timestamptz IS NULL OR b.created_at::timestamptz >= $2)
        AND ($3::timestamptz IS NULL OR b.created_at::timestamptz < $3)
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
      ORDER BY b.created_at DESC`,
    [f.station ?? null, f.from ?? null, f.to ?? null],
  );
  return r.rows.map((x) => ({
    stationId: x.station_id,
    batchId: x.batch_id,
    state: x.state,
    operator: x.operator,
    product: x.product,
    packageVersion: x.package_version,
    createdAt: x.created_at,
    startedAt: x.started_at,
    endedAt: x.ended_at,
    total: x.total,
    passed: x.passed,
    failed: x.failed,
    skipped: x.skipped,
    other: x.total - x.passed - x.failed - x.skipped,
  }));
}

function yieldRows(units: LineUnit[], keyOf: (u: LineUnit) => string): YieldRow[] {
  const m = new Map<string, YieldRow>();
  for (const u of units) {
    const k = keyOf(u);
    const row = m.get(k) ?? { key: k, total: 0, passed: 0, failed: 0, skipped: 0, yieldPct: null };
    row.total++;
    if (u.state === 'passed') row.passed++;
    else if (u.state === 'failed') row.failed++;
    else if (u.state === 'skipped') row.skipped++;
    m.set(k, row);
  }
  return [...m.values()]
    .map((r) => ({ ...r, yieldPct: r.passed + r.failed > 0 ? Math.round((r.passed / (r.passed + r.failed)) * 10_000) / 100 : null }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

/** Every station's units that ended in [from, to), with yield per station, per product and per day (UTC). */
export async function lineReport(client: pg.ClientBase, from: string, to: string): Promise<LineReport> {
  const r = await client.query(
    `${UNIT_SELECT} WHERE j.ended_at IS NOT NULL AND j.ended_at::timestamptz >= $1 AND j.ended_at::timestamptz < $2
     ORDER BY j.station_id, j.ended_at`,
    [from, to],
  );
  const units = r.rows.map(unitFromRow);
  return {
    from,
    to,
    generatedAt: new Date().toISOString(),
    units,
    perStation: yieldRows(units, (u) => u.stationId),
    perProduct: yieldRows(units, (u) => `${u.product ?? '?'} ${u.packageVersion ?? ''}`.trim()),
    perDay: yieldRows(units, (u) => (u.endedAt ?? '').slice(0, 10)),
  };
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  // Leading = + - @ would run as a formula in a spreadsheet.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

const UNIT_COLUMNS: (keyof LineUnit)[] = [
  'stationId', 'batchId', 'jobId', 'unitId', 'serialNumber', 'address', 'protocol', 'product', 'packageVersion', 'state', 'result',
  'errorCode', 'attempts', 'versionBefore', 'versionAfter', 'sentCrc32', 'sentMd5', 'confirmedCrc32', 'confirmedMd5', 'startedAt', 'endedAt', 'operator', 'message',
];

export function renderLineReportCsv(r: LineReport): string {
  const lines: string[] = [];
  lines.push(`# line report ${r.from} .. ${r.to}, generated ${r.generatedAt}`);
  lines.push(['section', 'key', 'total', 'passed', 'failed', 'skipped', 'yieldPct'].join(','));
  for (const [name, rows] of [['station', r.perStation], ['product', r.perProduct], ['day', r.perDay]] as const) {
    for (const y of rows) lines.push([name, y.key, y.total, y.passed, y.failed, y.skipped, y.yieldPct ?? ''].map(csvCell).join(','));
  }
  lines.push('');
  lines.push(UNIT_COLUMNS.join(','));
  for (const u of r.units) lines.push(UNIT_COLUMNS.map((c) => csvCell(u[c])).join(','));
  return lines.join('\n') + '\n';
}

export function renderLineReportJson(r: LineReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}

function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function renderLineReportHtml(r: LineReport): string {
  const yieldTable = (title: string, rows: YieldRow[]) =>
    `<h2>${esc(title)}</h2><table><thead><tr><th>${esc(title.replace(/^Yield per /, ''))}</th><th>units</th><th>passed</th><th>failed</th><th>skipped</th><th>yield</th></tr></thead><tbody>${rows
      .map((y) => `<tr><td>${esc(y.key)}</td><td>${y.total}</td><td>${y.passed}</td><td>${y.failed}</td><td>${y.skipped}</td><td>${y.yieldPct === null ? '–' : `${y.yieldPct} %`}</td></tr>`)
      .join('')}</tbody></table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Line report ${esc(r.from)} – ${esc(r.to)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style></head>
<body><h1>Line report</h1><p>${esc(r.from)} – ${esc(r.to)} · ${r.units.length} units · generated ${esc(r.generatedAt)}</p>
${yieldTable('Yield per station', r.perStation)}${yieldTable('Yield per product', r.perProduct)}${yieldTable('Yield per day', r.perDay)}
<h2>Units</h2><table><thead><tr>${UNIT_COLUMNS.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>
${r.units.map((u) => `<tr>${UNIT_COLUMNS.map((c) => `<td>${esc(u[c])}</td>`).join('')}</tr>`).join('\n')}
</tbody></table></body></html>
`;
}

/** This station's row on the line (last sync as the database saw it) and every station's. */
export async function lineStations(client: pg.ClientBase): Promise<{ stationId: string; lastSeq: number; lastSyncAt: string; rowsShipped: number }[]> {
  const r = await client.query('SELECT station_id, last_seq, last_sync_at, rows_shipped FROM line_stations ORDER BY station_id');
  return r.rows.map((x) => ({ stationId: x.station_id, lastSeq: Number(x.last_seq), lastSyncAt: new Date(x.last_sync_at).toISOString(), rowsShipped: Number(x.rows_shipped) }));
}

/**
 * One station's batch from the line database as the views History already renders (read-only):
 * the journal's row columns mapped back to BatchView / JobView.
 */
export async function lineBatchDetail(client: pg.ClientBase, stationId: string, batchId: string): Promise<{ batch: BatchView; jobs: JobView[] } | undefined> {
  const b = await client.query<{ row_data: Record<string, unknown> }>("SELECT row_data FROM line_rows WHERE station_id = $1 AND tbl = 'batches' AND row_key = $2", [stationId, batchId]);
  const row = b.rows[0]?.row_data;
  if (!row) return undefined;
  const j = await client.query<{ row_data: Record<string, unknown> }>(
    "SELECT row_data FROM line_rows WHERE station_id = $1 AND tbl = 'jobs' AND batch_id = $2 ORDER BY row_key",
    [stationId, batchId],
  );
  const str = (v: unknown) => (v === null || v === undefined ? undefined : String(v));
  const jobs: JobView[] = j.rows.map(({ row_data: r }) => {
    const job: JobView = {
      jobId: String(r.id),
      batchId,
      unit: JSON.parse(String(r.unit_json ?? '{}')),
      state: r.state as JobView['state'],
      progressBytes: Number(r.progress_bytes ?? 0),
      totalBytes: Number(r.total_bytes ?? 0),
      attempts: Number(r.attempts ?? 0),
      sent: { crc32: str(r.sent_crc32), md5: str(r.sent_md5) },
      confirmed: { crc32: str(r.confirmed_crc32), md5: str(r.confirmed_md5) },
      resumable: !!r.resumable,
    };
    const opt: Partial<JobView> = {
      result: str(r.result) as JobView['result'],
      errorCode: str(r.error_code),
      deviceCode: str(r.device_code),
      message: str(r.message),
      versionBefore: str(r.version_before),
      versionAfter: str(r.version_after),
      startedAt: str(r.started_at),
      endedAt: str(r.ended_at),
      rmaTicket: str(r.rma_ticket),
    };
    for (const [k, v] of Object.entries(opt)) if (v !== undefined) (job as unknown as Record<string, unknown>)[k] = v;
    return job;
  });
  const counts: Record<string, number> = { total: jobs.length, queued: 0, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 };
  for (const x of jobs) {
    if (['passed', 'failed', 'skipped', 'cancelled', 'interrupted', 'queued'].includes(x.state)) counts[x.state] = (counts[x.state] ?? 0) + 1;
    else counts.running = (counts.running ?? 0) + 1; // connecting, transferring, verifying, backoff…
  }
  const batch: BatchView = {
    batchId,
    state: row.state as BatchView['state'],
    operator: String(row.operator ?? ''),
    stationId: String(row.station_id ?? stationId),
    packageInfo: JSON.parse(String(row.package_json ?? '{}')),
    plan: JSON.parse(String(row.plan_json ?? '{}')),
    createdAt: String(row.created_at),
    counts: counts as unknown as BatchView['counts'],
  };
  for (const [k, c] of [['startedAt', 'started_at'], ['endedAt', 'ended_at'], ['pausedReason', 'paused_reason']] as const) {
    const v = str(row[c]);
    if (v !== undefined) (batch as unknown as Record<string, unknown>)[k] = v;
  }
  return { batch, jobs };
}
