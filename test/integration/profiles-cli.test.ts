/**
 * Issue 9 §9 through the real CLI: `flashline options`, `flashline profiles` (list, save,
 * delete), `--profile` on flash, refusals with exit 2, and the effective profile journaled with
 * the batch: a batch run with `--opt`, killed mid-batch and resumed without it, runs its resumed
 * jobs with that option (no option lost on resume).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlashSummary, OptionSpec, ProductProfile } from '../../main/contract/dto.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { lastJson, runCli, startCli } from '../helpers/cli.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-profiles-'));
  dirs.push(d);
  return d;
}

describe('flashline options / profiles', () => {
  it('options PROTOCOL prints every option with type, default, unit and meaning', async () => {
    const j = await runCli(['options', 'llsync-ota', '--json']);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout) as { protocol: string; options: OptionSpec[] };
    expect(doc.protocol).toBe('llsync-ota');
    expect(doc.options.find((o) => o.key === 'replyTimeoutMs')).toMatchObject({ type: 'number', default: 10_000, unit: 'ms' });
    const t = await runCli(['options', 'ymodem']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/blockSize\n\s+number: 1024 \| 128; default 1024; unit bytes\n\s+Data block size/);
    const bad = await runCli(['options', 'zmodem']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/CONFIG_INVALID.*unknown protocol "zmodem"/);
  }, 150_000);

  it('lists built-in and user profiles; saves, refuses and deletes user ones', async () => {
    const dir = tmpDir();
    const list = await runCli(['profiles', '--json', '--data-dir', dir]);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as ProductProfile[]).map((p) => p.id)).toEqual(['st-iap-ymodem', 'lrzsz-receiver', 'tencent-c-sdk', 'aliyun-iotkit-3', 'quectel-mcu', 'llsync-sdk']);

    const file = path.join(dir, 'line-7.json');
    fs.writeFileSync(file, JSON.stringify({ id: 'line-7-sensor', name: 'Line 7 sensor', protocol: 'llsync-ota', options: { localPsk: '00001234', replyTimeoutMs: 4000 }, timers: { rebootTimeoutMs: 30_000 } }));
    const saved = await runCli(['profiles', 'save', file, '--data-dir', dir]);
    expect(saved.code).toBe(0);
    const after = JSON.parse((await runCli(['profiles', '--json', '--data-dir', dir])).stdout) as ProductProfile[];
    expect(after.at(-1)).toMatchObject({ id: 'line-7-sensor', builtIn: false, options: { localPsk: '00001234' } });
    const human = await runCli(['profiles', '--data-dir', dir]);
    expect(human.stdout).toMatch(/line-7-sensor\s+user\s+llsync-ota\s+Line 7 sensor/);

    fs.writeFileSync(file, JSON.stringify({ id: 'line-7-bad', protocol: 'llsync-ota', timers: { rebootTimeoutMs: 5 } }));
    const refused = await runCli(['profiles', 'save', file, '--data-dir', dir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/CONFIG_INVALID.*rebootTimeoutMs = 5 ms is out of range/);
    const builtin = await runCli(['profiles', 'delete', 'llsync-sdk', '--data-dir', dir]);
    expect(builtin.code).toBe(2);

    expect((await runCli(['profiles', 'delete', 'line-7-sensor', '--data-dir', dir])).code).toBe(0);
    expect((JSON.parse((await runCli(['profiles', '--json', '--data-dir', dir])).stdout) as ProductProfile[]).some((p) => p.id === 'line-7-sensor')).toBe(false);
  }, 150_000);

  it('flash --profile uses the profile, journals it, and refuses an unknown one or a wrong protocol', async () => {
    const dir = tmpDir();
    const img = path.join(dir, 'app.bin');
    fs.writeFileSync(img, buildSimImage(8 * 1024, '2.0.0'));
    const file = path.join(dir, 'p.json');
    fs.writeFileSync(file, JSON.stringify({ id: 'bench-ymodem', protocol: 'ymodem', options: { fileName: 'bench-fw.bin' }, timers: { connectTimeoutMs: 9000 }, limits: { maxImageBytes: 4096 } }));
    expect((await runCli(['profiles', 'save', file, '--data-dir', dir])).code).toBe(0);
    const args = ['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:ymodem:1', '--json', '--data-dir', dir];

    // limits.maxImageBytes: the 8 KiB image is refused before anything is sent.
    const tooBig = await runCli([...args, '--profile', 'bench-ymodem']);
    expect(tooBig.code).toBe(1);
    expect(lastJson<FlashSummary>(tooBig.stdout).units[0]).toMatchObject({ code: 'IMAGE_TOO_LARGE_FOR_DEVICE', result: 'no_space', bytes: 0 });
    const j = Journal.open(path.join(dir, 'journal.sqlite'));
    const [batch] = j.listBatches({ limit: 1 });
    j.close();
    expect(batch!.plan.profiles?.ymodem).toMatchObject({ id: 'bench-ymodem', options: { fileName: 'bench-fw.bin', blockSize: 1024, versionReply: '^VER\\s+(\\S+)' }, timers: { connectTimeoutMs: 9000 } });

    const unknown = await runCli([...args, '--profile', 'no-such']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no product profile "no-such"/);
    const wrong = await runCli([...args, '--profile', 'llsync-sdk']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/profile llsync-sdk is for llsync-ota units and the plan has none/);
  }, 150_000);

  it('a plan limit the units cannot report refuses to start (POLICY_UNCHECKABLE, exit 2)', async () => {
    const dir = tmpDir();
    const img = path.join(dir, 'app.bin');
    fs.writeFileSync(img, buildSimImage(8 * 1024, '2.0.0'));
    const r = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:llsync-ota:1', '--min-battery', '30', '--json', '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/POLICY_UNCHECKABLE.*minimum battery 30 % cannot be checked on llsync-ota/);
    expect(r.stdout).toBe('');
  }, 150_000);
});

describe('no option is lost on resume', () => {
  it('a batch run with --opt, killed and resumed without it, runs the resumed jobs with that option', async () => {
    const dir = tmpDir();
    const img = path.join(dir, 'app.bin');
    fs.writeFileSync(img, buildSimImage(48 * 1024, '2.0.0'));
    const name = 'resume-keeps-this-name.bin';
    const args = ['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:ymodem:4', '--concurrency', '1', '--data-dir', dir, '--json', '--opt', `ymodem.fileName=${name}`];
    const run = startCli(args);
    const t0 = Date.now();
    while (!/ymodem #1\s+transferring/.test(run.stderr()) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
    run.child.kill('SIGKILL');
    await run.done;

    const j = Journal.open(path.join(dir, 'journal.sqlite'));
    const [batch] = j.listBatches({ limit: 1 });
    expect(batch!.plan.profiles?.ymodem?.options.fileName).toBe(name);
    const notDone = j.getJobs(batch!.batchId).filter((x) => x.state !== 'passed');
    j.close();
    expect(notDone.length).toBeGreaterThanOrEqual(3); // the kill landed before most units ran

    const resumed = await runCli(['resume', batch!.batchId, '--json', '--data-dir', dir]);
    expect(resumed.code).toBe(0);
    expect(lastJson<FlashSummary>(resumed.stdout).passed).toBe(4);
    const nameHex = Buffer.from(name).toString('hex');
    const j2 = Journal.open(path.join(dir, 'journal.sqlite'));
    for (const job of notDone) {
      const traces = j2.getTrace(job.jobId);
      const last = traces.at(-1)!;
      // Block 0 of the resumed attempt carried the --opt file name, not the package's own.
      expect(last.lines.some((l) => l.dir === 'tx' && l.hex?.includes(nameHex)), job.jobId).toBe(true);
      expect(last.lines.some((l) => l.dir === 'tx' && l.hex?.includes(Buffer.from('app.bin').toString('hex'))), job.jobId).toBe(false);
    }
    j2.close();
  }, 120_000);
});
