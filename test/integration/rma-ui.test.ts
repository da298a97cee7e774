/**
 * The RMA screen's API end to end over the real WebSocket of `flashline serve`: a "bricked"
 * virtual YMODEM unit (application dead, only its bootloader sends `C`) on the far end of a socat
 * PTY is recovered through recoverUnit — the call answers at once, rmaStatus lists every step as
 * it happens, the batch events show the job's progress — then listRmaJobs finds it by ticket and
 * rmaDetail returns the full raw trace and the report row. Bad payloads, a busy port and a dead
 * port come back as Results with their codes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobView } from '../../main/contract/dto.js';
import type { Result, RmaDetailView, RmaRunView } from '../../main/contract/ipc.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualYmodemUnit } from '../../main/engine/device/ymodem-unit.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import { Engine } from '../../main/engine/engine.js';
import { openSettings } from '../../main/engine/settings/settings.js';
import { createStationApi } from '../../main/server/api.js';
import { startStationServer, type StationServer } from '../../main/server/server.js';
import { createPtyPair, describeWithTools, openDevicePort, tempDir } from '../helpers/pty.js';
import { connectStation } from '../helpers/ws-client.js';

const IMAGE_BYTES = 40_000;
const TICKET = 'RMA-2025-0815';

let dir: string;
let engine: Engine;
let server: StationServer;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  dir = tempDir('flashline-rma-ui-');
  engine = Engine.open({ dataDir: dir, operator: 'line-op' });
  const api = createStationApi({ engine, settings: openSettings(dir), browserMode: true });
  const staticDir = path.join(dir, 'static');
  fs.mkdirSync(staticDir);
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>');
  server = await startStationServer({ api, staticDir });
});
afterAll(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
  await server?.close();
  await engine?.close();
});

/** A WebSocket client of the station, closed after the suite. */
async function connect() {
  const c = await connectStation(server.port, server.token);
  cleanups.push(() => c.close());
  return c;
}

function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}

describeWithTools(['socat'], 'RMA screen API over the WebSocket with a bricked unit on a PTY', () => {
  it('recovers the unit: answers at once, steps as they happen, batch events, history by ticket, raw trace and report row', async () => {
    const c = await connect();
    const image = buildSimImage(IMAGE_BYTES, '2.0.0');
    const pkg = value(await c.call<{ id: string }>('importPackage', { fileName: 'golden.bin', dataBase64: Buffer.from(image).toString('base64') }));

    const pty = await createPtyPair(fs.mkdtempSync(path.join(dir, 'p-')));
    cleanups.push(() => pty.close());
    const port = await openDevicePort(pty.devicePath);
    cleanups.push(() => port.close());
    const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'SN-BRICK-7' });
    const unit = new VirtualYmodemUnit(memory, { behaviour: 'brick', cIntervalMs: 100, bootMs: 100 });
    expect(memory.state.appDead).toBe(true);
    unit.attach(port);
    cleanups.push(() => unit.dispose());

    // payload validation: the ticket is required, the port must be a device path, the package loaded
    const base = { port: pty.hostPath, packageId: pkg.id, ticket: TICKET, technician: 'zhang.wei' };
    const noTicket = await c.call('recoverUnit', { ...base, ticket: '   ' });
    expect(noTicket.ok).toBe(false);
    if (!noTicket.ok) expect(noTicket.error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/ticket number is required/) });
    const badPort = await c.call('recoverUnit', { ...base, port: 'rm -rf /; x' });
    expect(badPort.ok).toBe(false);
    const badPkg = await c.call('recoverUnit', { ...base, packageId: 'nope' });
    expect(!badPkg.ok && badPkg.error.message).toMatch(/not loaded/);
    const badProto = await c.call('recoverUnit', { ...base, protocol: 'telnet' });
    expect(badProto.ok).toBe(false);
    expect(memory.state.appDead).toBe(true); // nothing ran

    const started = value(await c.call<RmaRunView>('recoverUnit', base));
    expect(started).toMatchObject({ state: 'running', ticket: TICKET, technician: 'zhang.wei', port: pty.hostPath });
    // a second recovery of the same port while this one runs is refused
    const busy = await c.call('recoverUnit', base);
    expect(!busy.ok && busy.error.code).toBe('PORT_BUSY');

    // follow it like the renderer: poll the steps; once the batch exists, watch its events
    const seen: RmaRunView[] = [];
    let watching = false;
    await expect
      .poll(
        async () => {
          const v = value(await c.call<RmaRunView>('rmaStatus', { recoveryId: started.recoveryId }));
          seen.push(v);
          if (v.batchId && !watching) {
            c.watch(v.batchId);
            watching = true;
          }
          return v.state;
        },
        { timeout: 45_000, interval: 200 },
      )
      .not.toBe('running');
    const done = seen.at(-1)!;
    expect(done.error).toBeUndefined();
    expect(done.state).toBe('passed');
    // the batch was known while the recovery was still running, so its progress was followed live
    expect(seen.some((v) => v.state === 'running' && v.batchId === done.batchId)).toBe(true);
    expect(done.probe).toMatchObject({ protocol: 'ymodem', bootloaderOnly: true });
    expect(done.job).toMatchObject({ jobId: done.jobId, state: 'passed', versionAfter: '2.0.0', sent: { crc32: crc32Hex(image) }, confirmed: { crc32: crc32Hex(image) } });

    // every step, in order, numbered, with what the station saw
    const steps = done.steps.map((s) => `${s.step}:${s.status}:${s.text}`);
    expect(done.steps.map((s) => s.seq)).toEqual(done.steps.map((_, i) => i + 1));
    const order = [/^probe:start/, /^probe:ok:ymodem/, /^identify:ok:application dead, only the serial bootloader answers/, /^flash:start:golden image/, /^flash:progress:connecting/, /^flash:progress:transferring/, /^flash:ok/, /^verify:ok:sent crc32/, /^journal:ok:ticket RMA-2025-0815, technician zhang.wei/];
    let at = -1;
    for (const o of order) {
      const i = steps.findIndex((s, k) => k > at && o.test(s));
      expect(i, `${o} in\n${steps.join('\n')}`).toBeGreaterThan(at);
      at = i;
    }
    // a poll mid-run saw fewer steps than the end: they arrive as they happen, not all at the end
    expect(seen.some((v) => v.steps.length > 0 && v.steps.length < done.steps.length)).toBe(true);

    // the batch events of the recovery's one-unit batch: snapshot, then the job running to passed
    await expect.poll(() => c.events.filter((e) => e.batchId === done.batchId).at(-1)?.batch?.state ?? c.events.filter((e) => e.batchId === done.batchId).at(-1)?.jobs[0]?.state, { timeout: 10_000 }).toMatch(/finished|passed/);
    const mine = c.events.filter((e) => e.batchId === done.batchId);
    expect(mine[0]!.type).toBe('snapshot');
    expect(mine.flatMap((e) => e.jobs).some((j) => j.jobId === done.jobId)).toBe(true);

    // the unit really runs the golden image
    expect(memory.state.appDead).toBe(false);
    expect(memory.state.version).toBe('2.0.0');

    // past RMA jobs: exact ticket, part of it, and the recent list
    const byTicket = value(await c.call<JobView[]>('listRmaJobs', { ticket: TICKET }));
    expect(byTicket.map((j) => j.jobId)).toEqual([done.jobId]);
    expect(byTicket[0]).toMatchObject({ rmaTicket: TICKET, technician: 'zhang.wei', state: 'passed' });
    expect(value(await c.call<JobView[]>('listRmaJobs', { ticket: '2025-08' })).map((j) => j.jobId)).toEqual([done.jobId]);
    expect(value(await c.call<JobView[]>('listRmaJobs', { ticket: 'RMA-1999' }))).toEqual([]);
    expect(value(await c.call<JobView[]>('listRmaJobs', {})).map((j) => j.jobId)).toContain(done.jobId);

    // the RMA record: full raw trace (every byte of the image went out) and the report row
    const detail = value(await c.call<RmaDetailView>('rmaDetail', { jobId: done.jobId }));
    expect(detail).toMatchObject({ ticket: TICKET, technician: 'zhang.wei', probe: { protocol: 'ymodem', bootloaderOnly: true } });
    const tx = Buffer.from(detail.rawTrace.filter((e) => e.dir === 'tx').map((e) => e.hex).join(''), 'hex');
    expect(tx.length).toBeGreaterThan(IMAGE_BYTES);
    expect(tx.includes(Buffer.from(image.subarray(20 * 1024 + 10, 21 * 1024 - 10)))).toBe(true);
    expect(detail.rawTrace.some((e) => e.dir === 'rx' && e.hex === '43')).toBe(true); // the loader's C
    expect(detail.reportRow).toMatchObject({ rma_ticket: TICKET, technician: 'zhang.wei', result: 'ok', address: pty.hostPath, version_after: '2.0.0' });
    // The loader's own CRC shows as confirmed only when the session marks it device-confirmed (issue 9 §1).
    expect(['', crc32Hex(image)]).toContain(detail.reportRow.confirmed_crc32);
    if (String(detail.reportRow.confirmed_by).includes('device-crc32')) expect(detail.reportRow.confirmed_crc32).toBe(crc32Hex(image));
    expect(String(detail.reportRow.trace_ref)).toContain(done.jobId);
    const notRma = await c.call('rmaDetail', { jobId: 'B-nope-0001' });
    expect(!notRma.ok && notRma.error.code).toBe('CONFIG_INVALID');
    const unknownRun = await c.call('rmaStatus', { recoveryId: 'R-nope' });
    expect(unknownRun.ok).toBe(false);
  }, 90_000);

  it('a port where nothing answers fails the probe step with RMA_NO_PATH and the operator text', async () => {
    const c = await connect();
    const pkg = value(await c.call<{ id: string }>('importPackage', { fileName: 'g.bin', dataBase64: Buffer.from(buildSimImage(2000, '2.0.0')).toString('base64') }));
    const pty = await createPtyPair(fs.mkdtempSync(path.join(dir, 'dead-')));
    cleanups.push(() => pty.close());
    const started = value(await c.call<RmaRunView>('recoverUnit', { port: pty.hostPath, packageId: pkg.id, ticket: 'RMA-DEAD-1', technician: 'li' }));
    let last: RmaRunView = started;
    await expect
      .poll(
        async () => {
          last = value(await c.call<RmaRunView>('rmaStatus', { recoveryId: started.recoveryId }));
          return last.state;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe('failed');
    expect(last.error).toMatchObject({ code: 'RMA_NO_PATH', result: 'device_error' });
    expect(last.error!.operatorText['zh-CN']).toMatch(/恢复通道/);
    expect(last.steps.map((s) => `${s.step}:${s.status}`)).toEqual(['probe:start', 'probe:failed']);
    expect(last.batchId).toBeUndefined();
    expect(value(await c.call<JobView[]>('listRmaJobs', { ticket: 'RMA-DEAD-1' }))).toEqual([]);
  }, 60_000);
});
