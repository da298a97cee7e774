/**
 * The durable outbox in the station's own SQLite journal: AFTER INSERT/UPDATE triggers on every
 * journal table copy the changed row (as JSON, all columns) into `line_outbox`, and result events
 * for the MES into `mes_outbox`, in the same transaction as the journal write. Generic over tables
 * and columns (built from PRAGMA table_info at start), so the journal's write code is untouched.
 */
import Database from 'better-sqlite3';

/** Tables of our own (and SQLite's) that never ship. */
const OWN_TABLES = new Set(['line_outbox', 'mes_outbox', 'line_outbox_state', 'schema_version']);
const FINAL_JOB_STATES = ['passed', 'failed', 'skipped', 'cancelled'];
const FINAL_BATCH_STATES = ['finished', 'cancelled'];
const NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

export interface OutboxRow {
  seq: number;
  stationId: string;
  table: string;
  rowKey: string;
  batchId: string | null;
  rowJson: string;
  journaledAt: string;
}

export interface MesOutboxRow {
  seq: number;
  id: string;
  kind: 'unit' | 'batch';
  payloadJson: string;
  attempts: number;
  nextAt: number;
  lastError: string | null;
}

export interface OutboxOptions {
  stationId: string;
  /** Ship journal rows to the line database (line_outbox triggers). */
  line: boolean;
  /** Queue unit and batch results for the MES result hook (mes_outbox triggers). */
  mes: boolean;
}

const OUTBOX_SQL = `
CREATE TABLE IF NOT EXISTS line_outbox (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  station_id   TEXT NOT NULL,
  tbl          TEXT NOT NULL,
  row_key      TEXT NOT NULL,
  batch_id     TEXT,
  row_json     TEXT NOT NULL,
  journaled_at TEXT NOT NULL,
  UNIQUE (station_id, tbl, row_key)
);
CREATE TABLE IF NOT EXISTS mes_outbox (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  kind         TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  next_at      INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT
);
CREATE TABLE IF NOT EXISTS line_outbox_state (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

interface ColumnInfo {
  name: string;
  pk: number;
}

/** SQL string literal. */
function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** The journal tables that ship: every user table except the outbox's own. */
export function journalTables(db: Database.Database): string[] {
  return db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all()
    .map((r) => r.name)
    .filter((n) => !OWN_TABLES.has(n));
}

interface TableShape {
  table: string;
  /** json_object(...) over every column of NEW (or of a plain row when prefix is ''). */
  rowJson(prefix: string): string;
  rowKey(prefix: string): string;
  batchId(prefix: string): string;
}

function shapeOf(db: Database.Database, table: string): TableShape {
  const cols = db.prepare<[], ColumnInfo>(`PRAGMA table_info(${ident(table)})`).all();
  const names = cols.map((c) => c.name);
  const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
  const withoutRowid = /WITHOUT\s+ROWID/i.test(
    db.prepare<[string], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)?.sql ?? '',
  );
  const col = (p: string, c: string) => (p ? `${p}.${ident(c)}` : ident(c));
  return {
    table,
    // json_object refuses BLOBs, and a failing trigger would fail the journal write: ship them as hex.
    rowJson: (p) => `json_object(${names.map((c) => `${lit(c)}, CASE WHEN typeof(${col(p, c)}) = 'blob' THEN hex(${col(p, c)}) ELSE ${col(p, c)} END`).join(', ')})`,
    rowKey: (p) => {
      if (pk.length === 1) return `CAST(${col(p, pk[0]!)} AS TEXT)`;
      if (pk.length > 1) return `json_array(${pk.map((c) => col(p, c)).join(', ')})`;
      return withoutRowid ? `json_array(${names.map((c) => col(p, c)).join(', ')})` : `CAST(${p ? p + '.' : ''}rowid AS TEXT)`;
    },
    batchId: (p) => {
      if (table === 'batches' && names.includes('id')) return col(p, 'id');
      if (names.includes('batch_id')) return col(p, 'batch_id');
      if (names.includes('job_id')) return `(SELECT batch_id FROM jobs WHERE jobs.id = ${col(p, 'job_id')})`;
      return 'NULL';
    },
  };
}

/**
 * Create (or re-create, so new columns ship too) the outbox tables and triggers on the journal
 * file. The first time a table gets its trigger, its existing rows are queued too (backfill), so
 * a station that joins a line ships its history. Returns the tables that ship.
 */
export function installOutbox(db: Database.Database, opts: OutboxOptions): string[] {
  db.exec(OUTBOX_SQL);
  const tables = journalTables(db);
  const station = lit(opts.stationId);
  const getState = db.prepare<[string], { value: string }>('SELECT value FROM line_outbox_state WHERE key = ?');
  const setState = db.prepare('INSERT INTO line_outbox_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  db.transaction(() => {
    // Drop every trigger we made before: a table may have gained columns, or a hook been switched off.
    for (const { name } of db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'trigger' AND (name LIKE 'line_outbox_%' OR name LIKE 'mes_outbox_%')").all()) {
      db.exec(`DROP TRIGGER IF EXISTS ${ident(name)}`);
    }
    if (opts.line) {
      for (const table of tables) {
        const s = shapeOf(db, table);
        // DELETE then INSERT, not INSERT OR REPLACE: inside a trigger the outer statement's conflict
        // policy wins (the journal's upserts would turn REPLACE into ABORT). The newest version of a
        // row takes a new seq, so it ships after everything journaled before it.
        const insert = (p: string) =>
          `DELETE FROM line_outbox WHERE station_id = ${station} AND tbl = ${lit(table)} AND row_key = ${s.rowKey(p)};
           INSERT INTO line_outbox (station_id, tbl, row_key, batch_id, row_json, journaled_at)
           VALUES (${station}, ${lit(table)}, ${s.rowKey(p)}, ${s.batchId(p)}, ${s.rowJson(p)}, ${NOW_SQL})`;
        for (const ev of ['INSERT', 'UPDATE']) {
          db.exec(`CREATE TRIGGER ${ident(`line_outbox_${table}_${ev.toLowerCase()}`)} AFTER ${ev} ON ${ident(table)} BEGIN ${insert('NEW')}; END`);
        }
        const key = `backfilled:${opts.stationId}:${table}`;
        if (!getState.get(key)) {
          db.exec(`INSERT OR REPLACE INTO line_outbox (station_id, tbl, row_key, batch_id, row_json, journaled_at)
                   SELECT ${station}, ${lit(table)}, ${s.rowKey('')}, ${s.batchId('')}, ${s.rowJson('')}, ${NOW_SQL} FROM ${ident(table)}`);
          setState.run(key, new Date().toISOString());
        }
      }
    }
    if (opts.mes && tables.includes('jobs') && tables.includes('batches')) installMesTriggers(db, opts.stationId);
  })();
  return opts.line ? tables : [];
}

/**
 * Result events for the MES: a unit reaching a final state (id station:job:transition-count, so
 * a retried unit's new result is a new event) and a batch finishing (id station:batch:ended_at).
 */
function installMesTriggers(db: Database.Database, stationId: string): void {
  const station = lit(stationId);
  const jobs = shapeOf(db, 'jobs');
  const finals = FINAL_JOB_STATES.map(lit).join(', ');
  // Plain INSERT … WHERE NOT EXISTS: conflict clauses inside triggers yield to the outer statement's.
  const unitId = (p: string) => `${station} || ':' || ${p}.id || ':' || (SELECT COUNT(*) FROM transitions WHERE transitions.job_id = ${p}.id)`;
  const unitEvent = (p: string) => `INSERT INTO mes_outbox (id, kind, payload_json)
      SELECT ${unitId(p)}, 'unit', json_object('stationId', ${station}, 'job', ${jobs.rowJson(p)}, 'at', ${NOW_SQL})
      WHERE NOT EXISTS (SELECT 1 FROM mes_outbox WHERE id = ${unitId(p)})`;
  db.exec(`CREATE TRIGGER mes_outbox_jobs_insert AFTER INSERT ON jobs WHEN NEW.state IN (${finals}) BEGIN ${unitEvent('NEW')}; END`);
  db.exec(`CREATE TRIGGER mes_outbox_jobs_update AFTER UPDATE ON jobs WHEN NEW.state IN (${finals}) AND OLD.state IS NOT NEW.state BEGIN ${unitEvent('NEW')}; END`);
  const batches = shapeOf(db, 'batches');
  const batchEventId = `${station} || ':' || NEW.id || ':' || NEW.state || ':' || COALESCE(NEW.ended_at, '')`;
  db.exec(`CREATE TRIGGER mes_outbox_batches_update AFTER UPDATE ON batches
    WHEN NEW.state IN (${FINAL_BATCH_STATES.map(lit).join(', ')}) AND OLD.state IS NOT NEW.state
    BEGIN INSERT INTO mes_outbox (id, kind, payload_json)
      SELECT ${batchEventId},
      'batch',
      json_object('stationId', ${station}, 'batch', ${batches.rowJson('NEW')},
        'counts', (SELECT json_group_object(state, n) FROM (SELECT state, COUNT(*) AS n FROM jobs WHERE batch_id = NEW.id GROUP BY state)),
        'at', ${NOW_SQL})
      WHERE NOT EXISTS (SELECT 1 FROM mes_outbox WHERE id = ${batchEventId});
    END`);
}

/** The station side of the outbox: read the oldest rows, drop them once the line database has them. */
export class Outbox {
  private readonly selectLine: Database.Statement<[number], { seq: number; station_id: string; tbl: string; row_key: string; batch_id: string | null; row_json: string; journaled_at: string }>;
  private readonly countLine: Database.Statement<[], { n: number }>;
  private readonly countMes: Database.Statement<[], { n: number }>;
  private readonly selectMes: Database.Statement<[number, number], { seq: number; id: string; kind: string; payload_json: string; attempts: number; next_at: number; last_error: string | null }>;

  private constructor(readonly db: Database.Database) {
    this.selectLine = db.prepare('SELECT seq, station_id, tbl, row_key, batch_id, row_json, journaled_at FROM line_outbox ORDER BY seq LIMIT ?');
    this.countLine = db.prepare('SELECT COUNT(*) AS n FROM line_outbox');
    this.countMes = db.prepare('SELECT COUNT(*) AS n FROM mes_outbox');
    this.selectMes = db.prepare('SELECT * FROM mes_outbox WHERE next_at <= ? ORDER BY seq LIMIT ?');
  }

  /** Open the journal file on a connection of its own and install the triggers. */
  static open(file: string, opts: OutboxOptions): Outbox {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    installOutbox(db, opts);
    return new Outbox(db);
  }

  lineRows(limit: number): OutboxRow[] {
    return this.selectLine.all(limit).map((r) => ({
      seq: r.seq,
      stationId: r.station_id,
      table: r.tbl,
      rowKey: r.row_key,
      batchId: r.batch_id,
      rowJson: r.row_json,
      journaledAt: r.journaled_at,
    }));
  }

  /** Remove shipped rows; a row re-written since it was read has a new seq and stays. */
  dropLine(seqs: number[]): void {
    if (seqs.length === 0) return;
    const del = this.db.prepare('DELETE FROM line_outbox WHERE seq = ?');
    this.db.transaction(() => {
      for (const s of seqs) del.run(s);
    })();
  }

  lineWaiting(): number {
    return this.countLine.get()?.n ?? 0;
  }

  mesWaiting(): number {
    return this.countMes.get()?.n ?? 0;
  }

  /** MES events due now (nextAt in ms since the epoch), oldest first. */
  mesDue(nowMs: number, limit: number): MesOutboxRow[] {
    return this.selectMes.all(nowMs, limit).map((r) => ({
      seq: r.seq,
      id: r.id,
      kind: r.kind as 'unit' | 'batch',
      payloadJson: r.payload_json,
      attempts: r.attempts,
      nextAt: r.next_at,
      lastError: r.last_error,
    }));
  }

  /** Milliseconds since the epoch when the next MES event is due, or null when none waits. */
  mesNextAt(): number | null {
    return this.db.prepare<[], { t: number | null }>('SELECT MIN(next_at) AS t FROM mes_outbox').get()?.t ?? null;
  }

  mesDelivered(seq: number): void {
    this.db.prepare('DELETE FROM mes_outbox WHERE seq = ?').run(seq);
  }

  mesFailed(seq: number, nextAtMs: number, error: string): void {
    this.db.prepare('UPDATE mes_outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE seq = ?').run(nextAtMs, error.slice(0, 500), seq);
  }

  close(): void {
    this.db.close();
  }
}
