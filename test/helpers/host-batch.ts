/**
 * Drives one batch of virtual units through a StationApi (in-process, relayed to a worker, a
 * child process or the built engine host) the way the UI does: import, create, watch, start,
 * and wait for the batch to finish from its events.
 */
import type { BatchEvent, BatchView, UnitRef } from '../../main/contract/dto.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { parseTargets } from '../../main/engine/targets.js';
import type { StationApi } from '../../main/server/api.js';

export async function runSimBatchThrough(api: StationApi, targets: string[], timeoutMs = 60_000): Promise<{ batch: BatchView; events: BatchEvent[] }> {
  const imported = await api.handlers.importPackage({ fileName: 'app.bin', version: '2.0.0', dataBase64: Buffer.from(buildSimImage(16 * 1024, '2.0.0')).toString('base64') });
  if (!imported.ok) throw new Error(`importPackage: ${imported.error.message}`);
  const units: UnitRef[] = parseTargets(targets).map((u) => ({ ...u, sim: { ...u.sim!, link: { bytesPerSecond: 400_000 } } }));
  const created = await api.handlers.createBatch({ packageId: imported.value.id, units, plan: { retry: { maxAttempts: 2, backoffMs: 50, backoffMaxMs: 200 } } });
  if (!created.ok) throw new Error(`createBatch: ${created.error.message}`);
  const batchId = created.value.batchId;
  const events: BatchEvent[] = [];
  let last: BatchView | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`batch ${batchId} did not finish within ${timeoutMs} ms (last state ${last?.state})`)), timeoutMs);
    const w = api.watch(batchId, (e) => {
      events.push(e);
      if (e.batch) last = e.batch;
      if (last?.state === 'finished') {
        clearTimeout(t);
        resolve();
      }
    });
    if (!w.ok) reject(new Error(w.error.message));
  });
  const started = await api.handlers.startBatch({ batchId });
  if (!started.ok) throw new Error(`startBatch: ${started.error.message}`);
  await done;
  const final = await api.handlers.getBatch({ batchId });
  if (!final.ok) throw new Error(final.error.message);
  return { batch: final.value.batch, events };
}
