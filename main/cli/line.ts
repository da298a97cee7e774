/**
 * `flashline line status|units|batches|report`: this station's shipping state, and QA questions
 * across every station of the line, answered from the line database (PostgreSQL).
 * Exit status: 0 ok, 1 the line database could not be reached, 2 bad usage/input.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { StationError } from '../engine/errors.js';
import { loadLineOptions } from '../engine/line/line.js';
import { findUnits, lineReport, lineStations, listLineBatches, parseTime, renderLineReportCsv, renderLineReportHtml, renderLineReportJson } from '../engine/line/queries.js';
import { describePgError, lineUrlProblem, redactUrl } from '../engine/line/shipper.js';
import { openSettings } from '../engine/settings/settings.js';
import { cliDataDir, reportCliError } from './common.js';

const USAGE = `flashline line — the line database (PostgreSQL) and this station's link to it

  flashline line status [--json]                          rows waiting here, last sync, every station's last sync
  flashline line units (--serial SN | --mac MAC) [--json] every job of that unit on any station
  flashline line batches [--station S] [--from T] [--to T] [--json]
  flashline line report --from T --to T --format csv|json|html [--out FILE]
                                                          every station's units, yield per station, product and day
  T: YYYY-MM-DD (UTC midnight) or an ISO time; --to is exclusive
  common: --line-db URL (else $FLASHLINE_LINE_DB, else DATA_DIR/line.json "lineDb")
          --data-dir DIR (default $FLASHLINE_HOME or ~/.flashline)`;

const OPTIONS = {
  'line-db': { type: 'string' },
  'data-dir': { type: 'string' },
  station: { type: 'string' },
  serial: { type: 'string' },
  mac: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export async function cmdLine(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [sub, ...extra] = positionals;
  if (!sub || v.help) {
    console.log(USAGE);
    return sub ? 0 : 2;
  }
  if (extra.length) {
    console.error(`unexpected argument "${extra[0]}"\n\n${USAGE}`);
    return 2;
  }
  try {
    switch (sub) {
      case 'status':
        return await status(v);
      case 'units':
        return await withDb(v, async (c) => {
          const units = await findUnits(c, { serial: v.serial, mac: v.mac });
          if (v.json) console.log(JSON.stringify(units));
          else if (!units.length) console.log(`no unit ${v.serial ?? v.mac} on the line`);
          else
            for (const u of units)
              console.log(
                `${u.serialNumber ?? u.unitId}  ${u.stationId}  ${u.batchId}  ${u.state.padEnd(9)} ${u.product ?? '?'} ${u.packageVersion ?? ''}  ` +
                  `${u.versionBefore ?? '?'} → ${u.versionAfter ?? '?'}  sent crc32 ${u.sentCrc32 ?? '-'} md5 ${u.sentMd5 ?? '-'}  ` +
                  `confirmed crc32 ${u.confirmedCrc32 ?? '-'} md5 ${u.confirmedMd5 ?? '-'}  ${u.endedAt ?? ''}${u.errorCode ? `  ${u.errorCode}: ${u.message ?? ''}` : ''}`,
              );
          return 0;
        });
      case 'batches': {
        const from = v.from ? parseTime(v.from, 'from') : undefined;
        const to = v.to ? parseTime(v.to, 'to') : undefined;
        return await withDb(v, async (c) => {
          const list = await listLineBatches(c, { station: v.station, from, to });
          if (v.json) console.log(JSON.stringify(list));
          else if (!list.length) console.log('no batches on the line in that window');
          else
            for (const b of list)
              console.log(`${b.stationId}  ${b.batchId}  ${b.state.padEnd(11)} ${b.createdAt}  ${b.product ?? '?'} ${b.packageVersion ?? ''}  ${b.total} units: ${b.passed} passed, ${b.failed} failed, ${b.skipped} skipped`);
          return 0;
        });
      }
      case 'report': {
        if (!v.from || !v.to) throw new StationError('CONFIG_INVALID', 'line report needs --from and --to');
        const from = parseTime(v.from, 'from');
        const to = parseTime(v.to, 'to');
        const format = v.format ?? 'html';
        if (format !== 'csv' && format !== 'json' && format !== 'html') throw new StationError('CONFIG_INVALID', '--format must be csv, json or html');
        return await withDb(v, async (c) => {
          const r = await lineReport(c, from, to);
          const text = format === 'csv' ? renderLineReportCsv(r) : format === 'json' ? renderLineReportJson(r) : renderLineReportHtml(r);
          if (v.out) {
            fs.writeFileSync(v.out, text);
            console.error(`line report written to ${v.out} (${r.units.length} units)`);
          } else process.stdout.write(text);
          return 0;
        });
      }
      default:
        console.error(`unknown line command "${sub}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    return reportCliError(e);
  }
}

function dataDir(v: Values): string {
  return cliDataDir(v['data-dir']);
}

function lineUrl(v: Values): string {
  const url = loadLineOptions(dataDir(v), v['line-db']).lineDb;
  if (!url) throw new StationError('CONFIG_INVALID', 'no line database: give --line-db URL, set FLASHLINE_LINE_DB, or "lineDb" in DATA_DIR/line.json');
  const problem = lineUrlProblem(url);
  if (problem) throw new StationError('CONFIG_INVALID', problem);
  return url;
}

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, query_timeout: 60_000, application_name: 'flashline line' });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** Run a query command; an unreachable database or a database no station has shipped to is exit 1. */
async function withDb(v: Values, fn: (c: pg.Client) => Promise<number>): Promise<number> {
  const url = lineUrl(v);
  let c: pg.Client;
  try {
    c = await connect(url);
  } catch (e) {
    console.error(`line database unreachable (${redactUrl(url)}): ${describePgError(e)}`);
    return 1;
  }
  try {
    return await fn(c);
  } catch (e) {
    if ((e as { code?: string }).code === '42P01') {
      console.error(`the line database ${redactUrl(url)} has no Flashline tables yet: no station has shipped to it`);
      return 1;
    }
    if (e instanceof StationError) throw e;
    console.error(`line database error: ${describePgError(e)}`);
    return 1;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Rows waiting in this station's outboxes, read straight from the journal file (no engine started). */
function waitingHere(dir: string): { rowsWaiting: number; resultsWaiting: number } {
  const file = path.join(dir, 'journal.sqlite');
  if (!fs.existsSync(file)) return { rowsWaiting: 0, resultsWaiting: 0 };
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const has = (t: string) => !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t);
    const count = (t: string) => (has(t) ? (db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM ${t}`).get()?.n ?? 0) : 0);
    return { rowsWaiting: count('line_outbox'), resultsWaiting: count('mes_outbox') };
  } finally {
    db.close();
  }
}

async function status(v: Values): Promise<number> {
  const dir = dataDir(v);
  const url = lineUrl(v);
  const stationId = v.station ?? (fs.existsSync(dir) ? openSettings(dir).get('stationId') : 'station-1');
  const here = waitingHere(dir);
  const out: Record<string, unknown> = { stationId, url: redactUrl(url), ...here, reachable: false };
  let code = 0;
  try {
    const c = await connect(url);
    try {
      out.reachable = true;
      let stations: Awaited<ReturnType<typeof lineStations>> = [];
      try {
        stations = await lineStations(c);
      } catch (e) {
        if ((e as { code?: string }).code !== '42P01') throw e;
      }
      out.stations = stations;
      out.lastSyncAt = stations.find((s) => s.stationId === stationId)?.lastSyncAt ?? null;
    } finally {
      await c.end().catch(() => undefined);
    }
  } catch (e) {
    out.lastError = describePgError(e);
    out.warning = `line database unreachable, ${here.rowsWaiting} rows waiting: ${out.lastError}`;
    code = 1;
  }
  if (v.json) console.log(JSON.stringify(out));
  else {
    console.log(`station ${stationId} → ${out.url}`);
    console.log(`rows waiting here: ${here.rowsWaiting}${here.resultsWaiting ? `, MES results waiting: ${here.resultsWaiting}` : ''}`);
    if (out.warning) console.log(`warning: ${out.warning}`);
    else {
      console.log(`last sync: ${out.lastSyncAt ?? 'never'}`);
      for (const s of (out.stations as { stationId: string; lastSyncAt: string; rowsShipped: number }[]) ?? []) console.log(`  ${s.stationId.padEnd(20)} last sync ${s.lastSyncAt}  ${s.rowsShipped} rows shipped`);
    }
  }
  return code;
}
