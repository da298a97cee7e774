/**
 * A line of stations on one PostgreSQL: S station processes × U virtual YMODEM units each ship
 * their journals while flashing; in the middle the database is killed for O seconds. Prints one
 * JSON object: rows shipped per second, replication lag p50/p99 (outside the outage), rows lost,
 * station CPU spent on shipping (line batch CPU minus the same batch without a line database),
 * and the time to catch up after the outage.
 *   node --import tsx test/bench/line.bench.ts [--stations 8] [--units 64] [--outage-s 30] [--image-kib 64] [--rate 2000] [--kill-after-s 8]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { parseTargets } from '../../main/engine/targets.js';
import { migratePg } from '../../main/engine/line/pg-schema.js';
import { startPostgres } from '../helpers/postgres.js';

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    url: { type: 'string' },
    dir: { type: 'string' },
    stations: { type: 'string', default: '8' },
    units: { type: 'string', default: '64' },
    'outage-s': { type: 'string', default: '30' },
    'image-kib': { type: 'string', default: '64' },
    rate: { type: 'string', default: '2000' },
    'kill-after-s': { type: 'string', default: '8' },
  },
});
const STATIONS = Number(args.stations);
const UNITS = Number(args.units);
const OUTAGE_MS = Number(args['outage-s']) * 1000;
const IMAGE_BYTES = Number(args['image-kib']) * 1024;
const RATE = Number(args.rate);

const log = (s: string) => process.stderr.write(`[line.bench${args.child ? ` st-${args.child}` : ''}] ${s}\n`);

async function runBatch(engine: Engine, img: string): Promise<{ passed: number; wallMs: number; cpuMs: number; failures: Record<string, number> }> {
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const units = parseTargets([`sim:ymodem:${UNITS}`]).map((u) => ({ ...u, sim: { ...u.sim!, link: { bytesPerSecond: RATE } } }));
  const batch = engine.createBatch({ packageId: info.id, units, plan: { concurrency: { global: 1000, perBleAdapter: 6 } } });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  engine.startBatch(batch.batchId);
  const done = await engine.waitForBatch(batch.batchId);
  const cpu = process.cpuUsage(cpu0);
  const failures: Record<string, number> = {};
  for (const j of engine.getJobs(batch.batchId)) if (j.state !== 'passed') failures[j.errorCode ?? j.state] = (failures[j.errorCode ?? j.state] ?? 0) + 1;
  return { passed: done.counts.passed, wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, failures };
}

/** One station process: the batch without a line database (baseline), then with it, then wait for the outbox to drain. */
async function child(): Promise<void> {
  const stationId = `st-${args.child}`;
  const root = args.dir!;
  const img = path.join(root, 'app.bin');
  fs.writeFileSync(img, buildSimImage(IMAGE_BYTES, '2.0.0'));
  const base = Engine.open({ dataDir: path.join(root, 'baseline'), stationId, line: false });
  const b = await runBatch(base, img);
  await base.close();
  const engine = Engine.open({ dataDir: path.join(root, 'line'), stationId, line: { lineDb: args.url!, pollMs: 200, drainOnCloseMs: 0 }, lineLog: () => undefined });
  process.stdout.write('started\n');
  let maxWaiting = 0;
  const sampler = setInterval(() => (maxWaiting = Math.max(maxWaiting, engine.lineStatus().rowsWaiting)), 500);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const l = await runBatch(engine, img);
  // Shipping is done when the outbox is empty and the database has confirmed it (after the outage too).
  while (engine.lineStatus().rowsWaiting > 0 || engine.lineStatus().warning) await new Promise((r) => setTimeout(r, 50));
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  const shipped = engine.lineStatus().rowsShipped;
  await engine.close();
  process.stdout.write(
    JSON.stringify({ stationId, passedBaseline: b.passed, passed: l.passed, failuresBaseline: JSON.stringify(b.failures), failures: JSON.stringify(l.failures), cpuBaselineMs: b.cpuMs, wallBaselineMs: b.wallMs, batchWallMs: l.wallMs, cpuLineMs: (cpu.user + cpu.system) / 1000, lineWallMs: performance.now() - t0, rowsShipped: shipped, maxRowsWaiting: maxWaiting, drainedAt: new Date().toISOString() }) + '\n',
  );
}

function sumCodes(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of list) for (const [k, n] of Object.entries(JSON.parse(l) as Record<string, number>)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function lagOf(rows: { j: Date; s: Date }[]): { p50: number; p99: number; n: number } {
  const l = rows.map((r) => r.s.getTime() - r.j.getTime()).sort((a, b) => a - b);
  return { p50: pct(l, 50), p99: pct(l, 99), n: l.length };
}

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const server = await startPostgres();
  if (!server) throw new Error('PostgreSQL is needed for this bench');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-line-bench-'));
  try {
    const url = await server.createDatabase('line');
    // Bench-only: log every row version the database applies, with when it was journaled and shipped.
    const c0 = new pg.Client({ connectionString: url });
    await c0.connect();
    await migratePg(c0);
    await c0.query(`CREATE TABLE bench_ship_log (station_id text, journaled_at timestamptz, shipped_at timestamptz);
      CREATE FUNCTION bench_log() RETURNS trigger AS $$ BEGIN INSERT INTO bench_ship_log VALUES (NEW.station_id, NEW.journaled_at, NEW.shipped_at); RETURN NEW; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER bench_log AFTER INSERT OR UPDATE ON line_rows FOR EACH ROW EXECUTE FUNCTION bench_log();`);
    await c0.end();

    log(`${STATIONS} stations × ${UNITS} units, image ${IMAGE_BYTES} B at ${RATE} B/s, outage ${OUTAGE_MS} ms`);
    const self = fileURLToPath(import.meta.url);
    let started = 0;
    let onStarted: () => void = () => undefined;
    const allStarted = new Promise<void>((r) => (onStarted = r));
    const results = Array.from({ length: STATIONS }, (_, i) => {
      const dir = path.join(work, `st-${i + 1}`);
      fs.mkdirSync(dir);
      const p = spawn(process.execPath, ['--import', 'tsx', self, '--child', String(i + 1), '--url', url, '--dir', dir, '--units', String(UNITS), '--image-kib', String(IMAGE_BYTES / 1024), '--rate', String(RATE)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d;
        if (d.toString().includes('started') && ++started === STATIONS) onStarted();
      });
      return new Promise<Record<string, number | string>>((resolve, reject) =>
        p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`station ${i + 1} exited ${code}`)))),
      );
    });

    await allStarted;
    const lineStart = Date.now();
    log('all line batches started');
    await new Promise((r) => setTimeout(r, Number(args['kill-after-s']) * 1000));
    const killAt = Date.now();
    server.kill();
    log('database killed');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    server.restart();
    const restartAt = Date.now();
    log('database restarted');
    const stations = await Promise.all(results);
    const caughtUpAt = Math.max(...stations.map((s) => Date.parse(s.drainedAt as string)));

    // Lost rows: every journal row of every station must be in the line database.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    let local = 0;
    let lost = 0;
    for (let i = 1; i <= STATIONS; i++) {
      const db = new Database(path.join(work, `st-${i}`, 'line', 'journal.sqlite'), { readonly: true });
      for (const t of ['batches', 'jobs', 'transitions', 'attempts', 'traces']) {
        const n = db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM ${t}`).get()!.n;
        const r = await c.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM line_rows WHERE station_id = $1 AND tbl = $2', [`st-${i}`, t]);
        local += n;
        lost += Math.max(0, n - r.rows[0]!.n);
      }
      // Final content too: each job's state in PostgreSQL is the journal's.
      const jobs = db.prepare<[], { id: string; state: string }>('SELECT id, state FROM jobs').all();
      const remote = new Map((await c.query<{ job_id: string; state: string }>('SELECT job_id, state FROM line_jobs WHERE station_id = $1', [`st-${i}`])).rows.map((r) => [r.job_id, r.state]));
      lost += jobs.filter((j) => remote.get(j.id) !== j.state).length;
      db.close();
    }
    const logRows = (await c.query<{ station_id: string; j: Date; s: Date }>('SELECT station_id, journaled_at AS j, shipped_at AS s FROM bench_ship_log')).rows;
    await c.end();

    // Catch-up: everything journaled before the restart is in the database at catchUpDoneAt.
    const backlog = logRows.filter((r) => r.j.getTime() <= restartAt);
    const catchUpDoneAt = Math.max(restartAt, ...backlog.map((r) => r.s.getTime()));
    const catchUpRows = logRows.filter((r) => r.s.getTime() >= restartAt && r.s.getTime() <= catchUpDoneAt).length;
    const waitingAtRestart = backlog.filter((r) => r.s.getTime() >= restartAt).length;
    // Lag outside the outage: rows journaled well before the kill or after the backlog was shipped.
    const steady = logRows.filter((r) => r.j.getTime() < killAt - 2000 || r.j.getTime() > catchUpDoneAt).map((r) => r.s.getTime() - r.j.getTime()).sort((a, b) => a - b);
    const shippedTimes = logRows.map((r) => r.s.getTime()).sort((a, b) => a - b);
    const beforeKill = logRows.filter((r) => r.s.getTime() < killAt).length;
    const cpuShip = stations.map((s) => (s.cpuLineMs as number) - (s.cpuBaselineMs as number));
    const result = {
      bench: 'line',
      stations: STATIONS,
      unitsPerStation: UNITS,
      unitsPassed: stations.reduce((n, s) => n + (s.passed as number), 0),
      unitsPassedWithoutLine: stations.reduce((n, s) => n + (s.passedBaseline as number), 0),
      unitFailures: sumCodes(stations.map((s) => s.failures as string)),
      unitFailuresWithoutLine: sumCodes(stations.map((s) => s.failuresBaseline as string)),
      imageBytes: IMAGE_BYTES,
      linkBytesPerSec: RATE,
      rowVersionsShipped: logRows.length,
      journalRows: local,
      rowsLost: lost,
      rowsShippedPerSec: {
        beforeOutage: Math.round(beforeKill / ((killAt - lineStart) / 1000)),
        catchUp: Math.round(catchUpRows / Math.max(0.001, (catchUpDoneAt - restartAt) / 1000)),
        overall: Math.round(logRows.length / Math.max(0.001, ((shippedTimes.at(-1) ?? 0) - (shippedTimes[0] ?? 0)) / 1000)),
      },
      replicationLagMs: { p50: pct(steady, 50), p99: pct(steady, 99), max: steady.at(-1) ?? null, samples: steady.length, over2s: steady.filter((x) => x > 2000).length, targetP99Ms: 2000, beforeOutage: lagOf(logRows.filter((r) => r.j.getTime() < killAt - 2000)), afterCatchUp: lagOf(logRows.filter((r) => r.j.getTime() > catchUpDoneAt)) },
      outage: { downMs: restartAt - killAt, maxOutboxRowsWaitingPerStation: Math.max(...stations.map((s) => s.maxRowsWaiting as number)), rowVersionsWaitingAtRestart: waitingAtRestart, catchUpMs: catchUpDoneAt - restartAt, lastStationDrainedAfterRestartMs: caughtUpAt - restartAt },
      stationCpuForShipping: {
        meanMs: Math.round(cpuShip.reduce((a, b) => a + b, 0) / cpuShip.length),
        meanPctOfOneCoreOverBatch: Math.round((cpuShip.reduce((a, b) => a + b, 0) / stations.reduce((a, s) => a + (s.lineWallMs as number), 0)) * 1000) / 10,
        baselineBatchCpuMs: Math.round(stations.reduce((a, s) => a + (s.cpuBaselineMs as number), 0) / STATIONS),
        lineBatchCpuMs: Math.round(stations.reduce((a, s) => a + (s.cpuLineMs as number), 0) / STATIONS),
      },
      machine: { cpus: os.cpus().length, loadavg1: Math.round(os.loadavg()[0]! * 10) / 10 },
    };
    console.log(JSON.stringify(result));
  } finally {
    server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (args.child) await child();
else await main();
