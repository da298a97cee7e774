/**
 * The station (the real CLI) is SIGKILLed while LLSync units are mid-transfer, then `flashline
 * resume` continues: each interrupted unit resumes from the offset its own resume record offers
 * (page-rounded, persisted on its "flash"), never from zero and never from the station's memory.
 * Also: `sim:llsync-ota:N` runs through the CLI, and BLE units on a machine without an adapter
 * fail per unit with NO_BLE_ADAPTER while the rest of the station keeps working.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Journal } from '../../main/engine/journal/journal.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { lastJson, runCli, startCli } from '../helpers/cli.js';
import type { FlashSummary } from '../../main/contract/dto.js';

const SIZE = 256 * 1024;

describe('llsync-ota and the station process', () => {
  it('killed mid-transfer and restarted: interrupted units resume from their acknowledged offset', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-llsync-crash-'));
    const img = path.join(dir, 'app.bin');
    fs.writeFileSync(img, buildSimImage(SIZE, '2.0.0'));
    const run = startCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'sim:llsync-ota:3', '--data-dir', dir, '--json']);
    const t0 = Date.now();
    while (!/transferring/.test(run.stderr()) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 2500)); // well into the transfer (≈ 5 s per unit)
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');

    const j = Journal.open(path.join(dir, 'journal.sqlite'));
    const [batch] = j.listBatches({ limit: 1 });
    const inFlightJobs = j.getJobs(batch!.batchId).filter((x) => x.state === 'transferring');
    const inFlight = inFlightJobs.map((x) => x.jobId);
    const ackedAtKill = new Map(inFlightJobs.map((x) => [x.jobId, x.progressBytes]));
    j.close();
    expect(inFlight.length).toBeGreaterThan(0);

    const resumed = await runCli(['resume', batch!.batchId, '--json', '--data-dir', dir]);
    const summary = lastJson<FlashSummary>(resumed.stdout);
    expect(summary.passed).toBe(3);
    const j2 = Journal.open(path.join(dir, 'journal.sqlite'));
    for (const id of inFlight) {
      const tr = j2.getTransitions(id);
      const cut = tr.findIndex((t) => t.to === 'interrupted');
      const resumedAt = tr.slice(cut).find((t) => t.to === 'transferring')!.progressBytes;
      expect(resumedAt).toBeGreaterThan(0); // the device offered its record
      expect(resumedAt % 4096).toBe(0); // rounded down to the flash page
      expect(resumedAt).toBeLessThan(SIZE);
      // Nothing the device acknowledged (journaled before the kill) is lost beyond the record's
      // lag (§7.8: up to 1 % + one RAM buffer) and the page rounding.
      expect(resumedAt).toBeGreaterThanOrEqual(ackedAtKill.get(id)! - SIZE / 100 - 2 * 4096);
    }
    j2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 90_000);

  it('a ble: unit on a machine without an adapter fails with NO_BLE_ADAPTER; sim units still pass', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-llsync-noadapter-'));
    const img = path.join(dir, 'app.bin');
    fs.writeFileSync(img, buildSimImage(8 * 1024, '2.0.0'));
    const r = await runCli(['flash', '--package', img, '--version', '2.0.0', '--target', 'ble:c0:11:5c:00:00:99:llsync-ota', '--target', 'sim:llsync-ota:2', '--data-dir', dir, '--json'], { NOBLE_HCI_DEVICE_ID: '77' });
    const s = lastJson<FlashSummary>(r.stdout);
    const ble = s.units.find((u) => u.transport === 'ble')!;
    if (ble.code !== 'NO_BLE_ADAPTER') {
      // This machine has a Bluetooth stack: the unit then fails for lack of the peripheral instead.
      expect(['TRANSPORT_NOT_FOUND', 'ADAPTER_OFF', 'TRANSPORT_TIMEOUT']).toContain(ble.code);
    }
    expect(ble.result).not.toBe('ok');
    expect(s.units.filter((u) => u.transport === 'sim').every((u) => u.result === 'ok')).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
