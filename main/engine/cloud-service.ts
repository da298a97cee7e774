/**
 * The local cloud as a service of the station process (issue 9 §4): started with the station when
 * networked units are configured (`net-station.json`), so units that power on before any batch
 * find their broker. Keeps `<data-dir>/cloud-roster.json` current for `flashline cloud roster`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CloudView } from '../contract/dto.js';
import type { Engine } from './engine.js';

export const ROSTER_FILE = 'cloud-roster.json';
/** Coalesce roster writes: a line of units checking in at once writes the file a few times, not per unit. */
const ROSTER_WRITE_MS = 200;

export interface RosterFile {
  pid: number;
  startedAt: string;
  stoppedAt?: string;
  cloud: CloudView;
}

/** Keep `<dataDir>/cloud-roster.json` current while the cloud runs; returns stop (marks the file stopped). */
export function keepRosterFile(engine: Engine, dataDir: string): () => void {
  const file = path.join(dataDir, ROSTER_FILE);
  const startedAt = new Date().toISOString();
  const write = (extra: Partial<RosterFile> = {}) => {
    const body: RosterFile = { pid: process.pid, startedAt, cloud: engine.cloud(), ...extra };
    fs.writeFileSync(file + '.tmp', JSON.stringify(body, null, 1));
    fs.renameSync(file + '.tmp', file);
  };
  let timer: ReturnType<typeof setTimeout> | null = null;
  write();
  const off = engine.onCloudUnit(() => {
    timer ??= setTimeout(() => {
      timer = null;
      write();
    }, ROSTER_WRITE_MS);
  });
  return () => {
    off();
    if (timer) clearTimeout(timer);
    timer = null;
    write({ stoppedAt: new Date().toISOString(), cloud: { ...engine.cloud(), running: false } });
  };
}

/**
 * Start the local cloud when this data dir configures networked units; returns a stop for the
 * roster file, or undefined when none is configured. A cloud that cannot start is reported, not fatal.
 */
export async function startConfiguredCloud(engine: Engine, dataDir: string, warn: (line: string) => void): Promise<(() => void) | undefined> {
  if (!fs.existsSync(path.join(dataDir, 'net-station.json'))) return undefined;
  try {
    await engine.startCloud();
    return keepRosterFile(engine, dataDir);
  } catch (e) {
    warn(`local cloud not started: ${(e as Error).message}`);
    return undefined;
  }
}
