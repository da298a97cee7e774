/**
 * `flashline serve [--port N] [--remote]`: the engine plus the operator UI in a browser, for a
 * line PC without a desktop and for the UI tests. Prints the URL (with its token) and runs until
 * SIGINT/SIGTERM; in-flight units are journaled as interrupted on the way out.
 */
import fs from 'node:fs';
import { Engine } from '../engine/engine.js';
import { openSettings } from '../engine/settings/settings.js';
import { createStationApi } from '../server/api.js';
import { ensureRendererBuilt } from '../server/build-renderer.js';
import { startStationServer } from '../server/server.js';
import { keepRosterFile } from './cloud.js';
import path from 'node:path';

export interface ServeCliOptions {
  dataDir: string;
  port?: number;
  remote: boolean;
  json: boolean;
  operator?: string;
  station?: string;
}

export async function cmdServe(o: ServeCliOptions): Promise<number> {
  const staticDir = await ensureRendererBuilt((l) => process.stderr.write(l + '\n'));
  fs.mkdirSync(o.dataDir, { recursive: true });
  const settings = openSettings(o.dataDir);
  const engine = Engine.open({
    dataDir: o.dataDir,
    stationId: o.station ?? settings.get('stationId'),
    operator: o.operator ?? settings.get('operator'),
  });
  // Issue 9 §4: with networked units configured, the local cloud runs as long as the station does.
  const stopRoster = fs.existsSync(path.join(o.dataDir, 'net-station.json'))
    ? await engine.startCloud().then(() => keepRosterFile(engine, o.dataDir), (e: Error) => void process.stderr.write(`local cloud not started: ${e.message}\n`))
    : undefined;
  const api = createStationApi({ engine, settings, browserMode: true });
  const server = await startStationServer({ api, staticDir, port: o.port ?? settings.get('serveport'), host: o.remote ? '0.0.0.0' : '127.0.0.1' });
  if (o.remote) process.stderr.write('remote access is on: anyone on the network with the URL (and its token) can operate this station\n');
  process.stdout.write(`Flashline station UI: ${server.url}\n`);
  if (o.json) process.stdout.write(JSON.stringify({ url: server.url, port: server.port }) + '\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  stopRoster?.();
  await engine.close();
  return 0;
}
