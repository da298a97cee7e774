/**
 * The CLI contract that acceptance checks use: `flashline … --json` last line, exit codes,
 * target syntax errors, bad files, reports and their verification, scan without Bluetooth.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { lastJson, runCli } from '../helpers/cli.js';
import type { FlashSummary } from '../../main/contract/dto.js';

let dir: string;
let img: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-cli-'));
  img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(32 * 1024, '2.0.0'));
});

describe('flashline CLI', () => {
  let batchId = '';
  it('flash --json: the last line is the summary object; exit 1 when a unit failed', async () => {
    const r = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:ymodem:3', '--target', 'sim:ymodem:1:refuse_version', '--json', '--data-dir', dir, '--operator', 'bob', '--station', 'line2-st4']);
    expect(r.code).toBe(1);
    const s = lastJson<FlashSummary>(r.stdout);
    expect(Object.keys(s)).toEqual(['batchId', 'total', 'passed', 'failed', 'skipped', 'cancelled', 'durationMs', 'units']);
    expect(s).toMatchObject({ total: 4, passed: 3, failed: 1, skipped: 0, cancelled: 0 });
    expect(Object.keys(s.units[0]!)).toEqual(['unit', 'transport', 'protocol', 'result', 'code', 'bytes', 'crc32', 'md5', 'sha256', 'durationMs', 'attempts', 'confirmedBy', 'attemptCauses']);
    const refused = s.units.find((u) => u.unit === 'sim:ymodem:4')!;
    expect(refused).toMatchObject({ result: 'version_rejected', code: 'DEVICE_REJECTED_VERSION', transport: 'sim', protocol: 'ymodem' });
    const ok = s.units[0]!;
    expect(ok).toMatchObject({ result: 'ok', code: null, bytes: 32 * 1024 });
    expect(ok.crc32).toMatch(/^[0-9a-f]{8}$/);
    expect(ok.sha256).toMatch(/^[0-9a-f]{64}$/);
    batchId = s.batchId;
  }, 60_000);

  it('exit 0 when all pass; a second run skips units already at the target', async () => {
    const r = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:ymodem:3', '--json', '--data-dir', dir]);
    expect(r.code).toBe(0);
    expect(lastJson<FlashSummary>(r.stdout)).toMatchObject({ total: 3, skipped: 3, passed: 0 });
  }, 60_000);

  it('batches lists the batch; report exports verify; an edited report is detected', async () => {
    const list = await runCli(['batches', '--json', '--data-dir', dir]);
    expect(JSON.parse(list.stdout.trim()).map((b: { batchId: string }) => b.batchId)).toContain(batchId);
    for (const format of ['csv', 'json', 'html']) {
      const out = path.join(dir, `r.${format}`);
      const rep = await runCli(['report', batchId, '--format', format, '--out', out, '--data-dir', dir]);
      expect(rep.code).toBe(0);
      const text = fs.readFileSync(out, 'utf8');
      expect(text).toContain('sim:ymodem:4');
      expect(text).toContain('line2-st4');
      const ok = await runCli(['verify-report', out, '--data-dir', dir]);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^signed by line2-st4 \([0-9a-f]{16}, this station\) — valid\nhash chain intact: .*4 rows/);
    }
    const csv = path.join(dir, 'r.csv');
    fs.writeFileSync(csv, fs.readFileSync(csv, 'utf8').replace('version_rejected', 'ok'));
    const bad = await runCli(['verify-report', csv, '--data-dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^SIGNATURE INVALID\nTAMPERED/);
  }, 60_000);

  it.each([
    [['flash', '--target', 'sim:ymodem:1'], /--package/],
    [['flash', '--package', 'x.bin'], /--target/],
    [['flash', '--package', 'x.bin', '--version', '1', '--target', 'sim:nope:1'], /unknown protocol/],
    [['flash', '--package', 'x.bin', '--version', '1', '--target', 'serial:/dev/ttyX:ymodem', '--concurrency', 'lots'], /--concurrency/],
    [['frobnicate'], /unknown command/],
  ])('bad usage %j → exit 2 with a clear message', async (args, msg) => {
    const r = await runCli([...args, '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
  });

  it('a bad firmware file gets its specific code and the operator message, not a crash', async () => {
    const empty = path.join(dir, 'empty.bin');
    fs.writeFileSync(empty, '');
    const r1 = await runCli(['flash', '--package', empty, '--version', '2.0.0', '--target', 'sim:ymodem:1', '--data-dir', dir]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/IMAGE_EMPTY/);
    expect(r1.stderr).toMatch(/→ The firmware file is empty/);
    const hex = path.join(dir, 'bad.hex');
    fs.writeFileSync(hex, ':10000000000102030405060708090A0B0C0D0E0F00\n:00000001FF\n');
    const r2 = await runCli(['flash', '--package', hex, '--version', '2.0.0', '--target', 'sim:ymodem:1', '--data-dir', dir]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/IMAGE_HEX_CHECKSUM/);
    const r3 = await runCli(['flash', '--package', img, '--version', 'v 2', '--target', 'sim:ymodem:1', '--data-dir', dir]);
    expect(r3.stderr).toMatch(/IMAGE_VERSION_INVALID/);
  });

  it('a serial port that does not exist fails that unit with TRANSPORT_NOT_FOUND; the sim unit beside it passes', async () => {
    const r = await runCli(['flash', '--package', img, '--version', '2.0.0', '--no-skip-at-target', '--retries', '0', '--target', 'serial:/dev/flashline-no-such-port:ymodem', '--target', 'sim:ymodem:9', '--json', '--data-dir', dir]);
    expect(r.code).toBe(1);
    const s = lastJson<FlashSummary>(r.stdout);
    expect(s.units.find((u) => u.unit === 'serial:/dev/flashline-no-such-port')).toMatchObject({ result: 'disconnected', code: 'TRANSPORT_NOT_FOUND' });
    expect(s.units.find((u) => u.unit === 'sim:ymodem:9')).toMatchObject({ result: 'ok' });
  }, 60_000);

  it('scan works on a machine without Bluetooth and says so', async () => {
    const r = await runCli(['scan', '--json', '--data-dir', dir]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout.trim());
    expect(Array.isArray(s.serial)).toBe(true);
    expect(['no-adapter', 'unknown', 'poweredOn', 'poweredOff', 'unsupported', 'unauthorized', 'resetting']).toContain(s.ble.state);
    if (s.ble.state === 'no-adapter') expect(s.ble.reason).toMatch(/No Bluetooth adapter/);
  });

  it('demo: every virtual unit of every dialect passes and the reports are written and verify', async () => {
    const demoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-demo-test-'));
    const r = await runCli(['demo', '--json', '--data-dir', demoDir]);
    expect(r.code).toBe(0);
    const s = lastJson<FlashSummary>(r.stdout);
    expect(s.total).toBeGreaterThanOrEqual(16);
    expect(s).toMatchObject({ passed: s.total, failed: 0, skipped: 0 });
    expect(new Set(s.units.map((u) => u.protocol))).toEqual(new Set(['ymodem', 'llsync-ota', 'quecthing-sota', 'mqtt-ota-tencent', 'mqtt-ota-aliyun']));
    for (const f of ['html', 'csv', 'json']) {
      const file = path.join(demoDir, 'reports', `${s.batchId}.${f}`);
      expect(fs.existsSync(file)).toBe(true);
      expect((await runCli(['verify-report', file])).code).toBe(0);
    }
  }, 120_000);
});
