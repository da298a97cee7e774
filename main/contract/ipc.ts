/**
 * The typed API between the renderer and the station: one method per command, shared by the
 * Electron preload (IPC channel `station:METHOD`), the WebSocket server of `flashline serve` and
 * the renderer's bridge. Plain data only (structured clone and JSON). Every call resolves to a
 * Result; nothing throws across the boundary.
 */
import type { BatchEvent, BatchView, ErrorView, JobView, Lang, PackageInfo, Plan, ProductProfile, ProtocolId, ResultCode, SimBehaviour, TraceLine, TransitionView, UnitRef } from './dto.js';

export type Result<T> = { ok: true; value: T } | { ok: false; error: ErrorView };

export type ReportFormat = 'csv' | 'json' | 'html' | 'pdf';

export interface StationInfo {
  stationId: string;
  operator: string;
  language: Lang;
  /** True in `flashline serve` (browser mode), false in the desktop app. */
  browserMode: boolean;
  protocols: ProtocolId[];
  /** Protocols that have virtual units on this station (sim targets). */
  simProtocols: ProtocolId[];
  simBehaviours: SimBehaviour[];
  resultText: Record<ResultCode, { en: string; 'zh-CN': string }>;
  interruptedBatchIds: string[];
}

export interface StationSettingsView {
  stationId: string;
  operator: string;
  language: Lang;
  bleAdapterLimit: number;
  globalConcurrency: number;
  serveport: number;
}

export interface ScanResult {
  serial: { path: string; manufacturer?: string; serialNumber?: string }[];
  ble: { state: string; reason?: string };
}

export interface ExportedReport {
  fileName: string;
  mime: string;
  /** The report itself (browser mode: the renderer offers it as a download). */
  content?: string;
  /** Desktop: where the save dialog wrote it; null when the operator cancelled the dialog. */
  savedPath?: string | null;
}

export interface PlanInput {
  packageId: string;
  units: UnitRef[];
  component?: string;
  plan?: Partial<Omit<Plan, 'packageId' | 'units'>>;
  /** Product profiles to use, by id (at most one per protocol; issue 9 §9). */
  profileIds?: string[];
}

/** The RMA form (issue 4 §4): one unit on one serial port, a package already imported as the golden image. */
export interface RmaRequest {
  /** Serial port path; typed by the technician or picked from the scan (PTYs are never listed). */
  port: string;
  baudRate?: number;
  packageId: string;
  /** Required: the RMA ticket number every record of this recovery is filed under. */
  ticket: string;
  technician: string;
  /** Skip the probe and speak this protocol (per-port override). */
  protocol?: ProtocolId;
}

export type RmaStepName = 'probe' | 'identify' | 'flash' | 'verify' | 'journal';

export interface RmaStepView {
  seq: number;
  /** ms since the recovery started. */
  atMs: number;
  step: RmaStepName;
  status: 'start' | 'progress' | 'ok' | 'failed';
  text: string;
}

export interface RmaRunView {
  recoveryId: string;
  ticket: string;
  technician: string;
  port: string;
  packageId: string;
  state: 'running' | 'passed' | 'failed';
  steps: RmaStepView[];
  /** Known once the flash step has created the one-unit batch. */
  batchId?: string;
  jobId?: string;
  probe?: { protocol: ProtocolId | null; evidence: string; version?: string; bootloaderOnly?: boolean };
  /** The journaled job at the end (result code, versions, hashes). */
  job?: JobView;
  /** Why it failed before or outside the job (e.g. RMA_NO_PATH). */
  error?: ErrorView;
}

export interface RmaTraceEntryView {
  tMs: number;
  dir: 'tx' | 'rx' | 'note';
  hex?: string;
  text?: string;
}

export interface RmaDetailView {
  job: JobView;
  ticket: string;
  technician: string;
  probe: { protocol: ProtocolId | null; evidence: string; version?: string; bootloaderOnly?: boolean } | null;
  /** Every byte of every link the recovery opened, in order. */
  rawTrace: RmaTraceEntryView[];
  /** The unit's row of the batch report (hash-chained), as QA exports it. */
  reportRow: Record<string, unknown>;
}

/** An engineer's mapping of a product/recipe barcode to a package (and product profile) (issue 13 §3). */
export interface ScanMapping {
  barcode: string;
  packageId: string;
  /** A product profile id (stations with product profiles); absent = the package alone. */
  profileId?: string;
}

export type Role = 'operator' | 'engineer';

export interface RoleView {
  role: Role;
  /** False until an engineer PIN/password is set: then engineer actions are open (first set-up). */
  secretSet: boolean;
  /** Stop-the-line threshold the engineer set (failures in a row, 0 = off). */
  stopAfterFailures: number;
  /** After unlock (or setting the secret): the session token to send as `engineerToken` on engineer calls. */
  token?: string;
}

/** One line of the audit log (engineer actions, batch start/cancel), as the journal keeps it. */
export interface AuditEntryView {
  seq: number;
  at: string;
  role: Role;
  actor: string;
  action: string;
  /** What it was about (batch id, package id, setting names…). */
  target?: string;
  detail?: string;
}

/** method name → request and response. The IPC channel is `station:` + the method name. */
export interface StationMethods {
  stationInfo: { req: Record<string, never>; res: StationInfo };
  /** `protocol` (optional): texts fitted to that protocol's link (issue 9 §1). */
  errorTexts: { req: { codes: string[]; protocol?: ProtocolId }; res: Record<string, { en: string; 'zh-CN': string }> };
  importPackage: { req: { fileName: string; dataBase64: string; version?: string; /** The operator confirmed a version warning (PACKAGE_VERSION_CONFLICT / PACKAGE_SAME_IMAGE). */ confirm?: boolean }; res: PackageInfo };
  listPackages: { req: Record<string, never>; res: PackageInfo[] };
  resolveTargets: { req: { targets: string[] }; res: UnitRef[] };
  scanUnits: { req: Record<string, never>; res: ScanResult };
  createBatch: { req: PlanInput; res: BatchView };
  startBatch: { req: { batchId: string }; res: null };
  pauseBatch: { req: { batchId: string }; res: null };
  resumeBatch: { req: { batchId: string }; res: null };
  cancelBatch: { req: { batchId: string }; res: null };
  cancelJob: { req: { batchId: string; jobId: string }; res: boolean };
  retryJob: { req: { batchId: string; jobId: string }; res: boolean };
  listBatches: { req: { limit?: number }; res: BatchView[] };
  getBatch: { req: { batchId: string }; res: { batch: BatchView; jobs: JobView[] } };
  jobDetail: { req: { jobId: string }; res: { transitions: TransitionView[]; trace: { attempt: number; lines: TraceLine[] }[] } };
  searchJobs: { req: { q: string }; res: JobView[] };
  exportReport: { req: { batchId: string; format: ReportFormat; lang?: Lang }; res: ExportedReport };
  getSettings: { req: Record<string, never>; res: StationSettingsView };
  setSettings: { req: Partial<StationSettingsView>; res: StationSettingsView };
  /** Starts an RMA recovery and answers at once (state `running`); follow it with `rmaStatus` and, once it has a batchId, the batch events. */
  recoverUnit: { req: RmaRequest; res: RmaRunView };
  rmaStatus: { req: { recoveryId: string }; res: RmaRunView };
  /** Past RMA jobs, newest first: exact ticket plus tickets containing the text; all recent ones without a ticket. */
  listRmaJobs: { req: { ticket?: string }; res: JobView[] };
  /** What the journal keeps for one RMA job: ticket, technician, probe, the full raw trace and the report row. */
  rmaDetail: { req: { jobId: string }; res: RmaDetailView };
  /** Barcode → package/profile mappings for the scan box (issue 13 §3). */
  listScanMappings: { req: Record<string, never>; res: ScanMapping[] };
  /** Engineer only: replace the mappings. */
  setScanMappings: { req: { mappings: ScanMapping[] }; res: ScanMapping[] };
  /** Who this client acts as (issue 13 §4). Operator by default; engineer after `unlockEngineer`. */
  roleStatus: { req: Record<string, never>; res: RoleView };
  /** Engineer PIN/password → engineer role for this client (until `lockEngineer`). */
  unlockEngineer: { req: { secret: string }; res: RoleView };
  lockEngineer: { req: Record<string, never>; res: RoleView };
  /** Engineer only (or the first set-up): set the PIN/password (stored as a scrypt hash). */
  setEngineerSecret: { req: { secret: string }; res: RoleView };
  /** Engineer only: the stop-the-line threshold every new batch gets. */
  setStopAfterFailures: { req: { failures: number }; res: RoleView };
  /** The audit log, newest first. */
  listAudit: { req: { limit?: number }; res: AuditEntryView[] };
  /** Built-in and user product profiles (issue 9 §9). */
  listProfiles: { req: Record<string, never>; res: ProductProfile[] };
  /** Engineer only: create or replace a user profile (checked against the protocol's option schema). */
  saveProfile: { req: { profile: ProductProfile }; res: ProductProfile };
  /** Engineer only: delete a user profile (built-in ones cannot be deleted). */
  deleteProfile: { req: { id: string }; res: { deleted: boolean } };
}

export type StationMethod = keyof StationMethods;
export type Req<M extends StationMethod> = StationMethods[M]['req'];
export type Res<M extends StationMethod> = StationMethods[M]['res'];

/** Every method, in one list (the preload and the WebSocket client expose exactly these). */
export const STATION_METHODS = [
  'stationInfo', 'errorTexts', 'importPackage', 'listPackages', 'resolveTargets', 'scanUnits',
  'createBatch', 'startBatch', 'pauseBatch', 'resumeBatch', 'cancelBatch', 'cancelJob', 'retryJob',
  'listBatches', 'getBatch', 'jobDetail', 'searchJobs', 'exportReport', 'getSettings', 'setSettings',
  'recoverUnit', 'rmaStatus', 'listRmaJobs', 'rmaDetail',
  'listScanMappings', 'setScanMappings', 'roleStatus', 'unlockEngineer', 'lockEngineer', 'setEngineerSecret', 'setStopAfterFailures', 'listAudit',
  'listProfiles', 'saveProfile', 'deleteProfile',
] as const satisfies readonly StationMethod[];

// Compile-time check that the list above names every method (a missing one makes this `never`).
type Missing = Exclude<StationMethod, (typeof STATION_METHODS)[number]>;
export const ALL_METHODS_LISTED: [Missing] extends [never] ? true : never = true;

export const IPC_PREFIX = 'station:';
/** Pushed from the station: batch events for a watched batch. */
export const IPC_BATCH_EVENT = 'station:batch-event';
export const IPC_WATCH = 'station:watch';
export const IPC_UNWATCH = 'station:unwatch';

/** What the renderer sees as `window.station` (preload) or gets from the WebSocket client. */
export type StationBridge = { [M in StationMethod]: (req: Req<M>) => Promise<Result<Res<M>>> } & {
  /** Snapshot then deltas of one batch; returns the unsubscribe. */
  onBatchEvent(batchId: string, fn: (e: BatchEvent) => void): () => void;
};

/** WebSocket frames (browser mode). */
export type WsClientFrame =
  | { t: 'call'; id: number; method: StationMethod; req: unknown }
  | { t: 'watch'; batchId: string }
  | { t: 'unwatch'; batchId: string };
export type WsServerFrame =
  | { t: 'result'; id: number; result: Result<unknown> }
  | { t: 'event'; event: BatchEvent }
  /** A watch the station cannot serve (unknown batch, bad id): the client is told instead of left waiting. */
  | { t: 'watchError'; batchId: string; error: ErrorView };
