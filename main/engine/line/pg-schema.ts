/**
 * The line database's PostgreSQL schema as ordered migrations, applied on start under an advisory
 * lock (several stations may start at once). One generic table keeps every shipped journal row,
 * keyed by station + table + row key; typed views on top serve the QA queries.
 * Append new migrations; never edit one that has shipped.
 */
import type pg from 'pg';

export interface PgMigration {
  version: number;
  sql: string;
}

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE line_rows (
  station_id   text        NOT NULL,
  tbl          text        NOT NULL,
  row_key      text        NOT NULL,
  batch_id     text,
  -- the station's outbox sequence number of this version of the row: newer wins, replays change nothing
  src_seq      bigint      NOT NULL,
  row_data     jsonb       NOT NULL,
  journaled_at timestamptz NOT NULL,
  shipped_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (station_id, tbl, row_key)
);
CREATE INDEX line_rows_batch ON line_rows (station_id, batch_id);
CREATE INDEX line_rows_tbl ON line_rows (tbl);
CREATE INDEX line_rows_serial ON line_rows ((row_data->>'serial_number')) WHERE tbl = 'jobs';
CREATE INDEX line_rows_address ON line_rows ((lower(row_data->>'address'))) WHERE tbl = 'jobs';

CREATE TABLE line_stations (
  station_id   text        PRIMARY KEY,
  last_seq     bigint      NOT NULL DEFAULT 0,
  last_sync_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  rows_shipped bigint      NOT NULL DEFAULT 0
);

CREATE VIEW line_batches AS
SELECT station_id,
       row_key                      AS batch_id,
       row_data->>'state'           AS state,
       row_data->>'operator'        AS operator,
       (row_data->>'package_json')::jsonb AS package,
       row_data->>'created_at'      AS created_at,
       row_data->>'started_at'      AS started_at,
       row_data->>'ended_at'        AS ended_at,
       row_data,
       shipped_at
  FROM line_rows WHERE tbl = 'batches';

CREATE VIEW line_jobs AS
SELECT station_id,
       row_key                        AS job_id,
       row_data->>'batch_id'          AS batch_id,
       row_data->>'unit_id'           AS unit_id,
       row_data->>'serial_number'     AS serial_number,
       row_data->>'address'           AS address,
       (row_data->>'unit_json')::jsonb AS unit,
       row_data->>'state'             AS state,
       row_data->>'result'            AS result,
       row_data->>'error_code'        AS error_code,
       row_data->>'message'           AS message,
       row_data->>'version_before'    AS version_before,
       row_data->>'version_after'     AS version_after,
       row_data->>'sent_crc32'        AS sent_crc32,
       row_data->>'sent_md5'          AS sent_md5,
       row_data->>'confirmed_crc32'   AS confirmed_crc32,
       row_data->>'confirmed_md5'     AS confirmed_md5,
       (row_data->>'attempts')::int   AS attempts,
       row_data->>'started_at'        AS started_at,
       row_data->>'ended_at'          AS ended_at,
       row_data,
       shipped_at
  FROM line_rows WHERE tbl = 'jobs';
`,
  },
];

/** Apply the migrations the database lacks, in order, in one transaction under an advisory lock. */
export async function migratePg(client: pg.Client | pg.PoolClient): Promise<number> {
  await client.query('BEGIN');
  try {
    // One station migrates at a time; the others wait here and then see the versions applied.
    await client.query('SELECT pg_advisory_xact_lock(7260114)');
    await client.query('CREATE TABLE IF NOT EXISTS line_schema_version (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const have = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM line_schema_version');
    let current = have.rows[0]?.v ?? 0;
    for (const m of PG_MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO line_schema_version (version) VALUES ($1)', [m.version]);
      current = m.version;
    }
    await client.query('COMMIT');
    return current;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
