/**
 * `flashline serve [--port N] [--remote]`: the engine plus the operator UI in a browser, for a
 * line PC without a desktop and for the UI tests. Prints the URL (with its token) and runs until
 * SIGINT/SIGTERM; in-flight units are journaled as interrupted on the way out. The engine runs in
 * a child process (main/host/): this thread only serves HTTP and the WebSocket.
 */
import fs from 'node:fs';
import path from 'node:path';
import { prepareDataDir } from '../engine/data-dir.js';
import { Engine } from '../engine/engine.js';
import { openSettings } from '../engine/settings/settings.js';
import { startEngineProcess } from '../host/engine-process.js';
import { createStationApi, type StationApi } from '../server/api.js';
import { ensureRendererBuilt } from '../server/build-renderer.js';
import { startStationServer } from '../server/server.js';
import { startConfiguredCloud } from '../engine/cloud-service.js';

export interface ServeCliOptions {
  dataDir: string;
  port?: number;
  remote: boolean;
  json: boolean;
  operator?: string;
  station?: string;
  /**
   * Where jobs run: 'process' (default) keeps the engine off the thread that serves HTTP and the
   * WebSocket (issue 12 §1); 'in-process' runs it on that thread (the old way, for comparison).
   */
  engineThread?: 'process' | 'in-process';
}

export async function cmdServe(o: ServeCliOptions): Promise<number> {
  // The data folder first: a second station on it (STATION_BUSY) or a bad folder fails before any build.
  prepareDataDir(o.dataDir);
  const settings = openSettings(o.dataDir);
  let api: StationApi;
  let closeEngine: () => Promise<void>;
  if (o.engineThread === 'in-process') {
    const engine = Engine.open({ dataDir: o.dataDir, stationId: o.station ?? settings.get('stationId'), operator: o.operator ?? settings.get('operator') });
    // Issue 9 §4: with networked units configured, the local cloud runs as long as the station does.
    const stopRoster = await startConfiguredCloud(engine, o.dataDir, (l) => process.stderr.write(l + '\n'));
    api = createStationApi({ engine, settings, browserMode: true });
    closeEngine = async () => {
      stopRoster?.();
      await engine.close();
    };
  } else {
    const host = await startEngineProcess({ dataDir: o.dataDir, stationId: o.station, operator: o.operator, browserMode: true });
    api = host.api;
    closeEngine = () => host.close();
  }
  let staticDir: string;
  try {
    staticDir = await ensureRendererBuilt((l) => process.stderr.write(l + '\n'));
  } catch (e) {
    await closeEngine();
    throw e;
  }
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
  await closeEngine();
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
