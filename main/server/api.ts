/**
 * The station API behind the typed channel map (contract/ipc.ts): validates every payload,
 * calls the Engine and turns every failure into a Result — nothing throws across IPC or the
 * WebSocket. Used by the Electron shell (main/app/ipc.ts) and `flashline serve` alike.
 * Must not import electron: desktop-only effects (save dialog, PDF) come in as deps.
 */
import crypto from 'node:crypto';
import type { BatchEvent, ErrorView, JobView, Lang, Plan, ProtocolId, SimBehaviour, TransportKind, UnitRef } from '../contract/dto.js';
import { PROTOCOL_IDS } from '../contract/dto.js';
import type { AuditEntryView, ExportedReport, Req, Res, Result, RmaDetailView, RmaRequest, RmaRunView, Role, RoleView, ScanMapping, StationMethod, StationSettingsView } from '../contract/ipc.js';
import { findAppVersion, UNKNOWN_VERSION } from '../engine/device/app-descriptor.js';
import type { StationSettings } from '../engine/settings/settings.js';
import { ENGINEER_METHODS, EngineerSessions, hashSecret, MAX_SECRET, MIN_SECRET, OPERATOR_SETTINGS, verifySecret } from './roles.js';
import type { Engine } from '../engine/engine.js';
import { errorView, isStationErrorCode, operatorText, RESULT_TEXT, StationError, toStationError } from '../engine/errors.js';
import { buildReport } from '../engine/report/index.js';
import { classifyIoError } from '../engine/data-dir.js';
import type { RecoverStep, RmaRecord } from '../engine/rma/recover.js';
import { simDeviceFactories } from '../engine/device/sim-units.js';
import { parseTargets, SIM_BEHAVIOURS, simBehaviourProblem } from '../engine/targets.js';
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
  get<K extends keyof StationSettings>(key: K): StationSettings[K];
  set(values: Partial<StationSettings>): void;
}

/** Who made a call: the engineer role needs a live session token (issue 13 §4). */
interface CallCtx {
  role: Role;
  token?: string;
}
/** Methods whose calls go to the audit log besides every engineer method (issue 13 §4). */
const AUDITED: ReadonlySet<StationMethod> = new Set<StationMethod>(['createBatch', 'startBatch', 'pauseBatch', 'resumeBatch', 'cancelBatch', 'cancelJob', 'retryJob', 'unlockEngineer', 'lockEngineer']);
const MAX_MAPPINGS = 500;
/** Stop the line when one failure code is more than this share of the finished units (with the engineer's threshold set). */
const SAME_FAILURE_SHARE = 0.5;

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
  /**
   * Subscribe to a batch's events. An unknown batch is refused in the Result, or — where the engine
   * runs in another process and cannot answer at once — later through `onError` (never silence).
   */
  watch(batchId: unknown, fn: (e: BatchEvent) => void, onError?: (error: ErrorView) => void): Result<() => void>;
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
      ...(s.instance !== undefined ? { instance: str(s.instance, `units[${i}].sim.instance`, 64) } : {}),
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
      sameFailureShare: optNum(s.sameFailureShare, 'plan.stopTheLine.sameFailureShare', 0, 1),
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

  const sessions = new EngineerSessions();
  const roleView = (ctx: CallCtx, token?: string): RoleView => ({
    role: ctx.role,
    secretSet: !!settings.get('engineerSecret'),
    stopAfterFailures: settings.get('stopAfterFailures') ?? 0,
    ...(token ? { token } : {}),
  });
  /** The stop-the-line threshold the engineer set applies to every batch an operator creates. */
  function enforceStopTheLine(plan: ReturnType<typeof validatePlan>, ctx: CallCtx): ReturnType<typeof validatePlan> {
    const threshold = settings.get('stopAfterFailures') ?? 0;
    if (threshold <= 0 || ctx.role === 'engineer') return plan;
    const given = plan?.stopTheLine?.consecutiveFailures;
    // ... and the line also stops when most finished units fail the same way (at least 4 finished).
    const share = plan?.stopTheLine?.sameFailureShare;
    return { ...plan, stopTheLine: { minFinished: 4, ...plan?.stopTheLine, consecutiveFailures: Math.min(given ?? threshold, threshold), sameFailureShare: Math.min(share ?? SAME_FAILURE_SHARE, SAME_FAILURE_SHARE) } };
  }
  /** Refuses a typed version that contradicts the image's own, and a known image under another version, unless confirmed. */
  function checkImport(fileName: string, bytes: Uint8Array, version: string | undefined, confirm: boolean): void {
    if (confirm) return;
    const bare = /\.(bin)$/i.test(fileName);
    const own = bare ? findAppVersion(bytes) : UNKNOWN_VERSION;
    if (version && own !== UNKNOWN_VERSION && own !== version) {
      throw new StationError('PACKAGE_VERSION_CONFLICT', `the typed version ${version} is not the image's own version ${own}`);
    }
    if (!bare) return;
    const sha = crypto.createHash('sha256').update(bytes).digest('hex');
    const target = version ?? (own !== UNKNOWN_VERSION ? own : undefined);
    for (const p of engine.listPackages()) {
      const c = p.components.find((x) => x.sha256 === sha);
      if (c && target && c.version !== target) throw new StationError('PACKAGE_SAME_IMAGE', `this image is already loaded as version ${c.version} (package ${p.id}); importing it as ${target} would replace that`);
    }
  }
  function auditTarget(method: StationMethod, req: Record<string, unknown>, value: unknown): { target?: string; detail?: string } {
    const v = value as Record<string, unknown> | null;
    if (method === 'importPackage') return { target: typeof v?.id === 'string' ? v.id : undefined, detail: `${String(req.fileName)}${req.version ? ` version ${String(req.version)}` : ''}${req.confirm ? ' (confirmed)' : ''}` };
    if (method === 'createBatch') return { target: typeof v?.batchId === 'string' ? v.batchId : undefined, detail: `package ${String(req.packageId)}, ${Array.isArray(req.units) ? req.units.length : 0} units` };
    if (method === 'setSettings') return { detail: Object.keys(req).join(', ') };
    if (method === 'setScanMappings') return { detail: `${Array.isArray(req.mappings) ? req.mappings.length : 0} mappings` };
    if (method === 'setStopAfterFailures') return { detail: String(req.failures) };
    if (typeof req.batchId === 'string') return { target: req.batchId, ...(typeof req.jobId === 'string' ? { detail: req.jobId } : {}) };
    return {};
  }

  const impl: { [M in StationMethod]: (req: unknown, ctx: CallCtx) => Res<M> | Promise<Res<M>> } = {
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
      // Optional: the unit's protocol, so the hint fits its link (issue 9 §1: no "check the cable" for Wi-Fi).
      const p = obj(req).protocol;
      const unit = p === undefined ? undefined : { protocol: oneOf<ProtocolId>(p, PROTOCOL_IDS, 'protocol') };
      return Object.fromEntries(codes.map((c) => [c, { en: operatorText(c, 'en', unit), 'zh-CN': operatorText(c, 'zh-CN', unit) }]));
    },
    importPackage: (req) => {
      const r = obj(req);
      const fileName = str(r.fileName, 'fileName');
      const version = optStr(r.version, 'version', 32)?.trim() || undefined;
      if (r.confirm !== undefined && typeof r.confirm !== 'boolean') throw bad('confirm must be true or false');
      const bytes = decodeBase64(r.dataBase64);
      checkImport(fileName, bytes, version, r.confirm === true);
      return engine.importPackageBytes(fileName, bytes, { version });
    },
    listPackages: async () => {
      // Packages imported before the station restarted come back from the data dir first.
      await engine.restorePackages();
      return engine.listPackages();
    },
    resolveTargets: (req) => {
      const targets = strList(obj(req).targets, 'targets', MAX_TARGETS) ?? [];
      return parseTargets(targets);
    },
    scanUnits: async () => ({ serial: await listSerialPorts(), ble: bleAdapterState() }),
    createBatch: async (req, ctx) => {
      await engine.restorePackages();
      const r = obj(req);
      if (!Array.isArray(r.units) || r.units.length > MAX_UNITS_PER_BATCH) throw bad(`units must be a list of at most ${MAX_UNITS_PER_BATCH}`);
      const units = r.units.map(validateUnit);
      // Behaviours a protocol's virtual unit cannot do are refused now, not discovered per unit mid-batch.
      const problems = units.map((u) => (u.transport === 'sim' ? simBehaviourProblem(u) : null)).filter((p): p is string => !!p);
      if (problems.length) throw bad(`the plan asks for what a protocol cannot do: ${[...new Set(problems)].slice(0, 5).join('; ')}`);
      return engine.createBatch({
        packageId: str(r.packageId, 'packageId'),
        units,
        component: optStr(r.component, 'component', 64),
        plan: enforceStopTheLine(validatePlan(r.plan), ctx),
        profileIds: r.profileIds === undefined ? undefined : strList(r.profileIds, 'profileIds', 5),
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
      // Signed with the station key, rendered in the worker pool: a large batch's report does not stall the engine's jobs.
      const text = await engine.reportInWorker(id, html ? 'html' : format, { lang });
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
    listScanMappings: () => settings.get('scanMappings') ?? [],
    listProfiles: () => engine.listProfiles(),
    saveProfile: (req) => engine.saveProfile(obj(req).profile),
    deleteProfile: (req) => ({ deleted: engine.deleteProfile(str(obj(req).id, 'id', 64)) }),
    setScanMappings: (req) => {
      const list = obj(req).mappings;
      if (!Array.isArray(list) || list.length > MAX_MAPPINGS) throw bad(`mappings must be a list of at most ${MAX_MAPPINGS}`);
      const seen = new Set<string>();
      const mappings: ScanMapping[] = list.map((m, i) => {
        const o = obj(m, `mappings[${i}]`);
        const barcode = str(o.barcode, `mappings[${i}].barcode`, 128).trim();
        if (seen.has(barcode)) throw bad(`barcode ${barcode} is mapped twice`);
        seen.add(barcode);
        const packageId = str(o.packageId, `mappings[${i}].packageId`);
        const profileId = optStr(o.profileId, `mappings[${i}].profileId`, 128);
        return { barcode, packageId, ...(profileId ? { profileId } : {}) };
      });
      settings.set({ scanMappings: mappings });
      return mappings;
    },
    roleStatus: (_req, ctx) => roleView(ctx),
    unlockEngineer: (req) => {
      const secret = str(obj(req).secret, 'secret', MAX_SECRET);
      const stored = settings.get('engineerSecret');
      if (!stored) throw new StationError('ROLE_BAD_SECRET', 'no engineer PIN/password is set on this station yet (set one in Settings)');
      if (sessions.lockedOut()) throw new StationError('ROLE_BAD_SECRET', 'too many wrong attempts; wait 30 s');
      if (!verifySecret(secret, stored)) {
        sessions.failed();
        throw new StationError('ROLE_BAD_SECRET', 'wrong engineer PIN or password');
      }
      return roleView({ role: 'engineer' }, sessions.open());
    },
    lockEngineer: (_req, ctx) => {
      sessions.close(ctx.token);
      return roleView({ role: 'operator' });
    },
    setEngineerSecret: (req) => {
      const secret = str(obj(req).secret, 'secret', MAX_SECRET);
      if (secret.length < MIN_SECRET) throw bad(`the PIN/password needs at least ${MIN_SECRET} characters`);
      settings.set({ engineerSecret: hashSecret(secret) });
      // Every other engineer session ends with the old secret.
      sessions.closeAll();
      return roleView({ role: 'engineer' }, sessions.open());
    },
    setStopAfterFailures: (req, ctx) => {
      settings.set({ stopAfterFailures: int(obj(req).failures, 'failures', 0, 1000) });
      return roleView(ctx);
    },
    listAudit: (req) => engine.journal.listAudit(optInt(obj(req).limit, 'limit', 1, 5000) ?? 200) as AuditEntryView[],
    getSettings: () => settingsView(),
    setSettings: (req) => {
      const values = validateSettings(req);
      settings.set(values);
      if (values.operator) engine.operator = values.operator;
      return settingsView();
    },
  };

  /**
   * Every call: the engineer token (if any) is taken off the request and checked; engineer-only
   * methods refuse operators once an engineer secret is set; audited calls are journaled.
   */
  async function call(method: StationMethod, raw: unknown): Promise<Result<unknown>> {
    let req = raw;
    let token: string | undefined;
    if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'engineerToken' in raw) {
      const { engineerToken, ...rest } = raw as Record<string, unknown>;
      token = typeof engineerToken === 'string' ? engineerToken : undefined;
      req = rest;
    }
    const ctx: CallCtx = { role: sessions.check(token) ? 'engineer' : 'operator', ...(token ? { token } : {}) };
    const secretSet = !!settings.get('engineerSecret');
    const result = await wrap(() => {
      if (ENGINEER_METHODS.has(method) && ctx.role !== 'engineer' && secretSet) {
        const operatorOnly = method === 'setSettings' && Object.keys(obj(req)).every((k) => OPERATOR_SETTINGS.has(k));
        if (!operatorOnly) throw new StationError('ROLE_ENGINEER_REQUIRED', `${method} needs the engineer role`);
      }
      return (impl[method] as (r: unknown, c: CallCtx) => unknown)(req, ctx);
    });
    const engineerAction = ENGINEER_METHODS.has(method) && !(method === 'setSettings' && Object.keys(obj(req)).every((k) => OPERATOR_SETTINGS.has(k)));
    if (engineerAction || AUDITED.has(method)) {
      try {
        const r = req && typeof req === 'object' ? (req as Record<string, unknown>) : {};
        const role: Role = method === 'unlockEngineer' ? (result.ok ? 'engineer' : 'operator') : ctx.role === 'engineer' || (engineerAction && !secretSet) ? 'engineer' : 'operator';
        engine.journal.audit({
          role,
          actor: settings.get('operator'),
          action: result.ok ? method : `${method} refused`,
          ...auditTarget(method, r, result.ok ? result.value : null),
          ...(result.ok ? {} : { detail: `${result.error.code}: ${result.error.message}`.slice(0, 500) }),
        });
      } catch {
        // The journal is closing (station shutting down): the call's own result still stands.
      }
    }
    return result;
  }
  const handlers = Object.fromEntries(Object.keys(impl).map((m) => [m, (req: unknown) => call(m as StationMethod, req)])) as Handlers;

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
