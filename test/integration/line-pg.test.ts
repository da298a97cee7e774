/**
 * The line journal against a real PostgreSQL (a throwaway server per file): stations ship their
 * journals, QA queries read every station back, a replay changes nothing, a database that is
 * wrong or down is a warning (the batch passes), and a database killed mid-batch loses nothing.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PG_MIGRATIONS } from '../../main/engine/line/pg-schema.js';
import { findUnits, lineReport, listLineBatches, renderLineReportCsv, renderLineReportHtml } from '../../main/engine/line/queries.js';
import { startPostgres } from '../helpers/postgres.js';
import { openStation, waitFor, type TestStation } from '../helpers/line-station.js';
import { runCli } from '../helpers/cli.js';

const server = await startPostgres();
const open: TestStation[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.engine.close()));
});
afterAll(() => server?.stop());

async function station(...args: Parameters<typeof openStation>): Promise<TestStation> {
  const s = await openStation(...args);
  open.push(s);
  return s;
}

async function runBatch(s: TestStation, concurrency = 8) {
  const batch = s.engine.createBatch({ packageId: s.packageId, units: s.units, plan: { retry: { maxAttempts: 2, backoffMs: 50, backoffMaxMs: 100 }, concurrency: { global: concurrency, perBleAdapter: 6 } } });
  s.engine.startBatch(batch.batchId);
  return batch.batchId;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** Rows per journal table in the station's SQLite file (what must arrive in PostgreSQL). */
function localCounts(dir: string): Record<string, number> {
  const db = new Database(path.join(dir, 'journal.sqlite'), { readonly: true });
  try {
    const out: Record<string, number> = {};
    // Every journal table ships (the outbox's own tables excepted): chain heads, batch states, audit… included.
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('line_outbox', 'mes_outbox', 'line_outbox_state', 'schema_version')").all();
    for (const { name } of tables) {
      const n = db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`).get()!.n;
      if (n > 0 || ['batches', 'jobs', 'transitions', 'attempts', 'traces'].includes(name)) out[name] = n;
    }
    return out;
  } finally {
    db.close();
  }
}

async function remoteCounts(url: string, stationId: string): Promise<Record<string, number>> {
  const rows = await query<{ tbl: string; n: number }>(url, 'SELECT tbl, COUNT(*)::int AS n FROM line_rows WHERE station_id = $1 GROUP BY tbl', [stationId]);
  const out: Record<string, number> = { batches: 0, jobs: 0, transitions: 0, attempts: 0, traces: 0 };
  for (const r of rows) out[r.tbl] = r.n;
  return out;
}

const idle = (s: TestStation) => () => {
  const st = s.engine.lineStatus();
  return st.rowsWaiting === 0 && !!st.lastSyncAt && !st.warning;
};

describe.skipIf(!server)('line journal in PostgreSQL', () => {
  it('two stations ship their batches; units, batches and the yield report read back every station', async () => {
    const url = await server!.createDatabase('ship');
    const a = await station('st-a', { lineDb: url, pollMs: 50, drainOnCloseMs: 0 }, ['sim:ymodem:5', 'sim:ymodem:1:crc_failure']);
    const b = await station('st-b', { lineDb: url, pollMs: 50, drainOnCloseMs: 0 }, ['sim:ymodem:3']);
    const [batchA, batchB] = [await runBatch(a), await runBatch(b)];
    await Promise.all([a.engine.waitForBatch(batchA), b.engine.waitForBatch(batchB)]);
    await waitFor('both outboxes empty', () => idle(a)() && idle(b)());

    const st = a.engine.lineStatus();
    expect(st).toMatchObject({ configured: true, connected: true, rowsWaiting: 0, stationId: 'st-a', schemaVersion: PG_MIGRATIONS.at(-1)!.version });
    expect(st.url).not.toContain('line-test-pw');
    expect(await remoteCounts(url, 'st-a')).toEqual(localCounts(a.dir));
    expect(await remoteCounts(url, 'st-b')).toEqual(localCounts(b.dir));

    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const jobA = a.engine.getJobs(batchA).find((j) => j.state === 'passed')!;
      const units = await findUnits(c, { serial: jobA.unit.serialNumber! });
      expect(units).toHaveLength(1);
      expect(units[0]).toMatchObject({
        stationId: 'st-a', batchId: batchA, jobId: jobA.jobId, state: 'passed', product: 'app', packageVersion: '2.0.0',
        versionAfter: '2.0.0', sentCrc32: jobA.sent.crc32, sentMd5: jobA.sent.md5, confirmedCrc32: jobA.confirmed.crc32,
      });
      expect(await findUnits(c, { mac: 'aa:bb:cc:dd:ee:ff' })).toEqual([]);

      const batches = await listLineBatches(c, {});
      expect(batches.map((x) => x.stationId).sort()).toEqual(['st-a', 'st-b']);
      expect(batches.find((x) => x.stationId === 'st-a')).toMatchObject({ batchId: batchA, state: 'finished', total: 6, passed: 5, failed: 1 });
      expect(await listLineBatches(c, { station: 'st-b' })).toHaveLength(1);
      expect(await listLineBatches(c, { from: '2000-01-01T00:00:00Z', to: '2000-01-02T00:00:00Z' })).toEqual([]);

      const report = await lineReport(c, '2000-01-01T00:00:00Z', '2100-01-01T00:00:00Z');
      expect(report.units).toHaveLength(9);
      expect(report.perStation).toEqual([
        { key: 'st-a', total: 6, passed: 5, failed: 1, skipped: 0, yieldPct: 83.33 },
        { key: 'st-b', total: 3, passed: 3, failed: 0, skipped: 0, yieldPct: 100 },
      ]);
      expect(report.perProduct).toEqual([{ key: 'app 2.0.0', total: 9, passed: 8, failed: 1, skipped: 0, yieldPct: 88.89 }]);
      expect(report.perDay).toHaveLength(1);
      expect(renderLineReportCsv(report)).toContain('station,st-a,6,5,1,0,83.33');
      expect(renderLineReportHtml(report)).toContain('<td>st-b</td>');
      const versions = await c.query('SELECT version FROM line_schema_version ORDER BY version');
      expect(versions.rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
    } finally {
      await c.end();
    }

    // The engine API the UI's History line view uses: search across stations, reopen another station's batch read-only.
    const sn = b.units[0]!.serialNumber!;
    expect(await a.engine.lineUnits({ serial: sn })).toMatchObject([{ stationId: 'st-b', batchId: batchB }]);
    expect((await a.engine.lineBatches({ station: 'st-b' })).map((x) => x.batchId)).toEqual([batchB]);
    const detail = await a.engine.lineBatch('st-b', batchB);
    expect(detail!.batch).toMatchObject({ batchId: batchB, stationId: 'st-b', state: 'finished', counts: { total: 3, passed: 3 } });
    expect(detail!.jobs.map((j) => [j.jobId, j.state, j.versionAfter, j.sent.crc32])).toEqual(b.engine.getJobs(batchB).map((j) => [j.jobId, j.state, j.versionAfter, j.sent.crc32]));

    // The CLI reads the same (exit 0, JSON on stdout).
    const cli = await runCli(['line', 'units', '--serial', sn, '--line-db', url, '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout.trim().split('\n').at(-1)!)).toMatchObject([{ stationId: 'st-b', serialNumber: sn, state: 'passed' }]);
    const status = await runCli(['line', 'status', '--line-db', url, '--station', 'st-a', '--data-dir', a.dir, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout.trim().split('\n').at(-1)!)).toMatchObject({ stationId: 'st-a', rowsWaiting: 0, reachable: true });
    const bad = await runCli(['line', 'report', '--from', 'yesterday', '--to', '2030-01-01', '--line-db', url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--from "yesterday"');
  }, 180_000);

  it('wrong password, refused port, bad URL or TLS the server lacks: a warning with the rows waiting, and the batch still passes', async () => {
    const url = await server!.createDatabase('warn');
    const cases: [string, RegExp][] = [
      [server!.urlFor('warn', { password: 'wrong' }), /authentication failed/],
      ['postgres://postgres:x@127.0.0.1:1/warn', /connection refused/],
      ['not a url', /not a URL/],
      [`${url}?sslmode=verify-full`, /SSL/i],
    ];
    for (const [bad, why] of cases) {
      const s = await station('st-w', { lineDb: bad, pollMs: 50, drainOnCloseMs: 0 }, ['sim:ymodem:2']);
      const id = await runBatch(s);
      const done = await s.engine.waitForBatch(id);
      expect(done.counts).toMatchObject({ total: 2, passed: 2, failed: 0 });
      await waitFor('a warning', () => !!s.engine.lineStatus().warning, 15_000);
      const st = s.engine.lineStatus();
      expect(st.warning).toMatch(/^line database unreachable, \d+ rows waiting: /);
      expect(st.lastError).toMatch(why);
      expect(st.rowsWaiting).toBeGreaterThan(0);
      expect(s.logs.some((l) => l.startsWith('warning: line database unreachable'))).toBe(true);
      await s.engine.close();
      open.splice(open.indexOf(s), 1);
    }
  });

  it('a replayed outbox row changes nothing in the line database', async () => {
    const url = await server!.createDatabase('replay');
    // Journal while the database is unreachable, so the outbox holds every row; keep a copy of it.
    const s1 = await station('st-r', { lineDb: 'postgres://postgres:x@127.0.0.1:1/replay', pollMs: 50, drainOnCloseMs: 0 }, ['sim:ymodem:3']);
    await s1.engine.waitForBatch(await runBatch(s1));
    await s1.engine.close();
    open.splice(0);
    const file = path.join(s1.dir, 'journal.sqlite');
    const db = new Database(file);
    const saved = db.prepare('SELECT * FROM line_outbox ORDER BY seq').all() as Record<string, unknown>[];
    db.close();
    expect(saved.length).toBeGreaterThan(10);

    const s2 = await station('st-r', { lineDb: url, pollMs: 50, drainOnCloseMs: 0 }, ['sim:ymodem:1'], { dir: s1.dir });
    await waitFor('outbox empty', idle(s2));
    const snap = () => query(url, 'SELECT tbl, row_key, src_seq, row_data, xmin::text AS xmin, shipped_at FROM line_rows ORDER BY tbl, row_key');
    const before = await snap();
    expect(before.length).toBe(saved.length);
    await s2.engine.close();
    open.splice(0);

    // Put the very same rows (same seq) back, as if the station had crashed between COMMIT and the local delete.
    const db2 = new Database(file);
    const ins = db2.prepare('INSERT INTO line_outbox (seq, station_id, tbl, row_key, batch_id, row_json, journaled_at) VALUES (@seq, @station_id, @tbl, @row_key, @batch_id, @row_json, @journaled_at)');
    db2.transaction(() => saved.forEach((r) => ins.run(r)))();
    db2.close();
    const s3 = await station('st-r', { lineDb: url, pollMs: 50, drainOnCloseMs: 0 }, ['sim:ymodem:1'], { dir: s1.dir });
    await waitFor('replayed rows drained', idle(s3));
    expect(s3.engine.lineStatus().rowsShipped).toBe(saved.length);
    // Same rows, same versions, and not one rewritten (xmin and shipped_at unchanged).
    expect(await snap()).toEqual(before);
  });

  it('PostgreSQL killed mid-batch and restarted: the batch passes, the outbox drains, nothing is lost', async () => {
    const url = await server!.createDatabase('outage');
    const s = await station('st-k', { lineDb: url, pollMs: 50, drainOnCloseMs: 0 }, ['sim:ymodem:16'], { imageBytes: 32 * 1024, bytesPerSecond: 60_000 });
    const id = await runBatch(s, 4);
    try {
      await waitFor('some rows shipped', () => s.engine.lineStatus().rowsShipped > 20, 20_000);
      expect(s.engine.getBatch(id)!.counts.passed).toBeLessThan(12); // really mid-batch
      server!.kill();
      const done = await s.engine.waitForBatch(id);
      expect(done.counts).toMatchObject({ total: 16, passed: 16 });
      await waitFor('the outage warning', () => !!s.engine.lineStatus().warning, 20_000);
      expect(s.engine.lineStatus().rowsWaiting).toBeGreaterThan(0);
    } finally {
      server!.restart();
    }
    await waitFor('outbox drained after the restart', idle(s), 30_000);
    expect(await remoteCounts(url, 'st-k')).toEqual(localCounts(s.dir));
    // Every job arrived in its final state, with the hashes the journal has.
    const remote = await query<{ job_id: string; state: string; confirmed_crc32: string }>(url, "SELECT job_id, state, confirmed_crc32 FROM line_jobs WHERE station_id = 'st-k' ORDER BY job_id");
    expect(remote).toEqual(s.engine.getJobs(id).map((j) => ({ job_id: j.jobId, state: j.state, confirmed_crc32: j.confirmed.crc32 })).sort((x, y) => x.job_id.localeCompare(y.job_id)));
    expect(s.logs.some((l) => /reachable again/.test(l))).toBe(true);
  });
});
