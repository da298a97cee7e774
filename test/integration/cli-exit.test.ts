/**
 * Issue 9 §3: every `flashline` command ends. After the JSON summary (or the error line of a bad
 * input) the process exits within 2 s — for each transport (virtual serial, a real serial PTY
 * with lrzsz `rb` and a silent port, BLE through real noble over simulated bindings, MQTT with the
 * station's broker) on passing and failing units. A lingering handle (noble, a port, a broker,
 * a timer) makes these tests fail. With --json, stdout carries only JSON, even when a library
 * prints with console.log during the batch.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlashSummary } from '../../main/contract/dto.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { startCli } from '../helpers/cli.js';
import { createPtyPair, describeWithTools, spawnRbPeer } from '../helpers/pty.js';

const EXIT_WITHIN_MS = 2000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-exit-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function image(dir: string, bytes = 16 * 1024): string {
  const f = path.join(dir, 'app.bin');
  fs.writeFileSync(f, buildSimImage(bytes, '2.0.0'));
  return f;
}

/** Run the CLI; note when the summary (or the error line) appeared and when the process ended. */
async function timed(args: string[], env: Record<string, string> = {}, endMark: RegExp = /^\{"batchId"/m) {
  const run = startCli(args, env);
  let markAt: number | null = null;
  const poll = setInterval(() => {
    if (markAt === null && (endMark.test(run.stdout()) || endMark.test(run.stderr()))) markAt = performance.now();
  }, 5);
  run.child.stdout!.on('data', () => {
    if (markAt === null && endMark.test(run.stdout())) markAt = performance.now();
  });
  run.child.stderr!.on('data', () => {
    if (markAt === null && endMark.test(run.stderr())) markAt = performance.now();
  });
  const ended = await Promise.race([run.done, new Promise<null>((r) => setTimeout(() => r(null), 120_000))]);
  const exitAt = performance.now();
  clearInterval(poll);
  if (ended === null) run.child.kill('SIGKILL');
  const lingerMs = markAt === null ? Infinity : exitAt - markAt;
  return { code: ended?.code ?? null, stdout: run.stdout(), stderr: run.stderr(), lingerMs };
}

/** --json: every stdout line is JSON, the last one the summary. */
function jsonOnly(stdout: string): FlashSummary {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(() => JSON.parse(l), `stdout line is not JSON: ${l.slice(0, 120)}`).not.toThrow();
  return JSON.parse(lines.at(-1)!) as FlashSummary;
}

describe('flashline exits within 2 s of its summary', () => {
  it('virtual serial units (sim ymodem), passing and failing', async () => {
    const dir = tmpDir();
    const r = await timed(['flash', '--package', image(dir), '--version', '2.0.0', '--target', 'sim:ymodem:2', '--target', 'sim:ymodem:1:crc_failure', '--retries', '0', '--json', '--data-dir', dir]);
    expect(r.code).toBe(1);
    const s = jsonOnly(r.stdout);
    expect(s).toMatchObject({ passed: 2, failed: 1 });
    expect(r.lingerMs).toBeLessThan(EXIT_WITHIN_MS);
  }, 150_000);

  it('BLE units through real noble over simulated bindings, passing and refused', async () => {
    const dir = tmpDir();
    const r = await timed(['flash', '--package', image(dir), '--version', '2.0.0', '--target', 'sim:llsync-ota:1', '--target', 'sim:llsync-ota:1:refuse_version', '--json', '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(jsonOnly(r.stdout)).toMatchObject({ passed: 1, failed: 1 });
    expect(r.lingerMs).toBeLessThan(EXIT_WITHIN_MS);
  }, 150_000);

  it('networked units with the station’s MQTT broker and firmware server', async () => {
    const dir = tmpDir();
    const r = await timed(['flash', '--package', image(dir), '--version', '2.0.0', '--target', 'sim:mqtt-ota-tencent:1', '--target', 'sim:mqtt-ota-aliyun:1', '--json', '--data-dir', dir]);
    const s = jsonOnly(r.stdout);
    expect(s.total).toBe(2);
    expect(r.lingerMs).toBeLessThan(EXIT_WITHIN_MS);
  }, 150_000);

  it('bad input: exit 2 within 2 s of the error, nothing on stdout', async () => {
    const dir = tmpDir();
    const r = await timed(['flash', '--package', path.join(dir, 'missing.bin'), '--target', 'sim:ymodem:1', '--json', '--data-dir', dir], {}, /^error [A-Z_]+:/m);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.lingerMs).toBeLessThan(EXIT_WITHIN_MS);
    const bad = await timed(['flash', '--package', path.join(dir, 'missing.bin'), '--target', 'sim:ymodem:1', '--opt', 'ymodem.nope=1', '--json', '--data-dir', dir], {}, /^error [A-Z_]+:/m);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/CONFIG_INVALID/);
    expect(bad.lingerMs).toBeLessThan(EXIT_WITHIN_MS);
  }, 150_000);

  it('--json: what a library prints with console.log during the batch goes to stderr', async () => {
    const dir = tmpDir();
    // A "library" in the process that prints to the console once the batch is under way.
    const noise = path.join(dir, 'noise.mjs');
    fs.writeFileSync(
      noise,
      // (main thread only: NODE_OPTIONS also reaches the package hashing workers)
      `import fs from 'node:fs';\nimport { isMainThread } from 'node:worker_threads';\nconst t = setInterval(() => { if (isMainThread && fs.existsSync(${JSON.stringify(path.join(dir, 'journal.sqlite'))})) { console.log('library noise on console.log'); console.info('library info'); } }, 20);\nt.unref();\n`,
    );
    const r = await timed(['flash', '--package', image(dir, 64 * 1024), '--version', '2.0.0', '--target', 'sim:ymodem:2', '--json', '--data-dir', dir], { NODE_OPTIONS: `--import ${noise}` });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/library noise on console\.log/); // it really printed
    expect(jsonOnly(r.stdout)).toMatchObject({ passed: 2 });
    expect(r.lingerMs).toBeLessThan(EXIT_WITHIN_MS);
  }, 150_000);
});

describeWithTools(['socat', 'rb'], 'flashline exits within 2 s over real serial ports (PTY)', () => {
  it('lrzsz rb passes, a silent port and a missing port fail; the ports are released and the process ends', async () => {
    const dir = tmpDir();
    const peer = await spawnRbPeer(dir);
    cleanups.push(() => peer.close());
    const silent = await createPtyPair(fs.mkdtempSync(path.join(dir, 'silent-')));
    cleanups.push(() => silent.close());
    const r = await timed([
      'flash', '--package', image(dir, 8 * 1024), '--version', '2.0.0',
      '--target', `serial:${peer.dutPath}:ymodem`, '--target', `serial:${silent.hostPath}:ymodem`, '--target', `serial:${path.join(dir, 'no-such-tty')}:ymodem`,
      // rb repeats its C every ~10 s: wait longer than that for it (the silent port waits as long).
      '--profile', 'lrzsz-receiver', '--opt', 'ymodem.startTimeoutMs=12000', '--retries', '0', '--json', '--data-dir', dir,
    ]);
    expect(r.code).toBe(1);
    const s = jsonOnly(r.stdout);
    expect(s, JSON.stringify(s.units.map((u) => [u.unit, u.code]))).toMatchObject({ passed: 1, failed: 2 });
    expect(s.units.find((u) => u.unit === `serial:${silent.hostPath}`)?.code).toBe('PROTOCOL_NO_START');
    expect(r.lingerMs).toBeLessThan(EXIT_WITHIN_MS);
  }, 150_000);
});
