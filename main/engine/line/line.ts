/**
 * A station's link to its line: reads the line settings (--line-db, FLASHLINE_LINE_DB, or
 * DATA_DIR/line.json), installs the outbox on the journal, and runs the PostgreSQL shipper and the
 * MES result hook next to the engine. The engine's lineStatus() and pre-flight come from here.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BatchView, JobView } from '../../contract/dto.js';
import { StationError } from '../errors.js';
import { MesDeliverer, mesConfigProblems, preflight, type MesConfig, type MesStatus, type PreflightDecision } from './mes.js';
import { Outbox } from './outbox.js';
import Database from 'better-sqlite3';
import pg from 'pg';
import { LineShipper, describePgError, redactUrl, type LineShipperStatus } from './shipper.js';

export interface LineOptions {
  /** postgres://… of the line database; unset = this station ships nothing. */
  lineDb?: string;
  mes?: MesConfig;
  /** How long closing the engine waits for the outboxes to drain (default 3000 ms). */
  drainOnCloseMs?: number;
  /** Idle poll of the outbox (default 200 ms). */
  pollMs?: number;
}

/** What the UI and `flashline line status` show. */
export interface LineStatus {
  stationId: string;
  /** A line database is configured. */
  configured: boolean;
  url?: string;
  connected: boolean;
  rowsWaiting: number;
  rowsShipped: number;
  lastSyncAt?: string;
  lastError?: string;
  warning?: string;
  schemaVersion?: number;
  mes?: MesStatus & { preflight: boolean; resultHook: boolean; onError: 'block' | 'allow' };
}

export const LINE_SETTINGS_FILE = 'line.json';

/**
 * The line settings in force: `lineDbOverride` (--line-db) over FLASHLINE_LINE_DB over
 * DATA_DIR/line.json; FLASHLINE_MES_SECRET over mes.secret. Bad settings are refused loudly.
 */
export function loadLineOptions(dataDir: string, lineDbOverride?: string, env: NodeJS.ProcessEnv = process.env): LineOptions {
  const file = path.join(dataDir, LINE_SETTINGS_FILE);
  let fromFile: LineOptions = {};
  if (fs.existsSync(file)) {
    try {
      fromFile = JSON.parse(fs.readFileSync(file, 'utf8')) as LineOptions;
    } catch (e) {
      throw new StationError('CONFIG_INVALID', `${file}: not valid JSON (${(e as Error).message})`);
    }
    if (!fromFile || typeof fromFile !== 'object' || Array.isArray(fromFile)) throw new StationError('CONFIG_INVALID', `${file}: expected a JSON object`);
    const known = new Set(['lineDb', 'mes', 'drainOnCloseMs', 'pollMs']);
    const unknown = Object.keys(fromFile).filter((k) => !known.has(k));
    if (unknown.length) throw new StationError('CONFIG_INVALID', `${file}: unknown setting ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  }
  const opts: LineOptions = { ...fromFile };
  const envDb = env.FLASHLINE_LINE_DB?.trim();
  if (lineDbOverride) opts.lineDb = lineDbOverride;
  else if (envDb) opts.lineDb = envDb;
  if (opts.mes && env.FLASHLINE_MES_SECRET) opts.mes = { ...opts.mes, secret: env.FLASHLINE_MES_SECRET };
  checkLineOptions(opts, file);
  return opts;
}

export function checkLineOptions(opts: LineOptions, where = 'line settings'): void {
  const problems: string[] = [];
  if (opts.lineDb !== undefined && typeof opts.lineDb !== 'string') problems.push('lineDb must be a string');
  for (const k of ['drainOnCloseMs', 'pollMs'] as const) {
    const v = opts[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 600_000)) problems.push(`${k} must be an integer 0..600000`);
  }
  if (opts.mes !== undefined) {
    if (!opts.mes || typeof opts.mes !== 'object') problems.push('mes must be an object');
    else {
      const known = new Set(['preflightUrl', 'resultUrl', 'secret', 'onError', 'timeoutMs', 'retryBaseMs', 'retryMaxMs']);
      const unknown = Object.keys(opts.mes).filter((k) => !known.has(k));
      if (unknown.length) problems.push(`unknown mes setting ${unknown.join(', ')}`);
      problems.push(...mesConfigProblems(opts.mes));
    }
  }
  if (problems.length) throw new StationError('CONFIG_INVALID', `${where}: ${problems.join('; ')}`);
}

/** Whether a previous line or MES configuration left outbox triggers in this journal (a cheap read). */
function hasOutboxTriggers(journalFile: string): boolean {
  const db = new Database(journalFile, { readonly: true, fileMustExist: true });
  try {
    return !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND (name LIKE 'line_outbox_%' OR name LIKE 'mes_outbox_%') LIMIT 1").get();
  } finally {
    db.close();
  }
}

export class LineLink {
  private readonly outbox: Outbox;
  private readonly shipper: LineShipper | null;
  private readonly mes: MesDeliverer | null;
  private readonly listeners = new Set<(s: LineStatus) => void>();

  private constructor(journalFile: string, readonly stationId: string, private readonly opts: LineOptions, private readonly log: (line: string) => void) {
    this.outbox = Outbox.open(journalFile, { stationId, line: !!opts.lineDb, mes: !!opts.mes?.resultUrl });
    this.shipper = opts.lineDb
      ? new LineShipper(this.outbox, {
          url: opts.lineDb,
          stationId,
          pollMs: opts.pollMs,
          onWarning: (w) => {
            this.log(w ? `warning: ${w}` : `line database ${redactUrl(opts.lineDb!)} reachable again; shipping`);
            const s = this.status();
            for (const l of this.listeners) {
              try {
                l(s);
              } catch {
                /* a listener's bug must not stop shipping */
              }
            }
          },
        })
      : null;
    this.mes = opts.mes?.resultUrl ? new MesDeliverer(this.outbox, opts.mes, opts.pollMs ?? 200) : null;
    this.shipper?.start();
    this.mes?.start();
  }

  /** Null when the station has neither a line database nor a MES result hook (nothing to install). */
  static start(journalFile: string, stationId: string, opts: LineOptions, log: (line: string) => void): LineLink | null {
    checkLineOptions(opts);
    if (!opts.lineDb && !opts.mes?.resultUrl && !opts.mes?.preflightUrl) {
      // Switched off: drop triggers a previous configuration left, so no outbox grows unread.
      if (fs.existsSync(journalFile) && hasOutboxTriggers(journalFile)) Outbox.open(journalFile, { stationId, line: false, mes: false }).close();
      return null;
    }
    return new LineLink(journalFile, stationId, opts, log);
  }

  get configured(): boolean {
    return !!this.shipper;
  }

  /** A short-lived connection of its own for a read query (the shipper's stays for shipping). */
  async query<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: this.opts.lineDb, connectionTimeoutMillis: 5000, query_timeout: 30_000, application_name: `flashline ${this.stationId} query`.slice(0, 63) });
    c.on('error', () => undefined);
    try {
      await c.connect();
    } catch (e) {
      throw new StationError('LINE_DB_UNREACHABLE', `line database unreachable: ${describePgError(e)}`);
    }
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  get hasPreflight(): boolean {
    return !!this.opts.mes?.preflightUrl;
  }

  preflight(job: JobView, batch: BatchView): Promise<PreflightDecision> {
    return preflight(this.opts.mes ?? {}, this.stationId, job, batch);
  }

  onStatus(cb: (s: LineStatus) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  status(): LineStatus {
    const s: LineShipperStatus | undefined = this.shipper?.status();
    const out: LineStatus = {
      stationId: this.stationId,
      configured: !!this.shipper,
      connected: s?.connected ?? false,
      rowsWaiting: s?.rowsWaiting ?? 0,
      rowsShipped: s?.rowsShipped ?? 0,
    };
    if (s) Object.assign(out, { url: s.url, lastSyncAt: s.lastSyncAt, lastError: s.lastError, warning: s.warning, schemaVersion: s.schemaVersion });
    const m = this.opts.mes;
    if (m) out.mes = { ...(this.mes?.status() ?? { resultsWaiting: 0, delivered: 0 }), preflight: !!m.preflightUrl, resultHook: !!m.resultUrl, onError: m.onError ?? 'block' };
    return out;
  }

  /** Ship now (tests, bench): resolves when the outbox is empty; throws the database's error. */
  async drain(): Promise<number> {
    if (!this.shipper) return 0;
    return this.shipper.drain();
  }

  async close(drainMs = this.opts.drainOnCloseMs ?? 3000): Promise<void> {
    await Promise.all([this.shipper?.stop(drainMs), this.mes?.stop(drainMs)]);
    const s = this.status();
    if (s.configured && s.rowsWaiting > 0) this.log(`warning: ${s.rowsWaiting} rows wait for the line database${s.lastError ? ` (${s.lastError})` : ''}; they ship when the station runs again`);
    if (s.mes?.resultHook && s.mes.resultsWaiting > 0) this.log(`warning: ${s.mes.resultsWaiting} results wait for the MES${s.mes.lastError ? ` (${s.mes.lastError})` : ''}; they are sent when the station runs again`);
    this.outbox.close();
  }
}
