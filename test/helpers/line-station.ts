/**
 * A station on virtual units for the line tests and bench: its own data folder, an engine with
 * the given line settings, a loaded image, and sim units with serial numbers unique to the station.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { UnitRef } from '../../main/contract/dto.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Engine, type EngineOptions } from '../../main/engine/engine.js';
import type { LineOptions } from '../../main/engine/line/line.js';
import { parseTargets } from '../../main/engine/targets.js';

export interface TestStation {
  engine: Engine;
  dir: string;
  packageId: string;
  units: UnitRef[];
  logs: string[];
}

export async function openStation(
  stationId: string,
  line: LineOptions | false,
  targets: string[],
  o: { imageBytes?: number; bytesPerSecond?: number; dir?: string; version?: string; engine?: Partial<EngineOptions> } = {},
): Promise<TestStation> {
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), `flashline-line-${stationId}-`));
  const version = o.version ?? '2.0.0';
  const img = path.join(dir, `app-${version}.bin`);
  if (!fs.existsSync(img)) fs.writeFileSync(img, buildSimImage(o.imageBytes ?? 16 * 1024, version));
  const logs: string[] = [];
  const engine = Engine.open({ dataDir: dir, stationId, operator: 'qa', rebootTimeoutMs: 5000, line, lineLog: (l) => logs.push(l), ...o.engine });
  const info = await engine.loadPackage(img, { version });
  const units = parseTargets(targets).map((u) => {
    const sn = `${stationId}-${u.serialNumber}`;
    return { ...u, serialNumber: sn, sim: { ...u.sim!, serialNumber: sn, link: { bytesPerSecond: o.bytesPerSecond ?? 400_000 } } };
  });
  return { engine, dir, packageId: info.id, units, logs };
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, stepMs = 50): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
