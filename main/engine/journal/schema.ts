/**
 * The journal's SQLite schema as an ordered list of migrations. A database records the highest
 * migration applied in `schema_version`; opening runs the rest, each in its own transaction.
 * Append new migrations; never edit one that has shipped (stations keep their databases).
 */

import type Database from 'better-sqlite3';
import { GENESIS, backfillChain } from './chain.js';

export interface Migration {
  version: number;
  sql: string;
  /** Data step run after `sql`, in the same transaction. */
  after?: (db: Database.Database) => void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE batches (
  id            TEXT PRIMARY KEY,
  state         TEXT NOT NULL,
  operator      TEXT NOT NULL,
  station_id    TEXT NOT NULL,
  package_json  TEXT NOT NULL,
  plan_json     TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  started_at    TEXT,
  ended_at      TEXT,
  paused_reason TEXT
);
CREATE INDEX batches_created ON batches (created_at);
CREATE INDEX batches_state ON batches (state);

CREATE TABLE jobs (
  id              TEXT PRIMARY KEY,
  batch_id        TEXT NOT NULL REFERENCES batches (id),
  unit_id         TEXT NOT NULL,
  -- copied out of unit_json so they can be indexed and searched
  serial_number   TEXT,
  address         TEXT NOT NULL,
  unit_json       TEXT NOT NULL,
  state           TEXT NOT NULL,
  progress_bytes  INTEGER NOT NULL,
  total_bytes     INTEGER NOT NULL,
  rate_bps        REAL,
  attempts        INTEGER NOT NULL,
  result          TEXT,
  error_code      TEXT,
  device_code     TEXT,
  message         TEXT,
  version_before  TEXT,
  version_after   TEXT,
  sent_crc32      TEXT,
  sent_md5        TEXT,
  confirmed_crc32 TEXT,
  confirmed_md5   TEXT,
  started_at      TEXT,
  ended_at        TEXT,
  resumable       INTEGER NOT NULL,
  -- filled by the RMA workflow later; never part of a JobView
  rma_ticket      TEXT,
  notes           TEXT
);
CREATE INDEX jobs_batch ON jobs (batch_id);
CREATE INDEX jobs_unit ON jobs (unit_id);
CREATE INDEX jobs_serial ON jobs (serial_number);
CREATE INDEX jobs_address ON jobs (address);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE transitions (
  job_id         TEXT NOT NULL REFERENCES jobs (id),
  seq            INTEGER NOT NULL,
  at             TEXT NOT NULL,
  from_state     TEXT NOT NULL,
  to_state       TEXT NOT NULL,
  attempt        INTEGER NOT NULL,
  progress_bytes INTEGER NOT NULL,
  result         TEXT,
  error_code     TEXT,
  message        TEXT,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE attempts (
  job_id            TEXT NOT NULL REFERENCES jobs (id),
  attempt           INTEGER NOT NULL,
  started_at        TEXT NOT NULL,
  ended_at          TEXT,
  result            TEXT,
  error_code        TEXT,
  stage             TEXT,
  resume_from_bytes INTEGER NOT NULL,
  PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;

CREATE TABLE traces (
  job_id     TEXT NOT NULL REFERENCES jobs (id),
  attempt    INTEGER NOT NULL,
  lines_json TEXT NOT NULL,
  PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
`,
  },
  {
    // Issue 10 §4 / issue 9 §1: the journal's hash chain (a link per batch, batch state change,
    // transition and finished attempt, kept in the row itself), the job pin each transition records, and the
    // device-confirmation facts a report rests on. Existing rows are linked by backfillChain.
    version: 2,
    sql: `
ALTER TABLE batches ADD COLUMN chain_jobs TEXT;
ALTER TABLE batches ADD COLUMN chain_seq INTEGER;
ALTER TABLE batches ADD COLUMN chain_hash TEXT;
ALTER TABLE transitions ADD COLUMN job_hash TEXT;
ALTER TABLE transitions ADD COLUMN chain_seq INTEGER;
ALTER TABLE transitions ADD COLUMN chain_hash TEXT;
ALTER TABLE attempts ADD COLUMN chain_seq INTEGER;
ALTER TABLE attempts ADD COLUMN chain_hash TEXT;
ALTER TABLE jobs ADD COLUMN confirmed_by TEXT;
ALTER TABLE jobs ADD COLUMN attempt_causes TEXT;
ALTER TABLE jobs ADD COLUMN skip_reason TEXT;
CREATE TABLE batch_states (
  batch_id      TEXT NOT NULL REFERENCES batches (id),
  at            TEXT NOT NULL,
  state         TEXT NOT NULL,
  started_at    TEXT,
  ended_at      TEXT,
  paused_reason TEXT,
  chain_seq     INTEGER,
  chain_hash    TEXT
);
CREATE INDEX batch_states_batch ON batch_states (batch_id);
CREATE TABLE chain_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '${GENESIS}');
`,
    after: backfillChain,
  },
];
