/**
 * The station API behind the typed channel map (contract/ipc.ts): validates every payload,
 * calls the Engine and turns every failure into a Result — nothing throws across IPC or the
 * WebSocket. Used by the Electron shell (main/app/ipc.ts) and `flashline serve` alike.
 * Must not import electron: desktop-only effects (save dialog, PDF) come in as deps.
 */
import crypto from 'node:crypto';
import type { BatchEvent, JobView, Lang, Plan, ProtocolId, SimBehaviour, TransportKind, UnitRef } from '../contract/dto.js';
import { PROTOCOL_IDS } from '../contract/dto.js';
import type { ExportedReport, Req, Res, Result, RmaDetailView, RmaRequest, RmaRunView, StationMethod, StationSettingsView } from '../contract/ipc.js';
import type { Engine } from '../engine/engine.js';
import { errorView, isStationErrorCode, operatorText, RESULT_TEXT, StationError, toStationError } from '../engine/errors.js';
import { buildReport } from '../engine/report/index.js';
import { classifyIoError } from '../engine/data-dir.js';
import type { RecoverStep, RmaRecord } from '../engine/rma/recover.js';
import { simDeviceFactories } from '../engine/device/sim-units.js';
import { exportReport } from '../engine/report/index.js';
import { parseTargets, SIM_BEHAVIOURS } from '../engine/targets.js';
import { bleAdapterState } from '../engine/transport/ble/noble-loader.js';
import { listSerialPorts } from '../engine/transport/serial/serial-transport.js';

/** Upload cap for one package over the API (base64 inflates by 4/3). */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
const MAX_UNITS_PER_BATCH = 2000;
const MAX_TARGETS = 200;
const MAX_TEXT = 256;
const TRANSPORTS: readonly TransportKind[] = ['serial', 'ble', 'net', 'sim'];
/** Finished RMA runs kept for `rmaStatus` (the journal keeps everything; this is only the live view). */
const RMA_RUNS_KEPT = 50;
/** Batches scanned for recent RMA jobs when no ticket is given (an RMA batch has exactly one job). */
const RMA_RECENT_BATCHES = 500;
const MAX_TICKET = 64;
/** A serial device path: /dev/…, a PTY link anywhere on disk, COMn or \\.\NAME on Windows. */
const SERIAL_PATH_RE = /^(\/[\w.+\/-]+|COM\d{1,3}|\\\\\.\\[\w.-]+)$/;
const SETTINGS_KEYS = ['stationId', 'operator', 'language', 'bleAdapterLimit', 'globalConcurrency', 'serveport'] as const;

export interface SettingsStore {
  get<K extends keyof StationSettingsView>(key: K): StationSettingsView[K];
  set(values: Partial<StationSettingsView>): void;
}

export interface ApiDeps {
  engine: Engine;
  settings: SettingsStore;
  browserMode: boolean;
  /** Desktop: ask where to save and write the file (main opens the dialog; the renderer never sends a path). */
  saveFile?: (suggestedName: string, data: string | Uint8Array) => Promise<string | null>;
  /** Desktop: HTML → PDF (Electron's printToPDF). Without it, PDF exports the printable HTML. */
  htmlToPdf?: (html: string) => Promise<Uint8Array>;
}

export type Handlers = { [M in StationMethod]: (req: unknown) => Promise<Result<Res<M>>> };

export interface StationApi {
  handlers: Handlers;
  /** Subscribes to a batch's events; returns the unsubscribe. Throws nothing: a bad id yields an error event-free no-op result. */
  watch(batchId: unknown, fn: (e: BatchEvent) => void): Result<() => void>;
}

// ---- validation (pure) ---------------------------------------------------------------------

function bad(what: string): StationError {
  return new StationError('CONFIG_INVALID', `invalid request: ${what}`);
}
function obj(v: unknown, what = 'payload'): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}
function str(v: unknown, what: string, max = MAX_TEXT): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw bad(`${what} must be a string of 1..${max} characters`);
  return v;
}
function optStr(v: unknown, what: string, max = MAX_TEXT): string | undefined {
  return v === undefined ? undefined : str(v, what, max);
}
function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${what} must be an integer ${min}..${max}`);
  return v;
}
function optInt(v: unknown, what: string, min: number, max: number): number | undefined {
  return v === undefined ? undefined : int(v, what, min, max);
}
function optNum(v: unknown, what: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw bad(`${what} must be a number ${min}..${max}`);
  return v;
}
function oneOf<T extends string>(v: unknown, list: readonly T[], what: string): T {
  if (typeof v !== 'string' || !(list as readonly string[]).includes(v)) throw bad(`${what} must be one of ${list.join(', ')}`);
  return v as T;
}
function strList(v: unknown, what: string, maxItems = MAX_UNITS_PER_BATCH): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > maxItems) throw bad(`${what} must be a list of at most ${maxItems} strings`);
  return v.map((x, i) => str(x, `${what}[${i}]`));
}

export function validateUnit(v: unknown, i: number): UnitRef {
  const u = obj(v, `units[${i}]`);
  const unit: UnitRef = {
    unitId: str(u.unitId, `units[${i}].unitId`),
    transport: oneOf(u.transport, TRANSPORTS, `units[${i}].transport`),
    protocol: oneOf(u.protocol, PROTOCOL_IDS, `units[${i}].protocol`),
    address: str(u.address, `units[${i}].address`),
  };
  const baud = optInt(u.baudRate, `units[${i}].baudRate`, 300, 12_000_000);
  if (baud !== undefined) unit.baudRate = baud;
  const sn = optStr(u.serialNumber, `units[${i}].serialNumber`, 64);
  if (sn !== undefined) unit.serialNumber = sn;
  const name = optStr(u.name, `units[${i}].name`, 64);
  if (name !== undefined) unit.name = name;
  if (u.sim !== undefined) {
    if (unit.transport !== 'sim') throw bad(`units[${i}].sim is only for sim units`);
    const s = obj(u.sim, `units[${i}].sim`);
    const link = obj(s.link, `units[${i}].sim.link`);
    unit.sim = {
      behaviour: oneOf<SimBehaviour>(s.behaviour, SIM_BEHAVIOURS, `units[${i}].sim.behaviour`),
      initialVersion: str(s.initialVersion, `units[${i}].sim.initialVersion`, 32),
      ...(s.serialNumber !== undefined ? { serialNumber: str(s.serialNumber, `units[${i}].sim.serialNumber`, 64) } : {}),
      ...(s.batteryPct !== undefined ? { batteryPct: int(s.batteryPct, `units[${i}].sim.batteryPct`, 0, 100) } : {}),
      ...(s.link !== undefined
        ? {
            link: Object.fromEntries(
              Object.entries({
                bytesPerSecond: optNum(link.bytesPerSecond, 'link.bytesPerSecond', 1, 1e9),
                latencyMs: optNum(link.latencyMs, 'link.latencyMs', 0, 60_000),
                mtuBytes: optInt(link.mtuBytes, 'link.mtuBytes', 1, 1 << 20),
                lossRate: optNum(link.lossRate, 'link.lossRate', 0, 1),
                disconnectAtOffset: optInt(link.disconnectAtOffset, 'link.disconnectAtOffset', 0, 1 << 30),
              }).filter(([, x]) => x !== undefined),
            ),
          }
        : {}),
    };
  } else if (unit.transport === 'sim') {
    throw bad(`units[${i}] is a sim unit without sim options`);
  }
  return unit;
}

export function validatePlan(v: unknown): Partial<Omit<Plan, 'packageId' | 'units'>> {
  const p = obj(v, 'plan');
  const out: Partial<Omit<Plan, 'packageId' | 'units'>> = {};
  const allow = strList(p.allow, 'plan.allow');
  const deny = strList(p.deny, 'plan.deny');
  if (allow) out.allow = allow;
  if (deny) out.deny = deny;
  if (p.versionGate !== undefined) {
    const g = obj(p.versionGate, 'plan.versionGate');
    if (typeof g.skipIfAtTarget !== 'boolean') throw bad('plan.versionGate.skipIfAtTarget must be a boolean');
    out.versionGate = { skipIfAtTarget: g.skipIfAtTarget };
  }
  if (p.policy !== undefined) {
    const q = obj(p.policy, 'plan.policy');
    out.policy = {};
    const bat = optInt(q.minBatteryPct, 'plan.policy.minBatteryPct', 0, 100);
    const rssi = optInt(q.minRssiDbm, 'plan.policy.minRssiDbm', -127, 20);
    if (bat !== undefined) out.policy.minBatteryPct = bat;
    if (rssi !== undefined) out.policy.minRssiDbm = rssi;
  }
  if (p.retry !== undefined) {
    const r = obj(p.retry, 'plan.retry');
    out.retry = {
      maxAttempts: int(r.maxAttempts, 'plan.retry.maxAttempts', 1, 21),
      backoffMs: int(r.backoffMs, 'plan.retry.backoffMs', 0, 600_000),
      backoffMaxMs: int(r.backoffMaxMs, 'plan.retry.backoffMaxMs', 0, 3_600_000),
    };
  }
  if (p.concurrency !== undefined) {
    const c = obj(p.concurrency, 'plan.concurrency');
    out.concurrency = { global: int(c.global, 'plan.concurrency.global', 1, 1000), perBleAdapter: int(c.perBleAdapter, 'plan.concurrency.perBleAdapter', 1, 20) };
  }
  if (p.stopTheLine !== undefined) {
    const s = obj(p.stopTheLine, 'plan.stopTheLine');
    const stl = {
      consecutiveFailures: optInt(s.consecutiveFailures, 'plan.stopTheLine.consecutiveFailures', 1, 1000),
      failureRate: optNum(s.failureRate, 'plan.stopTheLine.failureRate', 0, 1),
      minFinished: optInt(s.minFinished, 'plan.stopTheLine.minFinished', 1, 10_000),
    };
    out.stopTheLine = Object.fromEntries(Object.entries(stl).filter(([, x]) => x !== undefined));
  }
  return out;
}

export function validateSettings(v: unknown): Partial<StationSettingsView> {
  const s = obj(v, 'settings');
  for (const k of Object.keys(s)) if (!(SETTINGS_KEYS as readonly string[]).includes(k)) throw bad(`unknown setting "${k}"`);
  const out: Partial<StationSettingsView> = {};
  if (s.stationId !== undefined) out.stationId = str(s.stationId, 'stationId', 64);
  if (s.operator !== undefined) out.operator = str(s.operator, 'operator', 64);
  if (s.language !== undefined) out.language = oneOf<Lang>(s.language, ['en', 'zh-CN'], 'language');
  if (s.bleAdapterLimit !== undefined) out.bleAdapterLimit = int(s.bleAdapterLimit, 'bleAdapterLimit', 1, 20);
  if (s.globalConcurrency !== undefined) out.globalConcurrency = int(s.globalConcurrency, 'globalConcurrency', 1, 1000);
  if (s.serveport !== undefined) out.serveport = int(s.serveport, 'serveport', 0, 65535);
  return out;
}

export function validateRmaRequest(v: unknown): RmaRequest {
  const r = obj(v, 'rma');
  const port = str(r.port, 'port').trim();
  if (!SERIAL_PATH_RE.test(port)) throw bad('port must be a serial device path (/dev/…, COMn)');
  const ticket = typeof r.ticket === 'string' ? r.ticket.trim() : '';
  // issue 4 §4: every recovery is filed under its ticket; without one there is nothing to file it under.
  if (!ticket) throw bad('an RMA ticket number is required');
  if (ticket.length > MAX_TICKET || /[\u0000-\u001f]/.test(ticket)) throw bad(`ticket must be 1..${MAX_TICKET} printable characters`);
  const technician = typeof r.technician === 'string' ? r.technician.trim() : '';
  if (!technician) throw bad('the technician is required');
  const out: RmaRequest = { port, packageId: str(r.packageId, 'packageId'), ticket, technician: str(technician, 'technician', 64) };
  const baud = optInt(r.baudRate, 'baudRate', 300, 12_000_000);
  if (baud !== undefined) out.baudRate = baud;
  if (r.protocol !== undefined) out.protocol = oneOf(r.protocol, PROTOCOL_IDS, 'protocol');
  return out;
}

/** Strict base64 → bytes (rejects anything but the base64 alphabet). */
export function decodeBase64(text: unknown, maxBytes = MAX_UPLOAD_BYTES): Uint8Array {
  if (typeof text !== 'string' || text.length === 0) throw bad('dataBase64 must be a non-empty string');
  if (text.length > Math.ceil(maxBytes / 3) * 4) throw new StationError('IMAGE_TOO_LARGE', `upload larger than ${maxBytes} bytes`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw bad('dataBase64 is not base64');
  return new Uint8Array(Buffer.from(text, 'base64'));
}

// ---- the API -------------------------------------------------------------------------------

async function wrap<T>(fn: () => T | Promise<T>): Promise<Result<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    // A full or failing disk gets its own code (DISK_FULL, DATA_DIR_*), not INTERNAL.
    return { ok: false, error: errorView(classifyIoError(e, '') ?? toStationError(e)) };
  }
}

const REPORT_MIME = { csv: 'text/csv', json: 'application/json', html: 'text/html', pdf: 'application/pdf' } as const;

export function createStationApi(deps: ApiDeps): StationApi {
  const { engine, settings } = deps;
  const settingsView = (): StationSettingsView => ({
    stationId: settings.get('stationId'),
    operator: settings.get('operator'),
    language: settings.get('language'),
    bleAdapterLimit: settings.get('bleAdapterLimit'),
    globalConcurrency: settings.get('globalConcurrency'),
    serveport: settings.get('serveport'),
  });
  const batchId = (req: unknown): string => str(obj(req).batchId, 'batchId', 128);

  // ---- RMA runs: engine.recover in the background, its steps kept for rmaStatus ----
  const rmaRuns = new Map<string, RmaRunView>();
  const copyRun = (v: RmaRunView): RmaRunView => ({ ...v, steps: v.steps.slice() });
  function pruneRuns(): void {
    const finished = [...rmaRuns.values()].filter((v) => v.state !== 'running');
    for (const v of finished.slice(0, Math.max(0, finished.length - RMA_RUNS_KEPT))) rmaRuns.delete(v.recoveryId);
  }
  function startRecovery(req: RmaRequest): RmaRunView {
    const pkg = engine.getPackage(req.packageId);
    if (!pkg) throw new StationError('CONFIG_INVALID', `package ${req.packageId} is not loaded (import it first)`);
    for (const v of rmaRuns.values()) {
      if (v.state === 'running' && v.port === req.port) throw new StationError('PORT_BUSY', `${req.port} is already being recovered (ticket ${v.ticket})`);
    }
    const comp = pkg.components[0];
    const view: RmaRunView = { recoveryId: `R${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`, ticket: req.ticket, technician: req.technician, port: req.port, packageId: req.packageId, state: 'running', steps: [] };
    rmaRuns.set(view.recoveryId, view);
    const t0 = performance.now();
    const onStep = (s: RecoverStep): void => {
      view.steps.push({ seq: view.steps.length + 1, atMs: Math.round(performance.now() - t0), step: s.step, status: s.status, text: s.text });
      // Steps carry the one-unit batch once it exists, so the renderer can follow its events.
      if (!view.batchId && s.batchId) Object.assign(view, { batchId: s.batchId, jobId: s.jobId });
    };
    void Promise.resolve()
      .then(() =>
        engine.recover(
          {
            port: req.port,
            baudRate: req.baudRate,
            packagePath: pkg.sourcePath,
            // a bare .bin/.hex carries its version in the package info, a zip in its manifest
            version: pkg.format === 'zip' ? undefined : comp?.version,
            ticket: req.ticket,
            technician: req.technician,
            protocol: req.protocol,
          },
          onStep,
        ),
      )
      .then(
        (res) => {
          Object.assign(view, { batchId: res.batchId, jobId: res.jobId, probe: res.probe, job: res.job, state: res.ok ? 'passed' : 'failed' });
          if (!res.ok) {
            const code = res.job.errorCode && isStationErrorCode(res.job.errorCode) ? res.job.errorCode : 'VERIFY_VERSION_MISMATCH';
            view.error = errorView(new StationError(code, res.job.message ?? `recovery of ${req.port} did not verify`, { unitId: res.job.unit.unitId }));
          }
        },
        (e: unknown) => {
          view.state = 'failed';
          view.error = errorView(toStationError(e));
        },
      )
      .finally(pruneRuns);
    return copyRun(view);
  }
  function recentRmaJobs(): JobView[] {
    const out: JobView[] = [];
    for (const b of engine.journal.listBatches({ limit: RMA_RECENT_BATCHES })) {
      if (b.counts.total !== 1) continue;
      for (const j of engine.journal.getJobs(b.batchId)) if (j.rmaTicket) out.push(j);
    }
    return out;
  }
  function rmaDetail(jobId: string): RmaDetailView {
    const job = engine.journal.getJob(jobId);
    const rma = job && engine.journal.getRma(jobId);
    if (!job || !rma) throw new StationError('CONFIG_INVALID', `job ${jobId} has no RMA record`);
    let record: Partial<RmaRecord> = {};
    try {
      record = JSON.parse(rma.notesJson ?? '{}') as Partial<RmaRecord>;
    } catch {
      // A notes column that is not JSON: show the job and its row without the raw trace.
    }
    const batch = engine.journal.getBatch(job.batchId);
    const jobs = engine.journal.getJobs(job.batchId);
    const i = jobs.findIndex((j) => j.jobId === jobId);
    const row = batch && i >= 0 ? buildReport(batch, jobs).rows[i] : undefined;
    return {
      job,
      ticket: rma.ticket,
      technician: record.technician ?? job.technician ?? '',
      probe: record.probe ?? null,
      rawTrace: Array.isArray(record.trace) ? record.trace : [],
      reportRow: row ? { ...row } : {},
    };
  }

  const impl: { [M in StationMethod]: (req: unknown) => Res<M> | Promise<Res<M>> } = {
    stationInfo: () => ({
      stationId: engine.stationId,
      operator: engine.operator,
      language: settings.get('language'),
      browserMode: deps.browserMode,
      protocols: [...PROTOCOL_IDS],
      simProtocols: Object.keys(simDeviceFactories) as ProtocolId[],
      simBehaviours: [...SIM_BEHAVIOURS],
      resultText: RESULT_TEXT,
      interruptedBatchIds: engine.interruptedBatchIds,
    }),
    errorTexts: (req) => {
      const codes = strList(obj(req).codes, 'codes', 200) ?? [];
      return Object.fromEntries(codes.map((c) => [c, { en: operatorText(c, 'en'), 'zh-CN': operatorText(c, 'zh-CN') }]));
    },
    importPackage: (req) => {
      const r = obj(req);
      const fileName = str(r.fileName, 'fileName');
      const version = optStr(r.version, 'version', 32);
      return engine.importPackageBytes(fileName, decodeBase64(r.dataBase64), { version: version?.trim() || undefined });
    },
    listPackages: () => engine.listPackages(),
    resolveTargets: (req) => {
      const targets = strList(obj(req).targets, 'targets', MAX_TARGETS) ?? [];
      return parseTargets(targets);
    },
    scanUnits: async () => ({ serial: await listSerialPorts(), ble: bleAdapterState() }),
    createBatch: (req) => {
      const r = obj(req);
      if (!Array.isArray(r.units) || r.units.length > MAX_UNITS_PER_BATCH) throw bad(`units must be a list of at most ${MAX_UNITS_PER_BATCH}`);
      return engine.createBatch({
        packageId: str(r.packageId, 'packageId'),
        units: r.units.map(validateUnit),
        component: optStr(r.component, 'component', 64),
        plan: validatePlan(r.plan),
      });
    },
    startBatch: (req) => (engine.startBatch(batchId(req)), null),
    pauseBatch: (req) => (engine.pauseBatch(batchId(req)), null),
    resumeBatch: async (req) => (await engine.resumeBatch(batchId(req)), null),
    cancelBatch: (req) => (engine.cancelBatch(batchId(req)), null),
    cancelJob: (req) => engine.cancelJob(batchId(req), str(obj(req).jobId, 'jobId', 160)),
    retryJob: (req) => engine.retryJob(batchId(req), str(obj(req).jobId, 'jobId', 160)),
    listBatches: (req) => engine.listBatches(optInt(obj(req).limit, 'limit', 1, 1000) ?? 50),
    getBatch: (req) => {
      const id = batchId(req);
      const batch = engine.getBatch(id);
      if (!batch) throw new StationError('CONFIG_INVALID', `no batch ${id}`);
      return { batch, jobs: engine.getJobs(id) };
    },
    jobDetail: (req) => {
      const jobId = str(obj(req).jobId, 'jobId', 160);
      return { transitions: engine.getTransitions(jobId), trace: engine.getTrace(jobId) };
    },
    searchJobs: (req) => engine.searchJobs(str(obj(req).q, 'q', 128)),
    exportReport: async (req) => {
      const r = obj(req);
      const id = batchId(req);
      const format = oneOf(r.format, ['csv', 'json', 'html', 'pdf'] as const, 'format');
      const html = format === 'pdf' || format === 'html';
      const lang = r.lang === undefined ? 'en' : oneOf<Lang>(r.lang, ['en', 'zh-CN'], 'lang');
      // From the journal, like `flashline report`: what QA gets is what was written before it was shown.
      const batch = engine.journal.getBatch(id);
      if (!batch) throw new StationError('CONFIG_INVALID', `no batch ${id}`);
      const text = exportReport(batch, engine.journal.getJobs(id), html ? 'html' : format, { lang });
      // Browser mode has no printToPDF: the printable HTML stands in for the PDF (issue 6).
      const pdf = format === 'pdf' && deps.htmlToPdf ? await deps.htmlToPdf(text) : undefined;
      const ext = pdf ? 'pdf' : html ? 'html' : format;
      const out: ExportedReport = { fileName: `${id}.${ext}`, mime: REPORT_MIME[ext] };
      if (deps.saveFile) out.savedPath = await deps.saveFile(out.fileName, pdf ?? text);
      else out.content = text;
      return out;
    },
    recoverUnit: (req) => startRecovery(validateRmaRequest(req)),
    rmaStatus: (req) => {
      const id = str(obj(req).recoveryId, 'recoveryId', 64);
      const v = rmaRuns.get(id);
      if (!v) throw new StationError('CONFIG_INVALID', `no recovery ${id} on this station`);
      return copyRun(v);
    },
    listRmaJobs: (req) => {
      const ticket = optStr(obj(req).ticket, 'ticket', MAX_TICKET)?.trim();
      const recent = recentRmaJobs();
      if (!ticket) return recent;
      const needle = ticket.toLowerCase();
      const seen = new Set<string>();
      return [...engine.journal.jobsByTicket(ticket), ...recent.filter((j) => j.rmaTicket?.toLowerCase().includes(needle))].filter((j) => !seen.has(j.jobId) && !!seen.add(j.jobId));
    },
    rmaDetail: (req) => rmaDetail(str(obj(req).jobId, 'jobId', 160)),
    getSettings: () => settingsView(),
    setSettings: (req) => {
      const values = validateSettings(req);
      settings.set(values);
      if (values.operator) engine.operator = values.operator;
      return settingsView();
    },
  };

  const handlers = Object.fromEntries(
    Object.entries(impl).map(([m, fn]) => [m, (req: unknown) => wrap(() => (fn as (r: unknown) => unknown)(req))]),
  ) as Handlers;

  return {
    handlers,
    watch(id, fn) {
      try {
        return { ok: true, value: engine.subscribe(str(id, 'batchId', 128), fn) };
      } catch (e) {
        return { ok: false, error: errorView(toStationError(e)) };
      }
    },
  };
}

export type { Req };
