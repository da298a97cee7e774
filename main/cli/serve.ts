/**
 * `flashline serve [--port N] [--remote]`: the engine plus the operator UI in a browser, for a
 * line PC without a desktop and for the UI tests. Prints the URL (with its token) and runs until
 * SIGINT/SIGTERM; in-flight units are journaled as interrupted on the way out.
 */
import { prepareDataDir } from '../engine/data-dir.js';
import { Engine } from '../engine/engine.js';
import { openSettings } from '../engine/settings/settings.js';
import { createStationApi } from '../server/api.js';
import { ensureRendererBuilt } from '../server/build-renderer.js';
import { startStationServer } from '../server/server.js';

export interface ServeCliOptions {
  dataDir: string;
  port?: number;
  remote: boolean;
  json: boolean;
  operator?: string;
  station?: string;
}

export async function cmdServe(o: ServeCliOptions): Promise<number> {
  // The data folder first: a second station on it (STATION_BUSY) or a bad folder fails before any build.
  prepareDataDir(o.dataDir);
  const settings = openSettings(o.dataDir);
  const engine = Engine.open({
    dataDir: o.dataDir,
    stationId: o.station ?? settings.get('stationId'),
    operator: o.operator ?? settings.get('operator'),
  });
  let staticDir: string;
  try {
    staticDir = await ensureRendererBuilt((l) => process.stderr.write(l + '\n'));
  } catch (e) {
    await engine.close();
    throw e;
  }
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
  await engine.close();
  return 0;
}
