/**
 * `flashline cloud [--json]`: the station's local cloud for networked units (MQTT broker,
 * firmware HTTP server, DNS when configured) as a service, until SIGINT/SIGTERM; lists units as
 * they check in. `flashline cloud roster [--json]`: the units the running cloud has seen.
 * The running cloud keeps `<data-dir>/cloud-roster.json` current for the roster query.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CloudView } from '../contract/dto.js';
import type { Engine } from '../engine/engine.js';
import { StationError } from '../engine/errors.js';

import { ROSTER_FILE, keepRosterFile, type RosterFile } from '../engine/cloud-service.js';

export { ROSTER_FILE, keepRosterFile };

export interface CloudCliOptions {
  dataDir: string;
  json: boolean;
  openEngine: () => Engine;
}

function describe(v: CloudView): string {
  return `local cloud: MQTT ${v.mqttUrl}${v.pskPort ? `, TLS-PSK port ${v.pskPort}` : ''}, firmware ${v.urlBase} (listening on ${v.httpPort})${v.dnsPort ? `, DNS port ${v.dnsPort}` : ''}`;
}

/** The URL rule of vendor-behaviour.md, said at start (stderr, so --json stdout stays JSON). */
function urlPortWarning(v: CloudView): string | null {
  if (!v.urlBase || new URL(v.urlBase).port === '') return null;
  return `warning: firmware URLs carry a port (${v.urlBase}): Tencent C SDK and Aliyun iotkit 3.x units cannot use them and their units are refused (CONFIG_INVALID); serve on port 80 or set urlPort null behind a port forward (see LINE-SETUP.md)`;
}

export async function cmdCloud(o: CloudCliOptions, sub?: string): Promise<number> {
  if (sub === 'roster') return cmdRoster(o);
  if (sub !== undefined) throw new StationError('CONFIG_INVALID', `unknown cloud command "${sub}" (flashline cloud [roster])`);
  const engine = o.openEngine();
  let stopRoster: (() => void) | null = null;
  try {
    const view = await engine.startCloud();
    if (!view.running) throw new StationError('CONFIG_INVALID', `the local cloud did not start: ${view.error ?? 'no net transport'}`);
    stopRoster = keepRosterFile(engine, o.dataDir);
    const warning = urlPortWarning(view);
    if (warning) process.stderr.write(warning + '\n');
    if (o.json) process.stdout.write(JSON.stringify({ type: 'cloud', ...view }) + '\n');
    else process.stdout.write(describe(view) + '\nwaiting for units (Ctrl-C to stop)\n');
    const offUnits = engine.onCloudUnit((u) => {
      if (o.json) process.stdout.write(JSON.stringify({ type: 'unit', ...u }) + '\n');
      else process.stdout.write(`${new Date().toISOString()} ${u.unitId} (${u.protocol}) ${u.online ? 'online' : 'offline'}${u.version ? ` version ${u.version}` : ''}${u.authFailure ? ` REFUSED: ${u.authFailure}` : ''}\n`);
    });
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    offUnits();
    if (!o.json) process.stderr.write('stopping the local cloud\n');
    return 0;
  } finally {
    stopRoster?.();
    await engine.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdRoster(o: CloudCliOptions): number {
  const file = path.join(o.dataDir, ROSTER_FILE);
  if (!fs.existsSync(file)) throw new StationError('CONFIG_INVALID', `no local cloud has run with ${o.dataDir} (start it: flashline cloud, or flashline serve with net-station.json)`);
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as RosterFile;
  const running = !r.stoppedAt && alive(r.pid);
  const view: CloudView = { ...r.cloud, running };
  if (o.json) {
    process.stdout.write(JSON.stringify({ type: 'roster', pid: r.pid, startedAt: r.startedAt, stoppedAt: r.stoppedAt, ...view }) + '\n');
    return 0;
  }
  process.stdout.write(`local cloud ${running ? `running (pid ${r.pid}, since ${r.startedAt})` : `not running (last ran ${r.startedAt}${r.stoppedAt ? ` – ${r.stoppedAt}` : ''})`}\n`);
  if (!view.units.length) process.stdout.write('no units have checked in\n');
  for (const u of view.units) {
    process.stdout.write(`${u.unitId.padEnd(32)} ${u.protocol.padEnd(17)} ${(u.version ?? '(no report)').padEnd(12)} ${u.online ? 'online ' : 'offline'} last seen ${u.lastSeenAt}${u.authFailure ? `  REFUSED: ${u.authFailure}` : ''}\n`);
  }
  return 0;
}
