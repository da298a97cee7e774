/**
 * The Engine API: the only thing the Electron shell, the WebSocket server and the CLI talk to.
 * Commands and queries take and return plain data (contract/dto.ts); events are a snapshot then
 * revisioned deltas. Composes packages, transports, drivers, the scheduler and the journal.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BatchEvent, BatchView, CloudUnitView, CloudView, JobView, PackageInfo, Plan, ProductProfile, ProtocolId, TraceLine, TransitionView, TransportKind, UnitRef } from '../contract/dto.js';
import { BatchRun, countJobs } from './batch/batch-run.js';
import { systemClock, type Clock } from './clock.js';
import { StationError } from './errors.js';
import { Journal } from './journal/journal.js';
import { retryPolicy } from './job/retry-policy.js';
import { DEFAULT_MAX_PACKAGE_BYTES, loadPackage, type LoadedPackage } from './package/loader.js';
import { Scheduler } from './pool/scheduler.js';
import { getDriver, hasDriver, policyChecksOf } from './protocol/registry.js';
import { applyDriverPolicy } from './protocol/policy.js';
import { ProfileStore, defaultProfile, effectiveProfile } from './profile/index.js';
import type { FirmwareImage } from './protocol/types.js';
import { SimTransport, type VirtualDeviceFactory } from './device/sim-transport.js';
import type { Transport } from './transport/types.js';
import { exportReportInWorker } from './report/render-in-worker.js';
import { buildReport, renderCsv, renderHtml, renderJson } from './report/index.js';
import { existingStationKey, loadOrCreateStationKey, type StationKey } from './report/station-key.js';
import { simDeviceFactories, simLinkDefaults } from './device/sim-units.js';
import { SerialTransport } from './transport/serial/serial-transport.js';
import { createStationTransports } from './transport/extra-transports.js';
import { createSimDelegates } from './device/sim-delegates.js';
import { simBehaviourProblem } from './targets.js';
import { runRecovery, type RecoverRequest, type RecoverResult, type RecoverStep } from './rma/recover.js';
import { mqttOtaCloud } from './protocol/mqtt-ota/cloud.js';
import { MqttSimUnits } from './device/mqtt-sim-units.js';
import { NetTransport } from './transport/net/net-transport.js';
import { LineLink, checkLineOptions, loadLineOptions, type LineOptions, type LineStatus } from './line/line.js';
import { findUnits, lineBatchDetail, listLineBatches, type LineBatch, type LineUnit } from './line/queries.js';
import type { PreflightDecision } from './line/mes.js';
import { acquireStationLock, tryLock, type StationLock } from './station-lock.js';
import { classifyIoError, prepareDataDir } from './data-dir.js';

export interface EngineOptions {
  /** Folder for the journal, reports and (by default) virtual devices' memory. */
  dataDir: string;
  stationId?: string;
  operator?: string;
  clock?: Clock;
  /** Per-protocol options (the product profile) merged over each driver's defaults. */
  protocolOptions?: Partial<Record<ProtocolId, Record<string, unknown>>>;
  /** Replace or add transports (tests). */
  transports?: Partial<Record<TransportKind, Transport>>;
  simFactories?: Partial<Record<ProtocolId, VirtualDeviceFactory>>;
  connectTimeoutMs?: number;
  rebootTimeoutMs?: number;
  /** Sign reports with the station key (created in dataDir on first start). Default true. */
  signReports?: boolean;
  /**
   * Line database and MES hooks (issue 11). Unset: read from FLASHLINE_LINE_DB and
   * DATA_DIR/line.json (lineDb below overrides the URL); false: none, whatever the settings say.
   */
  line?: LineOptions | false;
  /** --line-db: the line database URL, over FLASHLINE_LINE_DB and line.json. */
  lineDb?: string;
  /** Where line warnings go when nobody listens via onLineStatus (default: stderr). */
  lineLog?: (line: string) => void;
  /** Product profiles an MES pre-flight may name per unit (by id). */
  profiles?: { id: string; protocol: ProtocolId; options: Record<string, unknown> }[];
  /**
   * 'write' (default): this process owns the data folder or Engine.open throws STATION_BUSY.
   * 'read' (batches, report, history): if another station process owns the folder, the journal
   * is opened read-only and nothing is changed; if none does, this one holds the lock while open.
   */
  access?: 'write' | 'read';
}

export interface CreateBatchInput {
  packageId: string;
  units: UnitRef[];
  plan?: Partial<Omit<Plan, 'packageId' | 'units'>>;
  /** Which component of the package to flash (default: the profile's, else the first). */
  component?: string;
  /** Product profiles to use (issue 9 §9), at most one per protocol; other protocols use their defaults. */
  profileIds?: string[];
}

export const DEFAULT_PLAN: Omit<Plan, 'packageId' | 'units'> = {
  versionGate: { skipIfAtTarget: true },
  policy: {},
  retry: { maxAttempts: 3, backoffMs: 500, backoffMaxMs: 10_000 },
  concurrency: { global: 64, perBleAdapter: 6 },
};

export class Engine {
  readonly journal: Journal;
  readonly stationId: string;
  operator: string;
  /** Batches the journal found running at start-up (the station had stopped mid-batch). */
  readonly interruptedBatchIds: string[];
  private readonly packages = new Map<string, LoadedPackage>();
  private readonly runs = new Map<string, BatchRun>();
  private readonly transports: Partial<Record<TransportKind, Transport>>;
  private readonly clock: Clock;
  readonly sim: SimTransport;
  /** The station's Ed25519 report-signing key (issue 10 §4); undefined only with signReports: false. */
  readonly stationKey: StationKey | undefined;
  /** Built-in and user product profiles (issue 9 §9). */
  readonly profiles: ProfileStore;
  /** The link to the line database and MES, when configured (only in the folder's owner). */
  private readonly line: LineLink | null;
  /** This process's hold on the data folder; null when it only reads a folder another station owns. */
  private readonly lock: StationLock | null;

  private constructor(private readonly opts: EngineOptions) {
    prepareDataDir(opts.dataDir, { write: opts.access !== 'read' });
    // Line settings are checked before anything opens: a bad line.json refuses to start the station.
    const lineOpts = opts.line === false || opts.access === 'read' ? {} : opts.line ? { ...opts.line, ...(opts.lineDb ? { lineDb: opts.lineDb } : {}) } : loadLineOptions(opts.dataDir, opts.lineDb);
    checkLineOptions(lineOpts);
    this.lock = opts.access === 'read' ? readerLock(opts.dataDir) : acquireStationLock(opts.dataDir);
    try {
      this.journal = Journal.open(path.join(opts.dataDir, 'journal.sqlite'), { readonly: !this.lock });
    } catch (e) {
      this.lock?.release();
      throw classifyIoError(e, opts.dataDir) ?? e;
    }
    // A reader (batches, report) still signs its reports with the station's key when it exists,
    // but creates nothing: the folder may be another station's, or read-only.
    this.stationKey = opts.signReports === false ? undefined : this.lock && opts.access !== 'read' ? loadOrCreateStationKey(opts.dataDir) : existingStationKey(opts.dataDir);
    this.stationId = opts.stationId ?? 'station-1';
    this.operator = opts.operator ?? 'operator';
    this.clock = opts.clock ?? systemClock;
    this.profiles = new ProfileStore(opts.dataDir);
    this.sim = new SimTransport({
      stateDir: path.join(opts.dataDir, 'sim-units'),
      factories: { ...simDeviceFactories, ...opts.simFactories },
      linkDefaults: simLinkDefaults,
      delegates: createSimDelegates(this.transportContext()),
    });
    // A BLE unit's pipe comes from its protocol (the transport knows no dialect).
    const blePipeFor = (p: ProtocolId) => (hasDriver(p) ? getDriver(p).ble?.pipe : undefined);
    this.transports = { sim: this.sim, serial: new SerialTransport(), ...createStationTransports({ dataDir: opts.dataDir, cloud: mqttOtaCloud, blePipeFor }), ...opts.transports };
    // Only the folder's owner may decide that a batch it finds running was cut short, or ship its journal.
    this.interruptedBatchIds = this.lock ? this.journal.markInterrupted(new Date().toISOString()) : [];
    // A reader (batches, report) neither ships the journal nor touches its outbox triggers.
    this.line = this.lock && opts.access !== 'read' ? LineLink.start(path.join(opts.dataDir, 'journal.sqlite'), this.stationId, lineOpts, opts.lineLog ?? ((l) => process.stderr.write(`flashline: ${l}\n`))) : null;
  }

  /** True when another station process owns the data folder and this Engine only reads it. */
  get readOnly(): boolean {
    return this.lock === null;
  }

  static open(opts: EngineOptions): Engine {
    return new Engine(opts);
  }

  /** What the plug-in transports get: the cloud dialect and the virtual networked units (issue 12 §2). */
  private transportContext() {
    return { dataDir: this.opts.dataDir, cloud: mqttOtaCloud, simNetUnits: (this.simNetUnits ??= new MqttSimUnits(path.join(this.opts.dataDir, 'sim-units'))) };
  }
  private simNetUnits?: MqttSimUnits;

  // ---- the local cloud (issue 9 §4) -----------------------------------------------------

  /**
   * Start the broker, firmware server (and DNS when configured) now, for networked units that
   * power on before any batch (serve, the desktop app, `flashline cloud`). Idempotent.
   */
  async startCloud(): Promise<CloudView> {
    const net = this.transports.net;
    if (!(net instanceof NetTransport)) return { running: false, error: 'no net transport on this station', units: [] };
    await net.startCloud();
    return net.cloudView();
  }

  /** The local cloud and the units that checked in (id, dialect, version, last seen). */
  cloud(): CloudView {
    const net = this.transports.net;
    return net instanceof NetTransport ? net.cloudView() : { running: false, units: [] };
  }

  /** Roster changes as they happen. */
  onCloudUnit(cb: (u: CloudUnitView) => void): () => void {
    const net = this.transports.net;
    return net instanceof NetTransport ? net.onRoster(cb) : () => undefined;
  }

  // ---- packages -------------------------------------------------------------------------

  async loadPackage(file: string | Buffer, opts: { version?: string; maxBytes?: number; requireSignature?: boolean } = {}): Promise<PackageInfo> {
    if (typeof file !== 'string') {
      const text = file.toString('utf8');
      if (Buffer.from(text, 'utf8').equals(file)) return this.loadPackage(text, opts);
      // A file name that is not UTF-8 (a Latin-1 USB stick): the journal keeps paths as text, so
      // the bytes are kept under a name it can hold, like an upload, and a resume reloads that copy.
      let bytes: Buffer;
      try {
        const size = fs.statSync(file).size;
        if (size > (opts.maxBytes ?? DEFAULT_MAX_PACKAGE_BYTES)) throw new StationError('IMAGE_TOO_LARGE', `${text}: ${size} bytes`);
        bytes = fs.readFileSync(file);
      } catch (e) {
        if (e instanceof StationError) throw e;
        throw new StationError('IMAGE_UNREADABLE', `${text}: ${(e as Error).message}`, {}, { cause: e });
      }
      return this.importPackageBytes(path.basename(text), bytes, opts);
    }
    const loaded = await loadPackage(file, opts);
    this.packages.set(loaded.info.id, loaded);
    return loaded.info;
  }

  getPackage(id: string): PackageInfo | undefined {
    return this.packages.get(id)?.info;
  }

  /** Packages loaded on this station since it started, newest first (the UI's package list). */
  listPackages(): PackageInfo[] {
    return [...this.packages.values()].map((p) => p.info).reverse();
  }

  /**
   * A package uploaded from the UI (browser mode or drag and drop): the bytes are kept under
   * dataDir/packages/ so a resumed batch can reload them, then loaded like any file.
   */
  async importPackageBytes(fileName: string, bytes: Uint8Array, opts: { version?: string; maxBytes?: number; requireSignature?: boolean } = {}): Promise<PackageInfo> {
    const base = path.basename(fileName).replace(/[^A-Za-z0-9._-]/g, '_').slice(-100) || 'package.bin';
    const digest = crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 12);
    const dir = path.join(this.opts.dataDir, 'packages');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${digest}-${base}`);
    if (!fs.existsSync(file)) fs.writeFileSync(file, bytes);
    const info = await this.loadPackage(file, opts);
    // What the next start needs to load it again the same way (restorePackages).
    fs.writeFileSync(`${file}.import.json`, JSON.stringify({ fileName: base, version: opts.version ?? null, importedAt: new Date().toISOString() }));
    return info;
  }

  private restoring: Promise<string[]> | null = null;
  /**
   * Loads again the packages imported into dataDir/packages/ before this start (oldest first, so
   * the list stays newest first), with the version typed at import. Runs once; later calls share
   * the result: the files that could not be loaded, with why (a changed or damaged file).
   */
  restorePackages(): Promise<string[]> {
    this.restoring ??= (async () => {
      const dir = path.join(this.opts.dataDir, 'packages');
      if (!fs.existsSync(dir)) return [];
      const problems: string[] = [];
      const metas = fs.readdirSync(dir).filter((f) => f.endsWith('.import.json'));
      const entries = metas
        .map((m) => {
          try {
            const meta = JSON.parse(fs.readFileSync(path.join(dir, m), 'utf8')) as { version?: string | null; importedAt?: string };
            return { file: path.join(dir, m.slice(0, -'.import.json'.length)), version: meta.version ?? undefined, at: meta.importedAt ?? '' };
          } catch (e) {
            problems.push(`${m}: ${(e as Error).message}`);
            return null;
          }
        })
        .filter((e): e is { file: string; version: string | undefined; at: string } => !!e)
        .sort((a, b) => a.at.localeCompare(b.at));
      for (const e of entries) {
        try {
          const loaded = await loadPackage(e.file, { version: e.version });
          if (!this.packages.has(loaded.info.id)) this.packages.set(loaded.info.id, loaded);
        } catch (err) {
          problems.push(`${path.basename(e.file)}: ${(err as Error).message}`);
        }
      }
      return problems;
    })();
    return this.restoring;
  }

  // ---- product profiles (issue 9 §9) ------------------------------------------------------

  /** Built-in profiles, then the user profiles saved on this station. */
  listProfiles(): ProductProfile[] {
    return this.profiles.list();
  }

  /** Save (create or replace) a user profile; CONFIG_INVALID when it does not check. */
  saveProfile(profile: unknown): ProductProfile {
    return this.profiles.save(profile);
  }

  deleteProfile(id: string): boolean {
    return this.profiles.delete(id);
  }

  // ---- batches --------------------------------------------------------------------------

  createBatch(input: CreateBatchInput): BatchView {
    return this.createBatchWith(input, {});
  }

  /**
   * RMA recovery of one serial unit (issue 4 §4): probe which path answers, identify it, flash
   * the golden image over that path as a one-unit batch run by the technician, verify, and
   * journal the ticket, the technician and the full raw protocol trace (shown in the report row).
   * `onStep` sees each step as it happens. The UI and `flashline recover` both call this.
   */
  recover(input: RecoverRequest, onStep?: (s: RecoverStep) => void): Promise<RecoverResult> {
    const serial = this.transports.serial;
    if (!serial) throw new StationError('TRANSPORT_NOT_FOUND', 'the serial transport is not available on this station', { retryable: false });
    return runRecovery(
      {
        journal: this.journal,
        serial,
        loadPackage: (file, opts) => this.loadPackage(file, opts),
        createBatch: (batchInput, extras) => this.createBatchWith(batchInput, { operator: extras.operator, transports: { serial: extras.serial } }),
        startBatch: (id) => this.startBatch(id),
        waitForBatch: (id) => this.waitForBatch(id),
        subscribe: (id, cb) => this.subscribe(id, cb),
        getTransitions: (jobId) => this.getTransitions(jobId),
      },
      input,
      onStep,
    );
  }

  /** A batch with its own operator (an RMA technician) or transports (a recording wrapper) for this run only. */
  private createBatchWith(input: CreateBatchInput, extras: { operator?: string; transports?: Partial<Record<TransportKind, Transport>> }): BatchView {
    this.assertOwner();
    prepareDataDir(this.opts.dataDir); // no new batch on a full or failing disk (DISK_FULL, DATA_DIR_*)
    const pkg = this.packages.get(input.packageId);
    if (!pkg) throw new StationError('CONFIG_INVALID', `package ${input.packageId} is not loaded`);
    if (input.units.length === 0) throw new StationError('CONFIG_INVALID', 'the plan has no units');
    const profiles = this.effectiveProfiles(input.units, input.profileIds ?? []);
    const profileComponent = Object.values(profiles).find((p) => p?.component && pkg.images.some((i) => i.info.component === p.component))?.component;
    const image = this.pickImage(pkg, input.component ?? profileComponent);
    const plan: Plan = { ...DEFAULT_PLAN, ...input.plan, packageId: input.packageId, units: input.units, profiles };
    checkPoliciesCheckable(plan);
    const batchId = newBatchId();
    const now = new Date().toISOString();
    const jobs: JobView[] = input.units.map((unit, i) => {
      const job: JobView = {
        jobId: `${batchId}-${String(i + 1).padStart(4, '0')}`,
        batchId,
        unit,
        state: 'queued',
        progressBytes: 0,
        totalBytes: image.info.sizeBytes,
        attempts: 0,
        sent: { crc32: image.info.crc32, md5: image.info.md5 },
        confirmed: {},
        resumable: false,
      };
      const listed = listDecision(unit, plan);
      if (listed) Object.assign(job, { state: 'skipped', errorCode: 'UNIT_NOT_LISTED', skipReason: listed, message: listed, endedAt: now });
      return job;
    });
    const batch: BatchView = {
      batchId,
      state: 'created',
      operator: extras.operator ?? this.operator,
      stationId: this.stationId,
      packageInfo: { ...pkg.info, components: pkg.info.components.filter((c) => c.component === image.info.component) },
      plan,
      createdAt: now,
      counts: countJobs(jobs),
    };
    this.journal.createBatch(batch, jobs);
    this.runs.set(batchId, this.newRun(batch, jobs, image, extras.transports));
    return batch;
  }

  startBatch(batchId: string): void {
    this.run(batchId).start();
  }

  pauseBatch(batchId: string): void {
    this.run(batchId).pause();
  }

  /** Resume a paused batch, or one the station was stopped in the middle of (reloads its package). */
  async resumeBatch(batchId: string): Promise<void> {
    this.assertOwner();
    // After a DISK_FULL stop: refuse (DISK_FULL again) until there is room, and restore the reserve.
    prepareDataDir(this.opts.dataDir);
    let run = this.runs.get(batchId);
    if (!run) {
      const batch = this.journal.getBatch(batchId);
      if (!batch) throw new StationError('CONFIG_INVALID', `no batch ${batchId}`);
      const pkg = await this.reloadPackage(batch.packageInfo);
      const image = this.pickImage(pkg, batch.packageInfo.components[0]?.component);
      // Jobs come back with every earlier attempt's cause (the first real one decides the result).
      run = this.newRun(batch, this.journal.getJobs(batchId), image);
      this.runs.set(batchId, run);
    }
    if (run.batch.state === 'created') run.start();
    else run.resume();
  }

  cancelBatch(batchId: string): void {
    this.run(batchId).cancel();
  }

  cancelJob(batchId: string, jobId: string): boolean {
    return this.run(batchId).cancelJob(jobId);
  }

  retryJob(batchId: string, jobId: string): boolean {
    return this.run(batchId).retryJob(jobId);
  }

  subscribe(batchId: string, cb: (e: BatchEvent) => void): () => void {
    const run = this.runs.get(batchId);
    if (run) return run.subscribe(cb);
    const batch = this.journal.getBatch(batchId);
    if (!batch) throw new StationError('CONFIG_INVALID', `no batch ${batchId}`);
    cb({ type: 'snapshot', batchId, rev: 0, batch, jobs: this.journal.getJobs(batchId) });
    return () => undefined;
  }

  /** Why the batch stopped on its own (DISK_FULL, DATA_DIR_*), if it did; null otherwise. */
  batchStopError(batchId: string): StationError | null {
    return this.runs.get(batchId)?.stopError ?? null;
  }

  /** Resolves when the batch has nothing left to run. */
  async waitForBatch(batchId: string): Promise<BatchView> {
    await this.run(batchId).whenDone();
    return this.getBatch(batchId)!;
  }

  // ---- queries --------------------------------------------------------------------------

  getBatch(batchId: string): BatchView | undefined {
    const run = this.runs.get(batchId);
    return run ? run.view() : this.journal.getBatch(batchId);
  }
  listBatches(limit = 50): BatchView[] {
    return this.journal.listBatches({ limit });
  }
  getJobs(batchId: string): JobView[] {
    return this.runs.get(batchId)?.jobs ?? this.journal.getJobs(batchId);
  }
  getTransitions(jobId: string): TransitionView[] {
    return this.journal.getTransitions(jobId);
  }
  getTrace(jobId: string): { attempt: number; lines: TraceLine[] }[] {
    return this.journal.getTrace(jobId);
  }
  searchJobs(q: string): JobView[] {
    return this.journal.searchJobs(q);
  }

  /** The line link's state for the UI and `flashline line status`: rows waiting, last sync, last error, MES queue. */
  lineStatus(): LineStatus {
    return this.line?.status() ?? { stationId: this.stationId, configured: false, connected: false, rowsWaiting: 0, rowsShipped: 0 };
  }

  /** Called when the line database becomes unreachable (with the rows waiting) and when it is back. */
  onLineStatus(cb: (s: LineStatus) => void): () => void {
    return this.line?.onStatus(cb) ?? (() => undefined);
  }

  /** History's line view: every job of a unit on any station of the line (by serial number or MAC). */
  lineUnits(by: { serial?: string; mac?: string }): Promise<LineUnit[]> {
    return this.lineQuery((c) => findUnits(c, by));
  }

  /** History's line view: batches of one station or of all, created in [from, to) (ISO times). */
  lineBatches(filter: { station?: string; from?: string; to?: string } = {}): Promise<LineBatch[]> {
    return this.lineQuery((c) => listLineBatches(c, filter));
  }

  /** History's line view: any station's batch, read-only, as the views the grid and report already take. */
  lineBatch(stationId: string, batchId: string): Promise<{ batch: BatchView; jobs: JobView[] } | undefined> {
    return this.lineQuery((c) => lineBatchDetail(c, stationId, batchId));
  }

  private lineQuery<T>(fn: (c: import('pg').Client) => Promise<T>): Promise<T> {
    if (!this.line?.configured) return Promise.reject(new StationError('CONFIG_INVALID', 'no line database is set on this station (--line-db, FLASHLINE_LINE_DB or line.json)'));
    return this.line.query(fn);
  }

  /** Ship everything waiting to the line database now; throws the database's error (tests, bench). */
  async syncLine(): Promise<number> {
    return this.line ? this.line.drain() : 0;
  }

  /** A report from the journal, signed with the station key, carrying the journal's chain head. */
  report(batchId: string, format: 'csv' | 'json' | 'html', opts: { lang?: 'en' | 'zh-CN' } = {}): string {
    const batch = this.journal.getBatch(batchId);
    if (!batch) throw new StationError('CONFIG_INVALID', `no batch ${batchId}`);
    const report = buildReport(batch, this.journal.getJobs(batchId), {
      lang: opts.lang,
      signingKey: this.stationKey?.privateKey,
      journalHead: this.journal.chainHead(),
      attemptCauses: this.journal.attemptCausesForBatch(batchId),
    });
    return format === 'csv' ? renderCsv(report) : format === 'json' ? renderJson(report) : renderHtml(report);
  }

  /** The same signed report, rendered in the worker pool so a large batch does not stall running jobs (UI export). */
  reportInWorker(batchId: string, format: 'csv' | 'json' | 'html', opts: { lang?: 'en' | 'zh-CN' } = {}): Promise<string> {
    const batch = this.journal.getBatch(batchId);
    if (!batch) throw new StationError('CONFIG_INVALID', `no batch ${batchId}`);
    return exportReportInWorker(batch, this.journal.getJobs(batchId), format, {
      lang: opts.lang,
      signingKey: this.stationKey?.privateKey,
      journalHead: this.journal.chainHead(),
      attemptCauses: this.journal.attemptCausesForBatch(batchId),
    });
  }

  /** Stop everything: in-flight jobs are journaled as interrupted, resumable later. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.runs.values()].map((r) => r.shutdown()));
    for (const t of Object.values(this.transports)) await t?.dispose?.();
    await this.line?.close();
    this.journal.close();
    this.lock?.release();
  }

  // ---- internals ------------------------------------------------------------------------

  /** A read-only Engine (another process owns the folder) refuses anything that would write. */
  private assertOwner(): void {
    if (!this.lock) throw new StationError('STATION_BUSY', `${this.opts.dataDir} is owned by another station process; this one only reads it`, { retryable: false });
  }

  private run(batchId: string): BatchRun {
    const r = this.runs.get(batchId);
    if (!r) throw new StationError('CONFIG_INVALID', `batch ${batchId} is not active on this station (resume it first)`);
    return r;
  }

  private pickImage(pkg: LoadedPackage, component?: string): FirmwareImage {
    const image = component ? pkg.images.find((i) => i.info.component === component) : pkg.images[0];
    if (!image) throw new StationError('CONFIG_INVALID', `package has no component ${component}`);
    return image;
  }

  private async reloadPackage(info: PackageInfo): Promise<LoadedPackage> {
    const cached = this.packages.get(info.id);
    if (cached) return cached;
    const comp = info.components[0];
    const loaded = await loadPackage(info.sourcePath, { version: info.format === 'zip' ? undefined : comp?.version });
    if (loaded.info.id !== info.id) throw new StationError('IMAGE_HASH_MISMATCH', `${info.sourcePath} changed since the batch started (package ${loaded.info.id}, batch ${info.id})`);
    this.packages.set(loaded.info.id, loaded);
    return loaded;
  }

  /**
   * The effective profile of every protocol in the plan: the named profile (or the protocol's
   * defaults) with this station's `--opt` overrides, every option and timer written out.
   */
  private effectiveProfiles(units: UnitRef[], profileIds: string[]): Partial<Record<ProtocolId, ProductProfile>> {
    const chosen = new Map<ProtocolId, ProductProfile>();
    for (const id of profileIds) {
      const p = this.profiles.require(id);
      const other = chosen.get(p.protocol);
      if (other) throw new StationError('CONFIG_INVALID', `profiles ${other.id} and ${p.id} are both for ${p.protocol}: name one per protocol`);
      if (!units.some((u) => u.protocol === p.protocol)) throw new StationError('CONFIG_INVALID', `profile ${p.id} is for ${p.protocol} units and the plan has none`);
      chosen.set(p.protocol, p);
    }
    const out: Partial<Record<ProtocolId, ProductProfile>> = {};
    for (const protocol of new Set(units.map((u) => u.protocol))) {
      out[protocol] = effectiveProfile({
        profile: chosen.get(protocol) ?? defaultProfile(protocol),
        overrides: jsonOnly(this.opts.protocolOptions?.[protocol]),
        stationTimers: { connectTimeoutMs: this.opts.connectTimeoutMs, rebootTimeoutMs: this.opts.rebootTimeoutMs },
      });
    }
    return out;
  }

  /** A journaled batch's profile for a protocol (older batches have none: build it as a new batch would). */
  private profileFor(plan: Plan, protocol: ProtocolId): ProductProfile {
    return (
      plan.profiles?.[protocol] ??
      effectiveProfile({ profile: defaultProfile(protocol), overrides: jsonOnly(this.opts.protocolOptions?.[protocol]), stationTimers: { connectTimeoutMs: this.opts.connectTimeoutMs, rebootTimeoutMs: this.opts.rebootTimeoutMs } })
    );
  }

  private newRun(batch: BatchView, jobs: JobView[], image: FirmwareImage, batchTransports: Partial<Record<TransportKind, Transport>> = {}): BatchRun {
    const plan = batch.plan;
    // Per-resource caps: a BLE adapter has connection slots, everything else is one job per port,
    // unless its transport says otherwise (e.g. a broker's download bandwidth).
    const capOf = (r: string): number => {
      if (r.startsWith('ble:')) return plan.concurrency.perBleAdapter;
      for (const t of Object.values(this.transports)) {
        const c = t?.capacityOf?.(r);
        if (c !== undefined && c !== 1) return c;
      }
      return 1;
    };
    const scheduler = new Scheduler(plan.concurrency.global, capOf);
    const retry = retryPolicy(plan.retry);
    const line = this.line;
    return new BatchRun(batch, jobs, {
      journal: this.journal,
      dataDir: this.opts.dataDir,
      scheduler,
      preflight: line?.hasPreflight ? (job) => line.preflight(job, batch) : undefined,
      jobDeps: (job, sink, decision) => {
        // A sim knob this protocol's virtual device lacks fails the unit instead of acting as accept.
        const simProblem = job.unit.transport === 'sim' ? simBehaviourProblem(job.unit) : null;
        if (simProblem) throw new StationError('CONFIG_INVALID', simProblem, { unitId: job.unit.unitId, retryable: false });
        const transport = batchTransports[job.unit.transport] ?? this.transports[job.unit.transport];
        if (!transport) throw new StationError('TRANSPORT_NOT_FOUND', `the ${job.unit.transport} transport is not available on this station`, { retryable: false });
        // The journaled effective profile drives every attempt (resume and retry included);
        // options this station was started with (`resume --opt`) still win.
        const profile = this.profileFor(plan, job.unit.protocol);
        const chosen = decision ? mesChoice(this.packages, (id) => this.profiles.get(id) ?? this.opts.profiles?.find((p) => p.id === id), job, decision, image) : { image, options: {} };
        return {
          image: chosen.image,
          plan,
          retry,
          transport,
          driver: getDriver(job.unit.protocol),
          scheduler,
          clock: this.clock,
          // MES-chosen profile options (issue 11) win over the batch profile for that unit.
          // The plan's limits go into the options of drivers whose device enforces them (issue 9 §8).
          protocolOptions: applyDriverPolicy(getDriver(job.unit.protocol), { ...profile.options, ...this.opts.protocolOptions?.[job.unit.protocol], ...chosen.options }, plan.policy),
          sink,
          connectTimeoutMs: profile.timers?.connectTimeoutMs ?? this.opts.connectTimeoutMs,
          rebootTimeoutMs: profile.timers?.rebootTimeoutMs ?? this.opts.rebootTimeoutMs,
          limits: profile.limits,
          policyChecks: policyChecksOf(job.unit.protocol, { ...profile.options, ...this.opts.protocolOptions?.[job.unit.protocol] }),
        };
      },
    });
  }
}

/**
 * Issue 9 §8: a plan limit that a unit's protocol and profile cannot check refuses the batch —
 * never a silent pass.
 */
export function checkPoliciesCheckable(plan: Plan): void {
  const wants: { key: 'battery' | 'rssi'; what: string }[] = [];
  if (plan.policy.minBatteryPct !== undefined) wants.push({ key: 'battery', what: `minimum battery ${plan.policy.minBatteryPct} %` });
  if (plan.policy.minRssiDbm !== undefined) wants.push({ key: 'rssi', what: `minimum signal ${plan.policy.minRssiDbm} dBm` });
  for (const w of wants) {
    const blind = [...new Set(plan.units.map((u) => u.protocol))].filter((p) => {
      const c = policyChecksOf(p, plan.profiles?.[p]?.options ?? {});
      return !c[w.key] && !c.deviceEnforces?.[w.key];
    });
    if (blind.length) {
      const prof = blind.map((p) => `${p} (profile ${plan.profiles?.[p]?.id ?? `${p}-defaults`})`).join(', ');
      throw new StationError('POLICY_UNCHECKABLE', `the plan's ${w.what} cannot be checked on ${prof}: these units cannot report it. Remove the limit or use a profile that reads it.`);
    }
  }
}

/** Options as they can be journaled (functions such as test clocks stay in memory only). */
function jsonOnly(o: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o ?? {})) if (typeof v !== 'function' && v !== undefined) out[k] = v instanceof RegExp ? v.source : v;
  return out;
}

/** The image and protocol options an MES pre-flight chose for one unit (package and profile by id). */
function mesChoice(
  packages: Map<string, LoadedPackage>,
  profileById: (id: string) => { protocol: ProtocolId; options: Record<string, unknown> } | undefined,
  job: JobView,
  d: PreflightDecision,
  batchImage: FirmwareImage,
): { image: FirmwareImage; options: Record<string, unknown> } {
  let image = batchImage;
  if (d.packageId) {
    const pkg = packages.get(d.packageId);
    if (!pkg) throw new StationError('CONFIG_INVALID', `the MES chose package ${d.packageId}, which is not loaded on this station`, { unitId: job.unit.unitId, retryable: false });
    image = pkg.images.find((i) => i.info.component === batchImage.info.component) ?? pkg.images[0]!;
    job.totalBytes = image.info.sizeBytes;
    job.sent = { crc32: image.info.crc32, md5: image.info.md5 };
  }
  let options: Record<string, unknown> = {};
  if (d.profileId) {
    const profile = profileById(d.profileId);
    if (!profile) throw new StationError('CONFIG_INVALID', `the MES chose product profile ${d.profileId}, which this station does not have`, { unitId: job.unit.unitId, retryable: false });
    if (profile.protocol !== job.unit.protocol) throw new StationError('CONFIG_INVALID', `the MES chose product profile ${d.profileId} (${profile.protocol}) for a ${job.unit.protocol} unit`, { unitId: job.unit.unitId, retryable: false });
    options = { ...profile.options };
  }
  return { image, options };
}

/** Allow/deny lists match a unit id, serial number or address; deny wins. Returns a skip reason or null. */
export function listDecision(unit: UnitRef, plan: Pick<Plan, 'allow' | 'deny'>): string | null {
  const keys = [unit.unitId, unit.address, unit.serialNumber].filter((k): k is string => !!k);
  if (plan.deny?.some((d) => keys.includes(d))) return 'on the deny list';
  if (plan.allow && plan.allow.length > 0 && !plan.allow.some((a) => keys.includes(a))) return 'not on the allow list';
  return null;
}

/** A reader takes the lock only when the folder is free and writable; otherwise it reads without it. */
function readerLock(dataDir: string): StationLock | null {
  try {
    return tryLock(dataDir, 'read');
  } catch {
    return null;
  }
}

function newBatchId(): string {
  const d = new Date();
  const stamp = d.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return `B${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}
