/**
 * Ships the journal's outbox to the line database (PostgreSQL, real `pg` client), asynchronously,
 * at least once and idempotently: chunks in outbox order, one transaction each, upserted by
 * station + table + row key where only a newer outbox seq wins. Never throws into the batch: an
 * unreachable database is a warning with the rows waiting, and the loop catches up when it is back.
 */
import pg from 'pg';
import type { Outbox, OutboxRow } from './outbox.js';
import { migratePg } from './pg-schema.js';
import { Napper } from './napper.js';

export interface LineShipperOptions {
  /** postgres://user:pass@host:port/db?sslmode=require … (TLS options as libpq/pg accept them). */
  url: string;
  stationId: string;
  /** How often an idle shipper looks at the outbox. */
  pollMs?: number;
  /** Rows per PostgreSQL transaction. */
  chunkRows?: number;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  /** Called when the line goes from healthy to failing (and every warnEveryMs while it stays down) and when it recovers. */
  onWarning?: (warning: string | null, status: LineShipperStatus) => void;
  warnEveryMs?: number;
}

export interface LineShipperStatus {
  url: string;
  connected: boolean;
  rowsWaiting: number;
  rowsShipped: number;
  /** When the line database last confirmed rows (or, when idle, that it is reachable). */
  lastSyncAt?: string;
  lastError?: string;
  /** "line database unreachable, N rows waiting: …" while shipping fails; absent when healthy. */
  warning?: string;
  schemaVersion?: number;
}

/** The URL without its password, for status and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** Checked before anything connects: a clear message for a URL that can never work. */
export function lineUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `line database URL "${redactUrl(url)}" is not a URL (expected postgres://user:password@host:port/database)`;
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return `line database URL must start with postgres:// or postgresql:// (got ${u.protocol}//)`;
  return null;
}

const UPSERT_SQL = `
INSERT INTO line_rows (station_id, tbl, row_key, batch_id, src_seq, row_data, journaled_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::jsonb[], $7::timestamptz[])
ON CONFLICT (station_id, tbl, row_key) DO UPDATE
   SET batch_id = EXCLUDED.batch_id, src_seq = EXCLUDED.src_seq, row_data = EXCLUDED.row_data,
       journaled_at = EXCLUDED.journaled_at, shipped_at = clock_timestamp()
 WHERE line_rows.src_seq < EXCLUDED.src_seq`;

export class LineShipper {
  private client: pg.Client | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private readonly napper = new Napper();
  private st: LineShipperStatus;
  private lastWarnAt = 0;
  private lastPingAt = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly pollMs: number;
  private readonly chunkRows: number;

  constructor(private readonly outbox: Outbox, private readonly opts: LineShipperOptions) {
    this.pollMs = opts.pollMs ?? 200;
    this.chunkRows = opts.chunkRows ?? 500;
    this.st = { url: redactUrl(opts.url), connected: false, rowsWaiting: 0, rowsShipped: 0 };
  }

  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Ship now instead of at the next poll. */
  poke(): void {
    this.napper.wake();
  }

  status(): LineShipperStatus {
    return { ...this.st, rowsWaiting: this.safeWaiting() };
  }

  /**
   * Stop the loop. With drainMs > 0, first give it that long to empty the outbox (the CLI does
   * this so a batch it just ran reaches the line database before the process exits).
   */
  async stop(drainMs = 0): Promise<void> {
    if (drainMs > 0 && this.loop) {
      const until = Date.now() + drainMs;
      while (Date.now() < until && this.safeWaiting() > 0) {
        this.poke();
        await sleep(100);
      }
    }
    this.stopped = true;
    this.poke();
    await this.loop;
    this.loop = null;
  }

  /** Ship everything waiting now (tests and the bench); throws what the database says. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.shipChunk();
      total += n;
      if (n === 0) return total;
    }
  }

  private safeWaiting(): number {
    try {
      return this.outbox.lineWaiting();
    } catch {
      return this.st.rowsWaiting;
    }
  }

  private async run(): Promise<void> {
    let backoffMs = 250;
    while (!this.stopped) {
      try {
        const n = await this.shipChunk();
        if (n > 0) {
          backoffMs = 250;
          continue;
        }
        if (Date.now() - this.lastPingAt > 5000) {
          // Idle: check the database is still there, so status and warnings stay true.
          await this.connected().then((c) => c.query('SELECT 1'));
          this.lastPingAt = Date.now();
          this.st.lastSyncAt = new Date().toISOString();
        }
        this.healthy();
        backoffMs = 250;
        await this.sleep(this.pollMs);
      } catch (e) {
        this.failed(e);
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 2000);
      }
    }
    await this.disconnect();
  }

  private async connected(): Promise<pg.Client> {
    if (this.client) return this.client;
    const problem = lineUrlProblem(this.opts.url);
    if (problem) throw new Error(problem);
    const client = new pg.Client({
      connectionString: this.opts.url,
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 5000,
      query_timeout: this.opts.queryTimeoutMs ?? 15_000,
      application_name: `flashline ${this.opts.stationId}`.slice(0, 63),
    });
    // A dropped connection must never crash the station: note it, reconnect on the next round.
    client.on('error', (e) => {
      this.st.lastError = e.message;
      if (this.client === client) this.client = null;
      this.st.connected = false;
    });
    try {
      await client.connect();
      this.st.schemaVersion = await migratePg(client);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    this.client = client;
    this.st.connected = true;
    this.lastPingAt = Date.now();
    return client;
  }

  private async disconnect(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.st.connected = false;
    if (c) await c.end().catch(() => undefined);
  }

  /** One chunk at a time, whoever asks (the loop or drain()): one pg client, one transaction. */
  private shipChunk(): Promise<number> {
    const next = this.chain.then(() => this.shipChunkNow());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async shipChunkNow(): Promise<number> {
    const rows = this.outbox.lineRows(this.chunkRows);
    this.st.rowsWaiting = rows.length;
    if (rows.length === 0) return 0;
    const client = await this.connected();
    try {
      await client.query('BEGIN');
      await client.query(UPSERT_SQL, columnsOf(rows));
      const last = rows[rows.length - 1]!;
      await client.query(
        `INSERT INTO line_stations (station_id, last_seq, last_sync_at, rows_shipped) VALUES ($1, $2, clock_timestamp(), $3)
         ON CONFLICT (station_id) DO UPDATE SET last_seq = GREATEST(line_stations.last_seq, EXCLUDED.last_seq),
           last_sync_at = EXCLUDED.last_sync_at, rows_shipped = line_stations.rows_shipped + EXCLUDED.rows_shipped`,
        [this.opts.stationId, last.seq, rows.length],
      );
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      await this.disconnect();
      throw e;
    }
    // Committed: drop them locally. A crash right here replays them, which changes nothing.
    this.outbox.dropLine(rows.map((r) => r.seq));
    this.st.rowsShipped += rows.length;
    this.st.lastSyncAt = new Date().toISOString();
    this.lastPingAt = Date.now();
    this.healthy();
    return rows.length;
  }

  private healthy(): void {
    if (this.st.warning) {
      this.st.warning = undefined;
      this.st.lastError = undefined;
      this.opts.onWarning?.(null, this.status());
    }
  }

  private failed(e: unknown): void {
    const msg = describePgError(e);
    this.st.lastError = msg;
    this.st.connected = false;
    const waiting = this.safeWaiting();
    const first = !this.st.warning;
    this.st.warning = `line database unreachable, ${waiting} rows waiting: ${msg}`;
    if (first || Date.now() - this.lastWarnAt >= (this.opts.warnEveryMs ?? 30_000)) {
      this.lastWarnAt = Date.now();
      this.opts.onWarning?.(this.st.warning, this.status());
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.stopped ? Promise.resolve() : this.napper.sleep(ms);
  }
}

function columnsOf(rows: OutboxRow[]): unknown[] {
  return [
    rows.map((r) => r.stationId),
    rows.map((r) => r.table),
    rows.map((r) => r.rowKey),
    rows.map((r) => r.batchId),
    rows.map((r) => r.seq),
    // jsonb refuses NUL characters; nothing the journal writes should carry one, but never let one block the line.
    rows.map((r) => (r.rowJson.includes('\\u0000') ? r.rowJson.replace(/\\u0000/g, '\\ufffd') : r.rowJson)),
    rows.map((r) => r.journaledAt),
  ];
}

/** A one-line reason an operator or engineer can act on. */
export function describePgError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = err?.message || String(e);
  if (err?.code === '28P01' || err?.code === '28000') return `authentication failed (${msg})`;
  if (err?.code === 'ECONNREFUSED') return `connection refused (${msg})`;
  if (err?.code === 'ENOTFOUND' || err?.code === 'EAI_AGAIN') return `host not found (${msg})`;
  if (err?.code === '3D000') return `database does not exist (${msg})`;
  return msg;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
