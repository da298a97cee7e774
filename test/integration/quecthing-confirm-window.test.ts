/**
 * The SOTA update window vs the engine's reboot timeout (quecthing-sota.md §4/§6): an MCU has the
 * whole window from 10704 to flash, reboot and report, so a slow-initialising MCU passes although
 * it reports long after the engine's generic `rebootTimeoutMs`; one that never comes back fails
 * with the session's own SOTA_UPDATE_TIMEOUT (event 10706), not the runner's REBOOT_TIMEOUT.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Engine } from '../../main/engine/engine.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { createQuecthingMcu } from '../../main/engine/device/quecthing-mcu.js';
import { parseTargets } from '../../main/engine/targets.js';

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

/** Far shorter than the MCU's init after reboot: the old behaviour cut every unit here. */
const REBOOT_TIMEOUT_MS = 200;
const MCU_INIT_MS = 1500;
const UPDATE_WINDOW_MS = 6000;

it('confirm waits for the SOTA update window, not the engine reboot timeout; a hung MCU gets SOTA_UPDATE_TIMEOUT', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-qt-window-'));
  const img = path.join(dir, 'app.bin');
  fs.writeFileSync(img, buildSimImage(4 * 1024, '2.0.0'));
  const engine = Engine.open({
    dataDir: dir,
    rebootTimeoutMs: REBOOT_TIMEOUT_MS,
    protocolOptions: { 'quecthing-sota': { updateWindowMs: UPDATE_WINDOW_MS } },
    simFactories: { 'quecthing-sota': (unit, memory) => createQuecthingMcu(unit, memory, { initMs: MCU_INIT_MS }) },
  });
  engines.push(engine);
  const info = await engine.loadPackage(img, { version: '2.0.0' });
  const units = parseTargets(['sim:quecthing-sota:1', 'sim:quecthing-sota:1:reboot_timeout']);
  const batch = engine.createBatch({ packageId: info.id, units, plan: { retry: { maxAttempts: 2, backoffMs: 50, backoffMaxMs: 100 } } });
  const t0 = performance.now();
  engine.startBatch(batch.batchId);
  await engine.waitForBatch(batch.batchId);
  const [slow, hung] = engine.getJobs(batch.batchId);

  expect(slow).toMatchObject({ state: 'passed', result: 'ok', versionBefore: '1.0.0', versionAfter: '2.0.0', attempts: 1 });
  // the confirming step really lasted longer than the engine's reboot timeout
  const tr = engine.getTransitions(slow!.jobId);
  const confirming = tr.find((t) => t.to === 'confirming')!;
  const passed = tr.find((t) => t.to === 'passed')!;
  expect(Date.parse(passed.at) - Date.parse(confirming.at)).toBeGreaterThan(REBOOT_TIMEOUT_MS);

  expect(hung).toMatchObject({ state: 'failed', result: 'timeout', errorCode: 'SOTA_UPDATE_TIMEOUT', deviceCode: '10706', attempts: 1 });
  expect(hung!.message).toContain(`within ${UPDATE_WINDOW_MS} ms`);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(UPDATE_WINDOW_MS - 1000); // waited out the window, not 200 ms
});
