/**
 * The journal's own tamper evidence (issue 10 §4): every batch, batch state change, transition
 * and finished attempt is a link of one SHA-256 chain, written with the row (chain_seq, chain_hash columns, so the chain
 * travels with each row wherever rows are shipped), and every job row is pinned by the hash its
 * last transition recorded. `verifyJournal` finds an edited, deleted or inserted row.
 *
 *   link[n].chain_hash = sha256(link[n-1].chain_hash + "\n" + kind + "\n" + canonical(fields))
 *   link[0] = GENESIS; the head (seq, hash) is kept in chain_head.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';

export const JOURNAL_CHAIN_FORMAT = 'flashline-journal/1';
export const GENESIS = createHash('sha256').update(JOURNAL_CHAIN_FORMAT).digest('hex');

export type LinkKind = 'batch' | 'batch-state' | 'transition' | 'attempt';

/** Columns each kind of link commits to, in order. Mutable columns (progress, state of a batch) are not in them. */
export const LINK_FIELDS: Record<LinkKind, readonly string[]> = {
  batch: ['id', 'operator', 'station_id', 'package_json', 'plan_json', 'created_at', 'chain_jobs'],
  /** One row of batch_states per change of a batch's state or times; the batches row must equal the newest. */
  'batch-state': ['batch_id', 'at', 'state', 'started_at', 'ended_at', 'paused_reason'],
  transition: ['job_id', 'seq', 'at', 'from_state', 'to_state', 'attempt', 'progress_bytes', 'result', 'error_code', 'message', 'job_hash'],
  attempt: ['job_id', 'attempt', 'started_at', 'ended_at', 'result', 'error_code', 'stage', 'resume_from_bytes'],
};

/** A job row's columns that only change with a journaled transition (progress, rate and RMA notes are not among them). */
export const JOB_HASH_FIELDS: readonly string[] = [
  'id', 'batch_id', 'unit_id', 'serial_number', 'address', 'unit_json', 'state', 'total_bytes', 'attempts', 'result',
  'error_code', 'device_code', 'message', 'version_before', 'version_after', 'sent_crc32', 'sent_md5', 'confirmed_crc32',
  'confirmed_md5', 'started_at', 'ended_at', 'resumable', 'confirmed_by', 'attempt_causes', 'skip_reason',
];

type Row = Record<string, unknown>;

function text(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

function canonical(fields: readonly string[], row: Row): string {
  return JSON.stringify(fields.map((f) => text(row[f])));
}

export function linkHash(prev: string, kind: LinkKind, row: Row): string {
  return createHash('sha256').update(`${prev}\n${kind}\n${canonical(LINK_FIELDS[kind], row)}`).digest('hex');
}

export function jobHash(row: Row): string {
  return createHash('sha256').update(canonical(JOB_HASH_FIELDS, row)).digest('hex');
}

/**
 * Appends one link: takes the next sequence number (the UPDATE first, so the write lock is held
 * before the head is read), hashes the row after the head, and moves the head. Call inside the
 * transaction that writes the row.
 */
export function appendLink(db: Database.Database, kind: LinkKind, row: Row): { chain_seq: number; chain_hash: string } {
  const bumped = db.prepare<[], { seq: number; hash: string }>('UPDATE chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash').get();
  if (!bumped) throw new Error('journal chain head missing (chain_head table is empty)');
  const chain_hash = linkHash(bumped.hash, kind, row);
  db.prepare('UPDATE chain_head SET hash = ? WHERE id = 1').run(chain_hash);
  return { chain_seq: bumped.seq, chain_hash };
}

export function chainHead(db: Database.Database): { seq: number; hash: string } {
  return db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM chain_head WHERE id = 1').get() ?? { seq: 0, hash: GENESIS };
}

/** Records a batch's current state and times as a linked batch_states row (call inside the write transaction). */
export function appendBatchState(db: Database.Database, batchId: string, at: string): void {
  const b = db.prepare<[string], Row>('SELECT state, started_at, ended_at, paused_reason FROM batches WHERE id = ?').get(batchId);
  if (!b) return;
  const row = { batch_id: batchId, at, ...b };
  const link = appendLink(db, 'batch-state', row);
  db.prepare(
    `INSERT INTO batch_states (batch_id, at, state, started_at, ended_at, paused_reason, chain_seq, chain_hash)
     VALUES (@batch_id, @at, @state, @started_at, @ended_at, @paused_reason, @chain_seq, @chain_hash)`,
  ).run({ ...row, ...link });
}

/**
 * Schema v2 on a journal written before the chain: links every existing row, in a fixed order
 * (batches, then transitions, then finished attempts), and pins every job row in its batch's
 * link. From then on a row without a link is an inserted row.
 */
export function backfillChain(db: Database.Database): void {
  const jobsOf = db.prepare<[string], Row>('SELECT * FROM jobs WHERE batch_id = ? ORDER BY rowid');
  for (const b of db.prepare<[], Row>('SELECT * FROM batches ORDER BY rowid').all()) {
    const pins = Object.fromEntries(jobsOf.all(String(b.id)).map((j) => [String(j.id), jobHash(j)]));
    const row = { ...b, chain_jobs: JSON.stringify(pins) };
    const link = appendLink(db, 'batch', row);
    db.prepare('UPDATE batches SET chain_jobs = ?, chain_seq = ?, chain_hash = ? WHERE id = ?').run(row.chain_jobs, link.chain_seq, link.chain_hash, b.id);
    appendBatchState(db, String(b.id), text(b.ended_at ?? b.started_at ?? b.created_at));
  }
  for (const t of db.prepare<[], Row>('SELECT * FROM transitions ORDER BY at, job_id, seq').all()) {
    const row = { ...t, job_hash: '' };
    const link = appendLink(db, 'transition', row);
    db.prepare("UPDATE transitions SET job_hash = '', chain_seq = ?, chain_hash = ? WHERE job_id = ? AND seq = ?").run(link.chain_seq, link.chain_hash, t.job_id, t.seq);
  }
  for (const a of db.prepare<[], Row>('SELECT * FROM attempts WHERE ended_at IS NOT NULL ORDER BY ended_at, job_id, attempt').all()) {
    const link = appendLink(db, 'attempt', a);
    db.prepare('UPDATE attempts SET chain_seq = ?, chain_hash = ? WHERE job_id = ? AND attempt = ?').run(link.chain_seq, link.chain_hash, a.job_id, a.attempt);
  }
}

export interface JournalCheck {
  ok: boolean;
  /** Links checked (batches, transitions, finished attempts) and job rows checked. */
  links: number;
  jobs: number;
  head: { seq: number; hash: string };
  errors: string[];
  /** Attempts still open (started, not finished): not linked yet, so not covered. */
  openAttempts: number;
}

const MAX_ERRORS = 200;

/** Recomputes the whole chain and every job pin. Read-only. */
export function verifyJournal(db: Database.Database): JournalCheck {
  const errors: string[] = [];
  const add = (e: string) => {
    if (errors.length < MAX_ERRORS) errors.push(e);
    else if (errors.length === MAX_ERRORS) errors.push('… more problems not listed');
  };
  type Link = { kind: LinkKind; name: string; row: Row; seq: number; hash: string };
  const links: Link[] = [];
  const collect = (kind: LinkKind, rows: Row[], name: (r: Row) => string, unlinkedOk: (r: Row) => boolean) => {
    for (const r of rows) {
      if (r.chain_seq === null || r.chain_seq === undefined || r.chain_hash === null || r.chain_hash === undefined) {
        if (!unlinkedOk(r)) add(`${name(r)}: not in the chain (a row inserted by hand, or its chain columns cleared)`);
        continue;
      }
      links.push({ kind, name: name(r), row: r, seq: Number(r.chain_seq), hash: String(r.chain_hash) });
    }
  };
  const batches = db.prepare<[], Row>('SELECT * FROM batches').all();
  const transitions = db.prepare<[], Row>('SELECT * FROM transitions').all();
  const attempts = db.prepare<[], Row>('SELECT * FROM attempts').all();
  const batchStates = db.prepare<[], Row>('SELECT * FROM batch_states').all();
  collect('batch', batches, (r) => `batch ${text(r.id)}`, () => false);
  collect('batch-state', batchStates, (r) => `batch state ${text(r.batch_id)} ${text(r.state)} at ${text(r.at)}`, () => false);
  collect('transition', transitions, (r) => `transition ${text(r.job_id)}#${text(r.seq)}`, () => false);
  collect('attempt', attempts, (r) => `attempt ${text(r.job_id)}#${text(r.attempt)}`, (r) => r.ended_at === null);
  const openAttempts = attempts.filter((a) => a.ended_at === null && (a.chain_seq === null || a.chain_seq === undefined)).length;

  links.sort((a, b) => a.seq - b.seq);
  let prevHash = GENESIS;
  let expectSeq = 1;
  for (const l of links) {
    if (l.seq < expectSeq) add(`${l.name}: chain position ${l.seq} is taken twice (a row was inserted)`);
    else if (l.seq > expectSeq) add(`chain positions ${expectSeq}${l.seq - 1 > expectSeq ? `–${l.seq - 1}` : ''} missing before ${l.name} (a row was deleted)`);
    if (linkHash(prevHash, l.kind, l.row) !== l.hash) add(`${l.name}: contents differ from what was journaled (row edited, or the row before it replaced)`);
    prevHash = l.hash;
    expectSeq = Math.max(expectSeq, l.seq + 1);
  }
  const head = chainHead(db);
  const last = links[links.length - 1];
  if (head.seq !== (last?.seq ?? 0)) add(`the journal head is at position ${head.seq}, the last row at ${last?.seq ?? 0} (rows removed from the end, or the head edited)`);
  else if (head.hash !== (last?.hash ?? GENESIS)) add('the journal head hash does not match the last row (head edited)');

  // Batch rows: state and times must equal the newest linked batch_states row of that batch.
  const lastState = new Map<string, Row>();
  for (const st of batchStates) {
    const cur = lastState.get(text(st.batch_id));
    if (!cur || Number(st.chain_seq) > Number(cur.chain_seq)) lastState.set(text(st.batch_id), st);
  }
  for (const b of batches) {
    const st = lastState.get(text(b.id));
    const fields = ['state', 'started_at', 'ended_at', 'paused_reason'];
    if (!st) add(`batch ${text(b.id)}: no journaled state`);
    else if (fields.some((f) => text(b[f]) !== text(st[f]))) add(`batch ${text(b.id)}: state or times differ from what was journaled (${text(b.state)} vs ${text(st.state)})`);
  }

  // Job rows: each must equal what its last transition pinned, or its batch's creation pin.
  const pins = new Map<string, string>();
  for (const b of batches) {
    try {
      for (const [id, h] of Object.entries(JSON.parse(text(b.chain_jobs) || '{}') as Record<string, string>)) pins.set(id, h);
    } catch {
      add(`batch ${text(b.id)}: its job pins are unreadable`);
    }
  }
  const lastTransition = new Map<string, Row>();
  for (const t of transitions) {
    const cur = lastTransition.get(text(t.job_id));
    if (!cur || Number(t.seq) > Number(cur.seq)) lastTransition.set(text(t.job_id), t);
  }
  const jobs = db.prepare<[], Row>('SELECT * FROM jobs').all();
  const seen = new Set<string>();
  for (const j of jobs) {
    const id = text(j.id);
    seen.add(id);
    const t = lastTransition.get(id);
    const pinned = t && text(t.job_hash) ? text(t.job_hash) : pins.get(id);
    if (pinned === undefined) add(`job ${id}: not in the journal chain (a job row inserted by hand)`);
    else if (jobHash(j) !== pinned) add(`job ${id}: row differs from what its last journaled transition recorded (result, hashes or versions edited)`);
  }
  for (const id of pins.keys()) if (!seen.has(id)) add(`job ${id}: row missing (deleted)`);
  return { ok: errors.length === 0, links: links.length, jobs: jobs.length, head, errors, openAttempts };
}
