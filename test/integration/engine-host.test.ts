/**
 * The engine off the UI's thread (issue 12 §1): the same engine-host entry runs as serve's
 * child process, in a forked child over an IPC channel (what an Electron utility process is to main),
 * and as the ahead-of-time built bundle (out/main/engine-host.js) in plain Node — each drives a
 * batch of virtual units through the relayed StationApi. The built main bundle carries no engine.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { portOfChild } from '../../main/host/host-port.js';
import { connectStationApi } from '../../main/host/remote-api.js';
import { startEngineProcess } from '../../main/host/engine-process.js';
import { REPO } from '../helpers/cli.js';
import { runSimBatchThrough } from '../helpers/host-batch.js';

const TARGETS = ['sim:ymodem:5', 'sim:quecthing-sota:2', 'sim:ymodem:1:refuse_version'];
const cleanups: (() => void | Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});
const tmp = (prefix: string) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};

function forkHost(entry: string, execArgv: string[]): ChildProcess {
  const child = fork(entry, [], { cwd: REPO, execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push(() => void child.kill());
  return child;
}

function expectBatch(batch: { state: string; counts: { total: number; passed: number; failed: number } }): void {
  expect(batch.state).toBe('finished');
  expect(batch.counts).toMatchObject({ total: 8, passed: 7, failed: 1 });
}

describe('engine host', () => {
  it('in a child process (serve): a batch runs through the relayed API, events arrive, close journals and ends the process', async () => {
    const dataDir = tmp('flashline-host-w-');
    const host = await startEngineProcess({ dataDir, browserMode: true, stationId: 'st-w' });
    const info = await host.api.handlers.stationInfo({});
    expect(info.ok && info.value).toMatchObject({ stationId: 'st-w', browserMode: true });
    const { batch, events } = await runSimBatchThrough(host.api, TARGETS);
    expectBatch(batch);
    expect(events[0]!.type).toBe('snapshot');
    expect(host.api.watch(42, () => undefined).ok).toBe(false);
    // An unknown batch cannot be refused at once across the process boundary: the host says so later, never silence.
    const refused = await new Promise<string>((resolve) => {
      const r = host.api.watch('no-such-batch', () => resolve('event'), (e) => resolve(e.code));
      expect(r.ok).toBe(true);
    });
    expect(refused).toBe('CONFIG_INVALID');
    const exited = new Promise<number>((r) => host.child.once('exit', r));
    await host.close();
    await exited;
    expect(host.child.exitCode ?? host.child.signalCode).not.toBeNull();
    expect(host.api.stopped).toBe('closed');
    const after = await host.api.handlers.stationInfo({});
    expect(after.ok ? null : after.error.code).toBe('INTERNAL');
  }, 120_000);

  it('in a bare forked child (the utility-process shape): a bad data dir is a clear init error; a parent that drops the channel closes it', async () => {
    const child = forkHost(path.join(REPO, 'main', 'host', 'engine-host-entry.ts'), ['--import', 'tsx']);
    const api = connectStationApi(portOfChild(child));
    const file = path.join(tmp('flashline-host-bad-'), 'not-a-dir');
    fs.writeFileSync(file, 'x');
    await expect(api.init({ dataDir: file, browserMode: false })).rejects.toThrow();
    await api.close();
    const child2 = forkHost(path.join(REPO, 'main', 'host', 'engine-host-entry.ts'), ['--import', 'tsx']);
    const api2 = connectStationApi(portOfChild(child2));
    await api2.init({ dataDir: tmp('flashline-host-c-'), browserMode: false });
    const { batch } = await runSimBatchThrough(api2, TARGETS);
    expectBatch(batch);
    await api2.close();
    expect(api2.stopped).toBe('closed');
    // A parent that goes away: the host closes its engine and leaves on its own.
    const child3 = forkHost(path.join(REPO, 'main', 'host', 'engine-host-entry.ts'), ['--import', 'tsx']);
    const api3 = connectStationApi(portOfChild(child3));
    await api3.init({ dataDir: tmp('flashline-host-d-'), browserMode: false });
    const gone = new Promise((r) => child3.once('exit', r));
    child3.disconnect();
    await gone;
  }, 120_000);

  it('built ahead of time: out/main/engine-host.js runs in plain Node (no tsx) with the worker pool; index.js holds no engine', async () => {
    const outDir = fs.mkdtempSync(path.join(REPO, 'out', 'build-test-'));
    cleanups.push(() => fs.rmSync(outDir, { recursive: true, force: true }));
    // @ts-expect-error plain .mjs build script without types
    const { buildDesktop } = (await import('../../main/app/build-desktop.mjs')) as { buildDesktop(dir: string): Promise<{ files: string[] }> };
    const built = await buildDesktop(outDir);
    for (const f of ['main/index.js', 'main/engine-host.js', 'main/worker-entry.js', 'main/package-tasks.js', 'main/report-tasks.js']) expect(built.files).toContain(f);
    expect(fs.existsSync(path.join(outDir, 'main', 'worker-boot.mjs'))).toBe(true);
    expect(fs.existsSync(path.join(outDir, 'preload', 'index.cjs'))).toBe(true);
    // The main process bundle and its chunks relay only: no job runner, scheduler or journal in them.
    const mainCode = [fs.readFileSync(path.join(outDir, 'main', 'index.js'), 'utf8'), ...fs.readdirSync(path.join(outDir, 'main')).filter((f) => f.startsWith('chunk-')).map((f) => fs.readFileSync(path.join(outDir, 'main', f), 'utf8'))].join('\n');
    const indexImports = [...fs.readFileSync(path.join(outDir, 'main', 'index.js'), 'utf8').matchAll(/from\s+"\.\/([^"]+)"/g)].map((m) => m[1]);
    for (const c of indexImports) expect(c).toMatch(/^chunk-/);
    expect(mainCode).not.toMatch(/\b(class|var) (Engine|BatchRun|Scheduler|Journal)\b/);
    expect(fs.readFileSync(path.join(outDir, 'main', 'engine-host.js'), 'utf8')).toMatch(/\bvar Engine = class\b/);
    const child = forkHost(path.join(outDir, 'main', 'engine-host.js'), []);
    const api = connectStationApi(portOfChild(child));
    await api.init({ dataDir: tmp('flashline-host-b-'), browserMode: false });
    const { batch } = await runSimBatchThrough(api, TARGETS);
    expectBatch(batch);
    // Report rendering goes through the built worker pool (report-tasks.js) too.
    const csv = await api.handlers.exportReport({ batchId: batch.batchId, format: 'csv' });
    expect(csv.ok && csv.value.content).toContain(batch.batchId);
    await api.close();
  }, 180_000);
});
