/**
 * The CLI with networked units, as an operator runs it (child processes): every command ends
 * within 2 s of printing its summary (broker, HTTP server, timers and client sockets released),
 * `--json` stdout carries only JSON lines, a descriptor-less image passes on virtual units, and
 * `flashline cloud` runs the local cloud as a service that lists units and stops cleanly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { MqttVirtualDevice } from '../../main/engine/device/mqtt-device.js';
import { runCli, startCli } from '../helpers/cli.js';

/** The bar: the process is gone within 2 s of its summary line (margin for a loaded machine is in the measurement, not the limit). */
const EXIT_AFTER_SUMMARY_MS = 2000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Run the CLI; measure from the moment the JSON summary line arrives to the process's exit. */
async function timedFlash(args: string[]): Promise<{ code: number | null; afterSummaryMs: number; lines: string[] }> {
  const r = startCli(args);
  let tSummary = 0;
  r.child.stdout!.on('data', () => {
    if (!tSummary && r.stdout().includes('"batchId"')) tSummary = performance.now();
  });
  const killer = setTimeout(() => r.child.kill('SIGKILL'), 60_000);
  const { code } = await r.done;
  const tExit = performance.now();
  clearTimeout(killer);
  expect(tSummary).toBeGreaterThan(0);
  return { code, afterSummaryMs: tExit - tSummary, lines: r.stdout().trim().split('\n') };
}

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

describe('flashline flash with networked units ends and keeps stdout clean', () => {
  it('a firmware without a version descriptor (--version 3.0.0) passes on sim:mqtt-ota-tencent:4, and the process exits within 2 s of the summary', async () => {
    const dir = tmp('flashline-netcli-');
    const img = path.join(dir, 'any.bin');
    fs.writeFileSync(img, crypto.randomBytes(50_000));
    const r = await timedFlash(['flash', '--package', img, '--version', '3.0.0', '--target', 'sim:mqtt-ota-tencent:4', '--json', '--data-dir', dir]);
    expect(r.code).toBe(0);
    for (const l of r.lines) expect(() => JSON.parse(l)).not.toThrow(); // only JSON lines on stdout
    const s = JSON.parse(r.lines.at(-1)!) as { passed: number; units: { result: string }[] };
    expect(s.passed).toBe(4);
    expect(r.afterSummaryMs).toBeLessThan(EXIT_AFTER_SUMMARY_MS);
  }, 90_000);

  it('failure paths end too: refused units, a unit that never comes back, a power cut, an exiting sample', async () => {
    const dir = tmp('flashline-netcli-');
    const img = path.join(dir, 'any.bin');
    fs.writeFileSync(img, crypto.randomBytes(20_000));
    const r = await timedFlash([
      'flash', '--package', img, '--version', '3.0.0', '--json', '--data-dir', dir, '--retries', '1',
      '--opt', 'mqtt-ota-tencent.rebootTimeoutMs=1500', '--opt', 'mqtt-ota-aliyun.rebootTimeoutMs=1500',
      '--target', 'sim:mqtt-ota-tencent:1:wrong_secret', '--target', 'sim:mqtt-ota-tencent:1:psk_wrong_key',
      '--target', 'sim:mqtt-ota-tencent:1:reboot_timeout', '--target', 'sim:mqtt-ota-tencent:1:power_cut',
      '--target', 'sim:mqtt-ota-aliyun:1:aliyun_example', '--target', 'sim:mqtt-ota-tencent:1:tencent_sample',
    ]);
    expect(r.code).toBe(1);
    for (const l of r.lines) expect(() => JSON.parse(l)).not.toThrow();
    const s = JSON.parse(r.lines.at(-1)!) as { units: { unit: string; result: string; code: string | null }[] };
    const code = (u: string) => s.units.find((x) => x.unit === u)?.code;
    expect(code('sim:mqtt-ota-tencent:1')).toBe('NET_AUTH_FAILED');
    expect(code('sim:mqtt-ota-tencent:2')).toBe('NET_AUTH_FAILED');
    expect(code('sim:mqtt-ota-tencent:3')).toBe('REBOOT_TIMEOUT');
    expect(code('sim:mqtt-ota-tencent:4')).toBeNull(); // power cut: resumed and passed
    expect(code('sim:mqtt-ota-aliyun:1')).toBe('REBOOT_TIMEOUT');
    expect(code('sim:mqtt-ota-tencent:5')).toBe('REBOOT_TIMEOUT'); // the sample never reports the new version
    expect(r.afterSummaryMs).toBeLessThan(EXIT_AFTER_SUMMARY_MS);
  }, 90_000);

  it('the SDK sample passes only with the done policy (--opt mqtt-ota-tencent.successPolicy=done); Aliyun refuses it', async () => {
    const dir = tmp('flashline-netcli-');
    const img = path.join(dir, 'any.bin');
    fs.writeFileSync(img, crypto.randomBytes(20_000));
    const ok = await runCli(['flash', '--package', img, '--version', '3.0.0', '--json', '--data-dir', dir, '--opt', 'mqtt-ota-tencent.successPolicy=done', '--target', 'sim:mqtt-ota-tencent:2:tencent_sample']);
    expect(ok.code).toBe(0);
    const bad = await runCli(['flash', '--package', img, '--version', '3.0.0', '--json', '--data-dir', dir, '--opt', 'mqtt-ota-aliyun.successPolicy=done', '--target', 'sim:mqtt-ota-aliyun:1']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout.trim().split('\n').at(-1)!).units[0].code).toBe('CONFIG_INVALID');
  }, 90_000);
});

describe('flashline cloud', () => {
  it('runs broker + firmware server as a service, lists units as they report (roster query too), and exits 0 on SIGTERM', async () => {
    const dir = tmp('flashline-cloudcli-');
    const secret = crypto.randomBytes(16).toString('base64');
    fs.writeFileSync(path.join(dir, 'net-station.json'), JSON.stringify({ host: '127.0.0.1', mqttPort: 0, httpPort: 0, urlPort: null }));
    fs.writeFileSync(path.join(dir, 'devices.csv'), `dialect,product,device,secret\ntencent,ABCDEFGHIJ,dev001,${secret}\n`);
    const r = startCli(['cloud', '--json', '--data-dir', dir]);
    cleanups.push(() => void r.child.kill('SIGKILL'));
    const lineOf = async (pred: (o: Record<string, unknown>) => boolean) => {
      for (let i = 0; i < 300; i++) {
        const hit = r.stdout().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find(pred);
        if (hit) return hit;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`no such line; stdout ${r.stdout()} stderr ${r.stderr()}`);
    };
    const cloud = await lineOf((o) => o.type === 'cloud');
    expect(cloud).toMatchObject({ running: true, units: [] });
    // A unit powers on with no batch anywhere: it connects, subscribes, reports once.
    const dev = new MqttVirtualDevice({ dialect: 'tencent', product: 'ABCDEFGHIJ', device: 'dev001', secret, brokerUrl: cloud.mqttUrl as string, httpPort: cloud.httpPort as number, memory: new DeviceMemory({ version: '1.0.0', serialNumber: 'dev001' }), profile: 'tencent-sample' });
    cleanups.push(() => dev.stop());
    await dev.start();
    expect(dev.connackCodes).toEqual([0]);
    const listed = await lineOf((o) => o.type === 'unit' && o.version === '1.0.0');
    expect(listed).toMatchObject({ unitId: 'mqtt:ABCDEFGHIJ/dev001', protocol: 'mqtt-ota-tencent', online: true });
    await new Promise((res) => setTimeout(res, 400)); // the roster file is written at most every 200 ms
    const q = await runCli(['cloud', 'roster', '--json', '--data-dir', dir]);
    expect(q.code).toBe(0);
    const roster = JSON.parse(q.stdout.trim()) as { running: boolean; units: { unitId: string; version?: string }[] };
    expect(roster.running).toBe(true);
    expect(roster.units).toEqual([expect.objectContaining({ unitId: 'mqtt:ABCDEFGHIJ/dev001', version: '1.0.0' })]);
    const t0 = performance.now();
    r.child.kill('SIGTERM');
    const { code } = await r.done;
    expect(code).toBe(0);
    expect(performance.now() - t0).toBeLessThan(EXIT_AFTER_SUMMARY_MS);
    const after = JSON.parse((await runCli(['cloud', 'roster', '--json', '--data-dir', dir])).stdout.trim()) as { running: boolean };
    expect(after.running).toBe(false);
  }, 60_000);

  it('a bad net-station.json is refused with exit 2 and a clear message', async () => {
    const dir = tmp('flashline-cloudcli-');
    fs.writeFileSync(path.join(dir, 'net-station.json'), JSON.stringify({ httpport: 80 }));
    const r = await runCli(['cloud', '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CONFIG_INVALID.*unknown setting "httpport"/);
  }, 30_000);
});
