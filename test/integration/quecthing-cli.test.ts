/**
 * The acceptance run of issue 4: `flashline flash --package P --version V2_0 --target
 * sim:quecthing-sota:8 --json` upgrades 8 virtual QuecThing MCUs on 115200-baud-equivalent sim
 * links; plus a refusing MCU that fails with its code while the others pass.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FlashSummary } from '../../main/contract/dto.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { lastJson, runCli } from '../helpers/cli.js';

describe('flashline flash on sim:quecthing-sota', () => {
  it('sim:quecthing-sota:8 --version V2_0: all 8 pass with the package hashes; a second run skips all 8 at the version gate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-qt-cli-'));
    const pkg = path.join(dir, 'P.bin');
    fs.writeFileSync(pkg, buildSimImage(24 * 1024, 'V2_0'));
    const r = await runCli(['flash', '--package', pkg, '--version', 'V2_0', '--target', 'sim:quecthing-sota:8', '--json', '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson<FlashSummary>(r.stdout);
    expect(s).toMatchObject({ total: 8, passed: 8, failed: 0 });
    expect(s.units.map((u) => [u.unit, u.protocol, u.result, u.bytes])).toEqual(
      Array.from({ length: 8 }, (_, i) => [`sim:quecthing-sota:${i + 1}`, 'quecthing-sota', 'ok', 24 * 1024]),
    );
    expect(new Set(s.units.map((u) => u.md5)).size).toBe(1);
    expect(r.stderr).toMatch(/1\.0\.0 → V2_0/);
    // A second run: every MCU now announces V2_0, so the version gate skips them all without a plan.
    const again = await runCli(['flash', '--package', pkg, '--version', 'V2_0', '--target', 'sim:quecthing-sota:8', '--json', '--data-dir', dir]);
    expect(lastJson<FlashSummary>(again.stdout)).toMatchObject({ total: 8, skipped: 8, passed: 0 });
  });

  it('a refusing MCU fails with version_rejected, the others pass; exit status 1', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-qt-cli-'));
    const pkg = path.join(dir, 'P.bin');
    fs.writeFileSync(pkg, buildSimImage(8 * 1024, 'V2_0'));
    const r = await runCli(['flash', '--package', pkg, '--version', 'V2_0', '--target', 'sim:quecthing-sota:2', '--target', 'sim:quecthing-sota:1:refuse_version', '--json', '--data-dir', dir]);
    expect(r.code).toBe(1);
    const s = lastJson<FlashSummary>(r.stdout);
    expect(s).toMatchObject({ total: 3, passed: 2, failed: 1 });
    expect(s.units[2]).toMatchObject({ result: 'version_rejected', code: 'DEVICE_REJECTED_VERSION' });
  });

  it('SOTA knobs from the target: wrong_version → version_mismatch, garbage passes; a knob ymodem lacks fails that unit with CONFIG_INVALID', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-qt-cli-'));
    const pkg = path.join(dir, 'P.bin');
    fs.writeFileSync(pkg, buildSimImage(8 * 1024, 'V2_0'));
    const r = await runCli([
      'flash', '--package', pkg, '--version', 'V2_0', '--json', '--data-dir', dir,
      '--target', 'sim:quecthing-sota:1:wrong_version', '--target', 'sim:quecthing-sota:1:garbage', '--target', 'sim:quecthing-sota:1:skip_update3',
      '--target', 'sim:ymodem:1:wrong_version',
    ]);
    expect(r.code, r.stderr).toBe(1);
    const s = lastJson<FlashSummary>(r.stdout);
    expect(s).toMatchObject({ total: 4, passed: 2, failed: 2 });
    expect(s.units.map((u) => [u.unit, u.result, u.code])).toEqual([
      ['sim:quecthing-sota:1', 'version_mismatch', 'VERIFY_VERSION_MISMATCH'],
      ['sim:quecthing-sota:2', 'ok', null],
      ['sim:quecthing-sota:3', 'ok', null],
      ['sim:ymodem:1', 'station_error', 'CONFIG_INVALID'],
    ]);
    // skip_update3: the strict verdict fails the first attempt (no AT+QIOTUPDATE=3); the MCU,
    // rebooted into the image meanwhile, reports the target on the retry. The MCU's reboot while
    // the station reconnects must not crash the station (it once did: an unhandled rejection).
    expect(s.units[2]!.attempts).toBe(2);
    expect(r.stderr).toMatch(/retry after SOTA_INCOMPLETE_READ/);
    expect(s.units[3]!.attempts).toBe(0); // refused before any link was opened, not run as `accept`
    expect(r.stderr).toMatch(/unit reports V2_0-bad after reboot, expected V2_0/);
    expect(r.stderr).toMatch(/sim behaviour "wrong_version" is not implemented by the ymodem virtual device/);
    // an unknown knob is still a bad target for every protocol
    const bad = await runCli(['flash', '--package', pkg, '--version', 'V2_0', '--target', 'sim:quecthing-sota:1:melt', '--data-dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown behaviour "melt".*wrong_version/);
  });
});
