/**
 * `flashline` commands: demo, flash, resume, batches, report, verify-report, scan.
 * Exit status: 0 all good, 1 a unit failed (or a report did not verify), 2 bad usage/input.
 * With --json the last line of stdout is one JSON object; progress then goes to stderr.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BatchView, FlashSummary, Plan, ProtocolId } from '../contract/dto.js';
import { Engine } from '../engine/engine.js';
import { StationError, operatorText } from '../engine/errors.js';
import { parseTargets } from '../engine/targets.js';
import { buildFlashSummary } from '../engine/summary.js';
import { DEFAULT_SCAN_SECONDS, scanLlsyncUnits } from '../engine/detect/ble-scan.js';
import { listSerialPorts } from '../engine/transport/serial/serial-transport.js';
import { buildSimImage } from '../engine/device/app-descriptor.js';
import { ProgressPrinter, formatUnitOutcomes } from './progress.js';
import { openSettings } from '../engine/settings/settings.js';
import { cmdServe } from './serve.js';
import { cmdDetect, cmdRecover, resolveCliTargets } from './recover.js';
import { cmdStationKey, cmdVerifyJournal, cmdVerifyReport } from './verify.js';
import { cmdOptions, cmdProfiles } from './profiles.js';
import { parseOptLines } from '../engine/profile/index.js';
import { cmdCloud } from './cloud.js';
import { classifyIoError, prepareDataDir } from '../engine/data-dir.js';
import { cliDataDir, reportCliError } from './common.js';

const USAGE = `flashline — firmware flashing station

  flashline demo [--units N] [--json]                 a whole batch on virtual units, with a report
  flashline flash --package FILE [--version V] --target T [--target T…] [--json]
        targets: serial:PATH[@BAUD]:PROTOCOL  ble:ID:PROTOCOL  mqtt:PRODUCT/DEVICE:PROTOCOL
                 sim:PROTOCOL:COUNT[:BEHAVIOUR]
        protocols: llsync-ota ymodem quecthing-sota mqtt-ota-tencent mqtt-ota-aliyun
        options: --concurrency N --retries N --no-skip-at-target --allow ID,… --deny ID,…
                 --min-battery PCT --stop-after-failures K --opt PROTOCOL.KEY=VALUE
                 --operator NAME --station ID --profile ID (a product profile; one per protocol)
  flashline profiles [list|show ID|save FILE.json|delete ID] [--json]   built-in and user product profiles
  flashline options PROTOCOL [--json]                 every option of a protocol: type, default, unit, meaning
  flashline resume BATCH_ID [--json]                  continue a batch the station stopped in
  flashline batches [--json]                          past batches from the journal
  flashline report BATCH_ID --format csv|json|html [--out FILE]
  flashline verify-report FILE [--key PUBKEY | --trusted-keys FILE] [--json]
                                                      check a report's hash chain and station signature
                                                      (PUBKEY: PEM, base64 or hex, or a file holding it)
  flashline station-key [--json]                      this station's report-signing public key and fingerprint
  flashline verify-journal [--report FILE] [--json]   re-check the journal's hash chain (edited, deleted, inserted rows)
  flashline scan [--seconds N] [--sim N] [--json]    serial ports, the Bluetooth adapter and LLSync units
                                                      nearby (--sim N: N virtual LLSync units instead)
  flashline recover --port PATH[@BAUD] --golden FILE [--version V] --ticket RMA [--technician NAME] [--json]
                                                      RMA: probe, flash a golden image over what still answers, journal it
  flashline detect --port PATH[@BAUD] [--json]        which protocol a serial unit speaks
        auto targets: serial:PATH[@BAUD]:auto, ble:ID:auto; override with --protocol-for PATH=PROTOCOL
  flashline serve [--port N] [--remote]               the operator UI in a browser (URL with a token)
  flashline cloud [--json]                            the local cloud for networked units (MQTT, firmware HTTP, DNS)
                                                      as a service until Ctrl-C/SIGTERM; lists units as they check in
  flashline cloud roster [--json]                     units the running cloud has seen (version, last seen)
  flashline line status|units|batches|report          the line database across stations (flashline line --help)
  common: --data-dir DIR (default $FLASHLINE_HOME or ~/.flashline)
          --line-db URL ship the journal to the line database (else $FLASHLINE_LINE_DB or DATA_DIR/line.json)`;

const OPTIONS = {
  package: { type: 'string' },
  version: { type: 'string' },
  target: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  units: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  'data-dir': { type: 'string' },
  concurrency: { type: 'string' },
  retries: { type: 'string' },
  'no-skip-at-target': { type: 'boolean' },
  allow: { type: 'string' },
  deny: { type: 'string' },
  'min-battery': { type: 'string' },
  'stop-after-failures': { type: 'string' },
  opt: { type: 'string', multiple: true },
  operator: { type: 'string' },
  station: { type: 'string' },
  port: { type: 'string' },
  remote: { type: 'boolean' },
  ticket: { type: 'string' },
  technician: { type: 'string' },
  golden: { type: 'string' },
  'protocol-for': { type: 'string', multiple: true },
  seconds: { type: 'string' },
  sim: { type: 'string' },
  key: { type: 'string' },
  'trusted-keys': { type: 'string' },
  report: { type: 'string' },
  profile: { type: 'string', multiple: true },
  'line-db': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'line') return (await import('./line.js')).cmdLine(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [cmd, ...rest] = positionals;
  if (!cmd || values.help) {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  try {
    switch (cmd) {
      case 'demo':
        return await cmdDemo(values);
      case 'flash':
        return await cmdFlash(values);
      case 'resume':
        return await cmdResume(values, rest[0]);
      case 'batches':
        return cmdBatches(values);
      case 'report':
        return cmdReport(values, rest[0]);
      case 'verify-report':
        return cmdVerifyReport({ file: rest[0], dataDir: dataDir(values), json: !!values.json, key: values.key, trustedKeys: values['trusted-keys'] });
      case 'station-key':
        return cmdStationKey({ dataDir: dataDir(values), json: !!values.json, stationId: values.station ?? openSettings(dataDir(values)).get('stationId') ?? 'station-1' });
      case 'verify-journal':
        return cmdVerifyJournal({ dataDir: dataDir(values), json: !!values.json, report: values.report });
      case 'scan':
        return await cmdScan(values);
      case 'recover':
        return await cmdRecover({ dataDir: dataDir(values), port: values.port, packagePath: values.golden ?? values.package, version: values.version, ticket: values.ticket, technician: values.technician ?? values.operator, station: values.station, json: !!values.json, protocolFor: values['protocol-for'], protocolOptions: parseProtocolOptions(values.opt) });
      case 'detect':
        return await cmdDetect({ port: values.port, json: !!values.json });
      case 'profiles':
        return cmdProfiles({ dataDir: dataDir(values), json: !!values.json, args: rest });
      case 'options':
        return cmdOptions({ json: !!values.json, protocol: rest[0] });
      case 'cloud':
        return await cmdCloud({ dataDir: dataDir(values), json: !!values.json, openEngine: () => openEngine(values) }, rest[0]);
      case 'serve':
        return await cmdServe({ dataDir: dataDir(values), port: intOpt(values.port, 'port', 0, 65535), remote: !!values.remote, json: !!values.json, operator: values.operator, station: values.station });
      default:
        console.error(`unknown command "${cmd}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    return reportCliError(e, (x) => classifyIoError(x, dataDir(values)));
  }
}

function dataDir(v: Values): string {
  return cliDataDir(v['data-dir']);
}

function openEngine(v: Values, protocolOptions: Partial<Record<ProtocolId, Record<string, unknown>>> = {}, access: 'write' | 'read' = 'write'): Engine {
  const dir = dataDir(v);
  // Readers (batches, report) change nothing: no settings file, no folder created, no lock taken from a running station.
  if (access === 'read') return Engine.open({ dataDir: dir, access });
  prepareDataDir(dir);
  const settings = openSettings(dir);
  return Engine.open({
    dataDir: dir,
    stationId: v.station ?? settings.get('stationId'),
    operator: v.operator ?? settings.get('operator'),
    protocolOptions,
    lineDb: v['line-db'],
  });
}

/**
 * A path from the command line. Node decodes argv as UTF-8, so a file name in another encoding
 * arrives with U+FFFD in it and names nothing; find the one entry of its folder that decodes to
 * the same text and use its raw bytes.
 */
function argPath(p: string): string | Buffer {
  if (!p.includes('\uFFFD') || fs.existsSync(p)) return p;
  try {
    const dir = path.dirname(p);
    const matches = fs.readdirSync(dir, { encoding: 'buffer' }).filter((e) => e.toString('utf8') === path.basename(p));
    return matches.length === 1 ? Buffer.concat([Buffer.from(dir + path.sep), matches[0]!]) : p;
  } catch {
    return p;
  }
}

function intOpt(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new StationError('CONFIG_INVALID', `--${name} must be an integer ${min}..${max}`);
  return n;
}

/**
 * --opt ymodem.blockSize=128 → { ymodem: { blockSize: 128 } }, each value parsed by its option's
 * type and checked against the protocol's schema: an unknown protocol or key, a wrong type or an
 * out-of-range value is CONFIG_INVALID (exit 2); a string option keeps digits as a string.
 */
export function parseProtocolOptions(opts: string[] = []): Partial<Record<ProtocolId, Record<string, unknown>>> {
  return parseOptLines(opts);
}

function planFrom(v: Values): Partial<Omit<Plan, 'packageId' | 'units'>> {
  const concurrency = intOpt(v.concurrency, 'concurrency', 1, 1000) ?? 64;
  const retries = intOpt(v.retries, 'retries', 0, 20) ?? 2;
  const stopAfter = intOpt(v['stop-after-failures'], 'stop-after-failures', 1, 1000);
  return {
    versionGate: { skipIfAtTarget: !v['no-skip-at-target'] },
    policy: { minBatteryPct: intOpt(v['min-battery'], 'min-battery', 0, 100) },
    retry: { maxAttempts: retries + 1, backoffMs: 300, backoffMaxMs: 5000 },
    concurrency: { global: concurrency, perBleAdapter: 6 },
    allow: v.allow?.split(',').filter(Boolean),
    deny: v.deny?.split(',').filter(Boolean),
    stopTheLine: stopAfter ? { consecutiveFailures: stopAfter } : undefined,
  };
}

async function runToEnd(engine: Engine, batchId: string, json: boolean, total: number, start: () => void | Promise<void>): Promise<FlashSummary> {
  const out = json ? process.stderr : process.stdout;
  const printer = new ProgressPrinter(out, total);
  let pausedNote: string | undefined;
  let idleResolve: () => void = () => undefined;
  const idle = new Promise<void>((r) => (idleResolve = r));
  const off = engine.subscribe(batchId, (e) => {
    printer.onEvent(e);
    // Stop-the-line paused the batch: nothing more will start, so report and hand back to the operator.
    if (e.batch?.state === 'paused' && e.batch.counts.running === 0) {
      pausedNote = e.batch.pausedReason;
      idleResolve();
    }
  });
  const onSigint = () => {
    out.write('\ninterrupted: in-flight units are saved as interrupted; continue with `flashline resume`\n');
    void engine.close().then(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  await start();
  await Promise.race([engine.waitForBatch(batchId), idle]);
  process.off('SIGINT', onSigint);
  off();
  const batch = engine.getBatch(batchId)!;
  const summary = buildFlashSummary(batch, engine.getJobs(batchId), engine.journal.attemptCausesForBatch(batchId));
  const stop = engine.batchStopError(batchId);
  if (stop) summary.stoppedBy = { code: stop.code, message: stop.message };
  printSummary(out, batch, summary);
  for (const line of formatUnitOutcomes(summary)) out.write(line + '\n');
  if (stop) {
    out.write(`batch stopped: error ${stop.code}: ${stop.message}\n→ ${operatorText(stop.code, 'en')}\nIn-flight units are saved as interrupted; once fixed: flashline resume ${batchId}\n`);
    process.stderr.write(`error ${stop.code}: ${stop.message}\n`);
  }
  if (pausedNote) out.write(`batch paused: ${pausedNote}. Fix the cause, then: flashline resume ${batchId}\n`);
  return summary;
}

function printSummary(out: NodeJS.WriteStream, batch: BatchView, s: FlashSummary): void {
  out.write(`\nbatch ${s.batchId}: ${s.total} units — ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped, ${s.cancelled} cancelled in ${(s.durationMs / 1000).toFixed(1)} s\n`);
  const comp = batch.packageInfo.components[0];
  if (comp) out.write(`package ${comp.component} ${comp.version}: ${comp.sizeBytes} B crc32 ${comp.crc32} md5 ${comp.md5}\n`);
}

function finish(summary: FlashSummary, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  if (summary.stoppedBy) return 2;
  return summary.failed > 0 ? 1 : 0;
}

/**
 * With --json, stdout carries only the JSON lines (issue 9 §3): whatever a library prints with
 * console.log/info/debug while a batch runs goes to stderr. Our JSON uses process.stdout.write.
 */
function consoleToStderr(json: boolean): () => void {
  if (!json) return () => undefined;
  const saved = { log: console.log, info: console.info, debug: console.debug };
  const toErr = (...a: unknown[]) => console.error(...a);
  Object.assign(console, { log: toErr, info: toErr, debug: toErr });
  return () => Object.assign(console, saved);
}

async function cmdFlash(v: Values): Promise<number> {
  consoleToStderr(!!v.json); // for the rest of the process: a library may print while it ends
  return cmdFlashInner(v);
}

async function cmdFlashInner(v: Values): Promise<number> {
  if (!v.package) throw new StationError('CONFIG_INVALID', '--package FILE is required');
  if (!v.target?.length) throw new StationError('CONFIG_INVALID', 'at least one --target is required');
  const units = parseTargets(await resolveCliTargets(v.target, v['protocol-for'], v.json ? process.stderr : process.stdout));
  const plan = planFrom(v); // validate every option before touching files or units
  const engine = openEngine(v, parseProtocolOptions(v.opt));
  try {
    const info = await engine.loadPackage(argPath(path.resolve(v.package)), { version: v.version });
    const batch = engine.createBatch({ packageId: info.id, units, plan, profileIds: v.profile });
    const summary = await runToEnd(engine, batch.batchId, !!v.json, units.length, () => engine.startBatch(batch.batchId));
    return finish(summary, !!v.json);
  } finally {
    await engine.close();
  }
}

async function cmdResume(v: Values, batchId?: string): Promise<number> {
  consoleToStderr(!!v.json); // for the rest of the process: a library may print while it ends
  return cmdResumeInner(v, batchId);
}

async function cmdResumeInner(v: Values, batchId?: string): Promise<number> {
  const engine = openEngine(v, parseProtocolOptions(v.opt));
  try {
    const id = batchId ?? engine.interruptedBatchIds[0];
    if (!id) throw new StationError('CONFIG_INVALID', 'which batch? (flashline batches lists them)');
    const total = engine.getJobs(id).length;
    const summary = await runToEnd(engine, id, !!v.json, total, () => engine.resumeBatch(id));
    return finish(summary, !!v.json);
  } finally {
    await engine.close();
  }
}

async function cmdDemo(v: Values): Promise<number> {
  const n = intOpt(v.units, 'units', 1, 500) ?? 16;
  const dir = v['data-dir'] ? dataDir(v) : fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-demo-'));
  const vv: Values = { ...v, 'data-dir': dir };
  const out = v.json ? process.stderr : process.stdout;
  const imagePath = path.join(dir, 'demo-app-2.0.0.bin');
  fs.writeFileSync(imagePath, buildSimImage(128 * 1024, '2.0.0'));
  // A realistic mix on a 921600-baud-equivalent serial line: most units are healthy, a few
  // misbehave in ways the station recovers from (a flash CRC failure once, a dropped link,
  // slow flash, a unit whose application is dead and only its bootloader answers).
  const specials = ['crc_failure_once', 'disconnect', 'slow_flash', 'brick'];
  const targets: string[] = [];
  const healthy = Math.max(0, n - specials.length);
  if (healthy) targets.push(`sim:ymodem:${healthy}`);
  for (const s of specials.slice(0, n - healthy)) targets.push(`sim:ymodem:1:${s}`);
  // BLE units through real noble over the simulated adapter (one drops its link and resumes
  // from the offset it acknowledged), MCUs served over QuecThing SOTA with the station as the
  // module, and networked units as real MQTT clients of the station.
  targets.push('sim:llsync-ota:3', 'sim:llsync-ota:1:disconnect', 'sim:quecthing-sota:2', 'sim:mqtt-ota-tencent:2', 'sim:mqtt-ota-aliyun:2');
  const units = parseTargets(targets);
  const engine = openEngine(vv);
  try {
    const perProtocol = new Map<string, number>();
    for (const u of units) perProtocol.set(u.protocol, (perProtocol.get(u.protocol) ?? 0) + 1);
    out.write(`Flashline demo: ${units.length} virtual units (${[...perProtocol].map(([p, c]) => `${c} ${p}`).join(', ')}), image ${imagePath}\n`);
    const info = await engine.loadPackage(imagePath, { version: '2.0.0' });
    const batch = engine.createBatch({ packageId: info.id, units, plan: { ...planFrom(vv), retry: { maxAttempts: 3, backoffMs: 200, backoffMaxMs: 2000 } } });
    const summary = await runToEnd(engine, batch.batchId, !!v.json, units.length, () => engine.startBatch(batch.batchId));
    if (summary.stoppedBy) return finish(summary, !!v.json);
    const reportDir = path.join(dir, 'reports');
    fs.mkdirSync(reportDir, { recursive: true });
    for (const f of ['html', 'csv', 'json'] as const) {
      const file = path.join(reportDir, `${batch.batchId}.${f}`);
      fs.writeFileSync(file, engine.report(batch.batchId, f));
      out.write(`report: ${file}\n`);
    }
    return finish(summary, !!v.json);
  } finally {
    await engine.close();
  }
}

function cmdBatches(v: Values): number {
  const dir = dataDir(v);
  if (!fs.existsSync(path.join(dir, 'journal.sqlite'))) {
    if (v.json) console.log('[]');
    else console.log('no batches yet');
    return 0;
  }
  const engine = openEngine(v, {}, 'read');
  try {
    const list = engine.listBatches(100);
    if (v.json) {
      console.log(JSON.stringify(list.map((b) => ({ batchId: b.batchId, state: b.state, createdAt: b.createdAt, operator: b.operator, stationId: b.stationId, counts: b.counts }))));
    } else {
      for (const b of list) {
        const c = b.counts;
        console.log(`${b.batchId}  ${b.state.padEnd(11)} ${b.createdAt}  ${c.total} units: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped, ${c.interrupted} interrupted`);
      }
    }
    return 0;
  } finally {
    void engine.close();
  }
}

function cmdReport(v: Values, batchId?: string): number {
  if (!batchId) throw new StationError('CONFIG_INVALID', 'report BATCH_ID --format csv|json|html');
  const format = v.format ?? 'html';
  if (format !== 'csv' && format !== 'json' && format !== 'html') throw new StationError('CONFIG_INVALID', '--format must be csv, json or html');
  const engine = openEngine(v, {}, 'read');
  try {
    const text = engine.report(batchId, format);
    if (v.out) {
      fs.writeFileSync(v.out, text);
      console.error(`report written to ${v.out}`);
    } else process.stdout.write(text);
    return 0;
  } finally {
    void engine.close();
  }
}

async function cmdScan(v: Values): Promise<number> {
  const ports = await listSerialPorts();
  const seconds = v.seconds === undefined ? DEFAULT_SCAN_SECONDS : Number(v.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 120) throw new StationError('CONFIG_INVALID', '--seconds must be a number of seconds in 0..120');
  const simUnits = v.sim === undefined ? 0 : intOpt(v.sim, 'sim', 1, 64);
  const scan = await scanLlsyncUnits({ seconds, simUnits });
  const ble = scan.ble;
  if (v.json) {
    console.log(JSON.stringify({ serial: ports, ble, bleSource: scan.source, bleUnits: scan.units, ...(scan.error ? { bleError: scan.error } : {}) }));
  } else {
    console.log(ports.length ? ports.map((p) => `serial ${p.path}${p.manufacturer ? `  ${p.manufacturer}` : ''}${p.serialNumber ? `  sn ${p.serialNumber}` : ''}`).join('\n') : 'no serial ports found');
    console.log(ble.state === 'no-adapter' ? `ble: ${ble.reason}` : `ble: ${scan.source === 'sim' ? 'simulated adapter' : 'adapter'} ${ble.state}`);
    if (scan.error) console.log(`ble: scan failed: ${scan.error.code} ${scan.error.message}`);
    for (const u of scan.units) {
      const adv = u.advError ? `(advertisement: ${u.advError})` : u.bindState === 'bound' ? `bound, LLSync v${u.protocolVersion}, identity ${u.deviceIdentity}` : `${u.bindState}, LLSync v${u.protocolVersion}, product ${u.productId}`;
      console.log(`ble ${u.address}${u.name ? `  ${u.name}` : ''}  ${u.rssiDbm} dBm  ${adv}`);
    }
    if (ble.state !== 'no-adapter' && !scan.error && !scan.units.length) console.log(`ble: no LLSync units seen in ${seconds} s`);
  }
  return 0;
}
