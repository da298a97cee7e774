/**
 * MES hooks against a real HTTP receiver on 127.0.0.1: the signed result hook survives the MES
 * going down mid-batch (every result arrives exactly once after dedup by id, the batch is not
 * slowed), and the pre-flight's allow/deny, package choice and timeout policies act per unit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type net from 'node:net';
import { DELIVERY_HEADER, SIGNATURE_HEADER, verifySignature, type MesConfig } from '../../main/engine/line/mes.js';
import { openStation, waitFor, type TestStation } from '../helpers/line-station.js';

const SECRET = 'mes-shared-secret';

interface Receiver {
  url: string;
  port: number;
  /** Every POST as received. */
  posts: { path: string; id?: string; body: Record<string, unknown>; signatureOk: boolean }[];
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** A small MES: /result records posts; /preflight answers with `answer(body)` (or never, when it returns 'hang'). */
async function startReceiver(answer: (body: Record<string, unknown>) => Record<string, unknown> | 'hang' = () => ({ allow: true })): Promise<Receiver> {
  const posts: Receiver['posts'] = [];
  const sockets = new Set<net.Socket>();
  const handler: http.RequestListener = (req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      const sig = req.headers[SIGNATURE_HEADER] as string | undefined;
      posts.push({ path: req.url!, id: req.headers[DELIVERY_HEADER] as string | undefined, body, signatureOk: verifySignature(SECRET, raw, sig) });
      if (req.url === '/preflight') {
        const a = answer(body);
        if (a === 'hang') return; // never answers
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a));
      } else res.writeHead(200).end('ok');
    });
  };
  let srv = http.createServer(handler);
  srv.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      srv = http.createServer(handler);
      srv.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
  const down = async () => {
    const closed = new Promise((r) => srv.close(r));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return { url: `http://127.0.0.1:${port}`, port, posts, down, up: listen, close: down };
}

const open: TestStation[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.engine.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close().catch(() => undefined)));
});

async function station(mes: MesConfig, targets: string[], o: Parameters<typeof openStation>[3] = {}) {
  const s = await openStation('st-m', { mes, pollMs: 50, drainOnCloseMs: 0 }, targets, o);
  open.push(s);
  return s;
}

function run(s: TestStation, concurrency = 8) {
  const batch = s.engine.createBatch({ packageId: s.packageId, units: s.units, plan: { retry: { maxAttempts: 1, backoffMs: 50, backoffMaxMs: 100 }, concurrency: { global: concurrency, perBleAdapter: 6 } } });
  s.engine.startBatch(batch.batchId);
  return batch.batchId;
}

describe('MES hooks', () => {
  it('result hook: the MES goes down mid-batch and comes back; every result arrives exactly once after dedup, signed, and the batch is not held up', async () => {
    const mes = await startReceiver();
    receivers.push(mes);
    const s = await station({ resultUrl: `${mes.url}/result`, secret: SECRET, retryBaseMs: 100, retryMaxMs: 400, timeoutMs: 1000 }, ['sim:ymodem:12'], { imageBytes: 24 * 1024, bytesPerSecond: 40_000 });
    const id = run(s, 3);
    await waitFor('a first result at the MES', () => mes.posts.length >= 1, 20_000);
    await mes.down();
    const t0 = Date.now();
    const done = await s.engine.waitForBatch(id);
    const batchWhileDown = Date.now() - t0;
    expect(done.counts).toMatchObject({ total: 12, passed: 12 });
    // The batch finished while the MES was still down: results wait in the outbox, with the error shown.
    const waiting = s.engine.lineStatus().mes!;
    expect(waiting.resultsWaiting).toBeGreaterThan(0);
    await waitFor('a delivery error', () => /MES result hook/.test(s.engine.lineStatus().mes!.lastError ?? ''), 10_000);
    await mes.up();
    await waitFor('every result delivered', () => s.engine.lineStatus().mes!.resultsWaiting === 0, 30_000);

    const results = mes.posts.filter((p) => p.path === '/result');
    expect(results.every((p) => p.signatureOk)).toBe(true);
    expect(results.every((p) => p.id === p.body.id)).toBe(true);
    const unique = new Map(results.map((p) => [p.id!, p.body]));
    const units = [...unique.values()].filter((b) => b.kind === 'unit');
    const batches = [...unique.values()].filter((b) => b.kind === 'batch');
    expect(units).toHaveLength(12);
    expect(new Set(units.map((u) => (u.job as { id: string }).id)).size).toBe(12);
    expect(units.every((u) => (u.job as { state: string }).state === 'passed' && u.stationId === 'st-m')).toBe(true);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ stationId: 'st-m', batch: { id, state: 'finished' }, counts: { passed: 12 } });
    expect(batchWhileDown).toBeLessThan(30_000);
  });

  it('pre-flight: a deny skips the unit with the MES reason; the MES may pick the package; the others flash', async () => {
    let s!: TestStation;
    const mes = await startReceiver((b) => {
      if (String(b.serialNumber).endsWith('0002')) return { allow: false, reason: 'unit failed end-of-line test' };
      if (String(b.serialNumber).endsWith('0003')) return { allow: true, packageId: s.engine.listPackages().find((p) => p.components[0]!.version === '3.0.0')!.id };
      return { allow: true };
    });
    receivers.push(mes);
    s = await station({ preflightUrl: `${mes.url}/preflight`, secret: SECRET, timeoutMs: 2000 }, ['sim:ymodem:3']);
    await openStationPackage(s, '3.0.0');
    const id = run(s);
    const done = await s.engine.waitForBatch(id);
    expect(done.counts).toMatchObject({ total: 3, passed: 2, skipped: 1 });
    const jobs = s.engine.getJobs(id);
    expect(jobs[1]).toMatchObject({ state: 'skipped', errorCode: 'MES_DENIED', message: 'MES denied: unit failed end-of-line test' });
    expect(jobs[0]).toMatchObject({ state: 'passed', versionAfter: '2.0.0' });
    expect(jobs[2]).toMatchObject({ state: 'passed', versionAfter: '3.0.0' });
    const asked = mes.posts.filter((p) => p.path === '/preflight');
    expect(asked).toHaveLength(3);
    expect(asked.every((p) => p.signatureOk)).toBe(true);
    expect(asked[0]!.body).toMatchObject({ stationId: 'st-m', batchId: id, product: 'app', protocol: 'ymodem' });
  });

  it('pre-flight timeout: policy block fails the unit (not flashed), policy allow flashes it and says so on the unit', async () => {
    const mes = await startReceiver(() => 'hang');
    receivers.push(mes);
    const blocked = await station({ preflightUrl: `${mes.url}/preflight`, timeoutMs: 300, onError: 'block' }, ['sim:ymodem:2']);
    const b1 = await blocked.engine.waitForBatch(run(blocked));
    expect(b1.counts).toMatchObject({ total: 2, failed: 2, passed: 0 });
    for (const j of blocked.engine.getJobs(b1.batchId)) {
      expect(j).toMatchObject({ state: 'failed', result: 'policy_blocked', errorCode: 'MES_UNREACHABLE', attempts: 0 });
      expect(j.message).toMatch(/no answer in 300 ms.*policy "block"/);
      expect(j.versionAfter).toBeUndefined();
    }
    await blocked.engine.close();
    open.splice(0);

    const allowed = await station({ preflightUrl: `${mes.url}/preflight`, timeoutMs: 300, onError: 'allow' }, ['sim:ymodem:2']);
    const b2 = await allowed.engine.waitForBatch(run(allowed));
    expect(b2.counts).toMatchObject({ total: 2, passed: 2 });
    for (const j of allowed.engine.getJobs(b2.batchId)) {
      const notes = allowed.engine.getTransitions(j.jobId).map((t) => t.message ?? '');
      expect(notes.some((m) => /MES pre-flight failed \(no answer in 300 ms\); flashed by policy "allow"/.test(m))).toBe(true);
    }
  });

  it('refuses a MES configuration it cannot honour', async () => {
    await expect(openStation('st-x', { mes: { resultUrl: 'http://127.0.0.1:9/r' } }, ['sim:ymodem:1'])).rejects.toThrow(/mes.secret is required/);
    await expect(openStation('st-x', { mes: { preflightUrl: 'ftp://x/y', onError: 'maybe' as 'block' } }, ['sim:ymodem:1'])).rejects.toThrow(/http\(s\) URL.*onError/);
  });
});

async function openStationPackage(s: TestStation, version: string): Promise<void> {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { buildSimImage } = await import('../../main/engine/device/app-descriptor.js');
  const file = path.join(s.dir, `app-${version}.bin`);
  fs.writeFileSync(file, buildSimImage(16 * 1024, version));
  await s.engine.loadPackage(file, { version });
}
