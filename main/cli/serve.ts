/**
 * `flashline serve [--port N] [--remote]`: the engine plus the operator UI in a browser, for a
 * line PC without a desktop and for the UI tests. Prints the URL (with its token) and runs until
 * SIGINT/SIGTERM; in-flight units are journaled as interrupted on the way out.
 */
import fs from 'node:fs';
import path from 'node:path';
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
  const staticDir = await ensureRendererBuilt((l) => process.stderr.write(l + '\n'));
  fs.mkdirSync(o.dataDir, { recursive: true });
  const settings = openSettings(o.dataDir);
  const engine = Engine.open({
    dataDir: o.dataDir,
    stationId: o.station ?? settings.get('stationId'),
    operator: o.operator ?? settings.get('operator'),
  });
  const api = createStationApi({ engine, settings, browserMode: true });
  // The same URL after a restart (token kept in the data dir, the last port tried first when any
  // port will do), so an open page reconnects and resyncs by itself.
  const last = readServeState(o.dataDir);
  const wanted = o.port ?? settings.get('serveport');
  const serverOpts = { api, staticDir, host: o.remote ? '0.0.0.0' : '127.0.0.1', token: last.token };
  const server = await startStationServer({ ...serverOpts, port: wanted || last.port || 0 }).catch((e: NodeJS.ErrnoException) => {
    if (wanted || !last.port || e.code !== 'EADDRINUSE') throw e;
    return startStationServer({ ...serverOpts, port: 0 });
  });
  writeServeState(o.dataDir, { token: server.token, port: server.port });
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

interface ServeState {
  token?: string;
  port?: number;
}
const SERVE_STATE = 'serve-state.json';
function readServeState(dataDir: string): ServeState {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(dataDir, SERVE_STATE), 'utf8')) as ServeState;
    return {
      ...(typeof v.token === 'string' && /^[\w-]{16,64}$/.test(v.token) ? { token: v.token } : {}),
      ...(Number.isInteger(v.port) && v.port! > 0 && v.port! < 65536 ? { port: v.port } : {}),
    };
  } catch {
    return {};
  }
}
function writeServeState(dataDir: string, v: ServeState): void {
  fs.writeFileSync(path.join(dataDir, SERVE_STATE), JSON.stringify(v), { mode: 0o600 });
}
