/**
 * Issue 9 §5 end to end: the real `flashline` CLI over a real serialport on a socat PTY pair, the
 * virtual ST AN4657 loader on the far end. The station is killed (SIGKILL) or stopped (Ctrl-C)
 * mid-transfer; the loader keeps running on its own — abandoned (CAN CAN every interval) or back
 * at its menu — and `flashline resume` finishes the unit without a power cycle.
 */
import { afterEach, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualStIapLoader } from '../../main/engine/device/st-iap-loader.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { ST_IAP_YMODEM_OPTIONS } from '../../main/engine/protocol/ymodem/index.js';
import type { FlashSummary } from '../../main/contract/dto.js';
import { lastJson, runCli, startCli } from '../helpers/cli.js';
import { createPtyPair, describeWithTools, openDevicePort, tempDir } from '../helpers/pty.js';

/** The built-in ST options as `--opt` flags (what `--profile st-iap-ymodem` will carry). */
function stOpts(extra: Record<string, unknown> = {}): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries({ ...ST_IAP_YMODEM_OPTIONS, ...extra })) {
    const text = v instanceof RegExp ? v.source : v === null ? 'null' : String(v);
    out.push('--opt', `ymodem.${k}=${text}`);
  }
  return out;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function bench() {
  const dir = tempDir('flashline-st-');
  const pty = await createPtyPair(dir);
  cleanups.push(() => pty.close());
  const port = await openDevicePort(pty.devicePath);
  cleanups.push(() => port.close());
  const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'ST-PTY' });
  // ST timing scaled by 1/5 (C every 200 ms, CAN CAN after ~1 s); 10 ms per 1K flash write.
  const loader = new VirtualStIapLoader(memory, { cIntervalMs: 200, flashWriteMs: 10, menuPrintMs: 60 });
  loader.attach(port);
  cleanups.push(() => loader.dispose());
  const image = buildSimImage(200_000, '2.0.0');
  const img = path.join(dir, 'app-2.0.0.bin');
  fs.writeFileSync(img, image);
  const data = path.join(dir, 'data');
  return { dir, pty, loader, memory, image, img, data };
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describeWithTools(['socat'], 'ST IAP loader: resume after a station kill / Ctrl-C, over a real PTY', () => {
  it('SIGKILL mid-transfer leaves the loader abandoned (CAN CAN); `flashline resume` recovers it and passes', async () => {
    const b = await bench();
    const opts = stOpts({ menuPromptTimeoutMs: 1500, menuRetryMs: 1500, controlGapMs: 600 });
    const run = startCli(['flash', '--package', b.img, '--version', '2.0.0', '--target', `serial:${b.pty.hostPath}:ymodem`, '--data-dir', b.data, '--json', ...opts]);
    cleanups.push(() => void run.child.kill('SIGKILL'));
    expect(await until(() => b.loader.state.packetsReceived > 40, 30_000)).toBe(true);
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
    // Left alone, the loader times out 5 × with C, then sends CAN CAN every interval.
    expect(await until(() => b.loader.state.errors > 6, 10_000)).toBe(true);
    expect(b.loader.state.mode).toBe('receiving');

    const r = await runCli(['resume', '--data-dir', b.data, '--json', ...opts]);
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson<FlashSummary>(r.stdout);
    expect(s).toMatchObject({ total: 1, passed: 1, failed: 0 });
    expect(Buffer.from(b.memory.readStaging(b.image.length)).equals(Buffer.from(b.image))).toBe(true);
    expect(b.loader.printed).toContain(`Size: ${b.image.length} Bytes`);
  }, 90_000);

  it('Ctrl-C mid-transfer cancels the loader while it listens (back at its menu); resume passes', async () => {
    const b = await bench();
    const opts = stOpts({ menuPromptTimeoutMs: 1500, menuRetryMs: 1500, controlGapMs: 600 });
    const run = startCli(['flash', '--package', b.img, '--version', '2.0.0', '--target', `serial:${b.pty.hostPath}:ymodem`, '--data-dir', b.data, '--json', ...opts]);
    cleanups.push(() => void run.child.kill('SIGKILL'));
    expect(await until(() => b.loader.state.packetsReceived > 40, 30_000)).toBe(true);
    run.child.kill('SIGINT');
    const ended = await run.done;
    expect(ended.code).toBe(130);
    expect(await until(() => b.loader.printed.includes('Aborted by user.'), 5000)).toBe(true);
    expect(await until(() => b.loader.state.mode === 'menu', 5000)).toBe(true);

    const j = Journal.open(path.join(b.data, 'journal.sqlite'));
    const [batch] = j.listBatches({ limit: 1 });
    j.close();
    expect(batch?.state).toBe('interrupted');
    const r = await runCli(['resume', batch!.batchId, '--data-dir', b.data, '--json', ...opts]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson<FlashSummary>(r.stdout)).toMatchObject({ total: 1, passed: 1 });
    expect(Buffer.from(b.memory.readStaging(b.image.length)).equals(Buffer.from(b.image))).toBe(true);
  }, 90_000);
});
