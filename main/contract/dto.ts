/**
 * Plain data shared by the engine, the CLI, the Electron shell and the renderer.
 * Types only: everything here survives structured clone and JSON (no classes, no Buffer).
 */

/** Protocol ids (DESIGN.md). Also the folder names under engine/protocol/. */
export type ProtocolId = 'llsync-ota' | 'ymodem' | 'quecthing-sota' | 'mqtt-ota-tencent' | 'mqtt-ota-aliyun';
export const PROTOCOL_IDS: readonly ProtocolId[] = ['llsync-ota', 'ymodem', 'quecthing-sota', 'mqtt-ota-tencent', 'mqtt-ota-aliyun'];

/** How bytes reach a unit. */
export type TransportKind = 'serial' | 'ble' | 'net' | 'sim';

/** A job's states (DESIGN.md "A job's life"), plus `backoff` between attempts and `interrupted` after a station crash. */
export type JobState =
  | 'queued'
  | 'connecting'
  | 'negotiating'
  | 'transferring'
  | 'verifying'
  | 'activating'
  | 'confirming'
  | 'backoff'
  | 'interrupted'
  | 'passed'
  | 'failed'
  | 'cancelled'
  | 'skipped';

export const FINAL_STATES: readonly JobState[] = ['passed', 'failed', 'cancelled', 'skipped'];
export const ACTIVE_STATES: readonly JobState[] = ['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming'];

/** Station-wide result codes (DESIGN.md). Protocol codes map onto these; the raw code is kept beside. */
export type ResultCode =
  | 'ok'
  | 'timeout'
  | 'disconnected'
  | 'crc_mismatch'
  | 'md5_mismatch'
  | 'version_rejected'
  | 'version_mismatch'
  | 'file_invalid'
  | 'signature_invalid'
  | 'no_space'
  | 'policy_blocked'
  | 'device_error'
  | 'cancelled'
  | 'station_error';

export const RESULT_CODES: readonly ResultCode[] = [
  'ok', 'timeout', 'disconnected', 'crc_mismatch', 'md5_mismatch', 'version_rejected', 'version_mismatch',
  'file_invalid', 'signature_invalid', 'no_space', 'policy_blocked', 'device_error', 'cancelled', 'station_error',
];

export type Lang = 'en' | 'zh-CN';

/** A view of one error an operator can act on. */
export interface ErrorView {
  code: string; // StationErrorCode
  result: ResultCode;
  message: string; // technical detail (English)
  operatorText: { en: string; 'zh-CN': string };
  deviceCode?: string;
  retryable: boolean;
}

/** One firmware component inside a package. */
export interface PackageComponentInfo {
  component: string;
  version: string;
  kind: 'full' | 'diff';
  sourceVersion?: string;
  fileName: string;
  sizeBytes: number;
  crc32: string; // 8 lowercase hex digits (zlib CRC-32)
  md5: string;
  sha256: string;
  /** Base load address for HEX images (lowest address), when known. */
  baseAddress?: number;
}

export interface PackageInfo {
  id: string; // sha256 of the primary image, first 16 hex digits + component
  sourcePath: string;
  format: 'bin' | 'hex' | 'zip';
  components: PackageComponentInfo[];
  signature: 'none' | 'valid' | 'invalid';
  signer?: string;
  loadedAt: string; // ISO time
}

/** A transport address + protocol: what a CLI target string resolves to. */
export interface UnitRef {
  unitId: string; // stable id: e.g. "serial:/dev/ttyUSB0", "sim:ymodem:3"
  transport: TransportKind;
  protocol: ProtocolId;
  address: string; // port path, BLE id, PRODUCT/DEVICE, sim index
  baudRate?: number;
  serialNumber?: string;
  name?: string;
  /** Free-form sim options (behaviour, link model) for sim units. */
  sim?: SimUnitOptions;
}

export type SimBehaviour =
  | 'accept'
  | 'refuse_version'
  | 'low_battery'
  | 'crc_failure'
  | 'crc_failure_once'
  | 'slow_flash'
  | 'reboot_timeout'
  | 'brick'
  | 'disconnect'
  // QuecThing SOTA MCU knobs (issue 4 §2); other protocols' virtual devices fail a unit asked for them.
  | 'read_outside'
  | 'stop_reading'
  | 'wrong_version'
  | 'reannounce_old'
  | 'garbage'
  | 'skip_update3'
  // issue 9: vendor device profiles. ymodem: ST's AN4657 IAP loader as shipped / with the size-check fix.
  | 'st_iap'
  | 'st_iap_fixed'
  // quecthing-sota: Quectel's QthTools MCU simulator (announce after register, 200 ms silence, …) / only its late announcement.
  | 'qthtools'
  | 'announce_after_register'
  // Networked units (issue 9 §10): the vendors' samples as device profiles, and line faults.
  | 'tencent_sample'
  | 'aliyun_example'
  | 'power_cut'
  | 'power_cut_at_end'
  | 'wrong_secret'
  | 'psk_wrong_key';

export interface SimLinkModel {
  bytesPerSecond: number; // both directions, each direction independently
  latencyMs: number;
  mtuBytes: number;
  lossRate: number; // probability a host→device chunk is dropped, 0..1
  disconnectAtOffset?: number; // device drops the link once it has stored this many bytes (first attempt only)
}

export interface SimUnitOptions {
  behaviour: SimBehaviour;
  initialVersion: string;
  serialNumber?: string;
  link?: Partial<SimLinkModel>;
  batteryPct?: number;
  /**
   * Which virtual device this is: units with the same id but another instance are different
   * devices with their own memory (the UI gives each batch fresh ones unless asked to keep them).
   * Absent: the device is the unit id's, shared by every batch (the CLI's default).
   */
  instance?: string;
}

export interface PlanPolicy {
  minBatteryPct?: number;
  minRssiDbm?: number;
}

export interface RetryPolicyView {
  maxAttempts: number; // total attempts including the first
  backoffMs: number; // first backoff, doubled each time
  backoffMaxMs: number;
}

export interface StopTheLine {
  consecutiveFailures?: number; // pause the batch after K failures in a row
  failureRate?: number; // pause when failed/finished exceeds this (0..1) ...
  minFinished?: number; // ... once at least this many units have finished
  /** Pause when one failure code accounts for more than this share (0..1) of the finished units (issue 13 §4). */
  sameFailureShare?: number;
}

export interface Plan {
  packageId: string;
  /** Target version for bare .bin images (zip/hex manifests carry their own). */
  units: UnitRef[];
  allow?: string[]; // unit ids, serial numbers or addresses; empty/undefined = all
  deny?: string[]; // deny wins over allow
  versionGate: { skipIfAtTarget: boolean };
  policy: PlanPolicy;
  retry: RetryPolicyView;
  concurrency: { global: number; perBleAdapter: number };
  stopTheLine?: StopTheLine;
  /**
   * The batch's effective product profile per protocol (issue 9 §9): every option written out and
   * every timer set. Journaled with the plan; resume and operator retry run with exactly these.
   */
  profiles?: Partial<Record<ProtocolId, ProductProfile>>;
}

export interface HashView {
  crc32?: string;
  md5?: string;
  /**
   * What a pass rests on: each entry is something the *device* confirmed (issue 9 §1).
   * `device-crc32` / `device-md5`: the device reported that hash, or checked it against one we sent;
   * `version-after-reboot`: the version read back after reboot equals the target;
   * `loader-verdict`: a bootloader printed its success verdict; `size`: the device reported the size it stored;
   * `device-done`: the device reported "done" (policy `done-is-success`).
   * A hash field without its matching entry is not shown as confirmed (reports say `unconfirmed`).
   */
  confirmedBy?: ConfirmedBy[];
}

export type ConfirmedBy = 'device-crc32' | 'device-md5' | 'version-after-reboot' | 'loader-verdict' | 'size' | 'device-done';

/** One failed attempt's cause, in order (issue 9 §1: keep the first real cause and the list). */
export interface AttemptCause {
  attempt: number;
  code: string; // StationErrorCode
  result: ResultCode;
}

/** One job (one unit in one batch), as shown and as journaled. */
export interface JobView {
  jobId: string;
  batchId: string;
  unit: UnitRef;
  state: JobState;
  progressBytes: number; // bytes the device acknowledged
  totalBytes: number;
  attempts: number;
  result?: ResultCode;
  errorCode?: string; // StationErrorCode
  deviceCode?: string;
  message?: string;
  versionBefore?: string;
  versionAfter?: string;
  sent: HashView; // what the station sent
  confirmed: HashView; // what the device confirmed
  startedAt?: string;
  endedAt?: string;
  /** Payload bytes per second over the current attempt, for the grid. */
  rateBytesPerSec?: number;
  resumable: boolean;
  /** Causes of every failed attempt, first first (empty or absent when no attempt failed). */
  attemptCauses?: AttemptCause[];
  /** For a skipped unit: why (errorCode stays a code, e.g. VERSION_AT_TARGET). */
  skipReason?: string;
  /** RMA workflow (issue 4): the ticket this job recovered a unit under, when it was an RMA job. */
  rmaTicket?: string;
  /** RMA workflow: the technician who ran the recovery. */
  technician?: string;
  /** RMA workflow: how many raw protocol trace entries the journal keeps in full for this job. */
  rmaTraceEntries?: number;
}

export type BatchState = 'created' | 'running' | 'paused' | 'finished' | 'cancelled' | 'interrupted';

export interface BatchView {
  batchId: string;
  state: BatchState;
  operator: string;
  stationId: string;
  packageInfo: PackageInfo;
  plan: Plan;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  pausedReason?: string;
  counts: BatchCounts;
}

export interface BatchCounts {
  total: number;
  queued: number;
  running: number;
  passed: number;
  failed: number;
  skipped: number;
  cancelled: number;
  interrupted: number;
}

/** Events: a snapshot first, then revisioned deltas (coalesced to ≤ 10/s per batch). */
export type BatchEvent =
  | { type: 'snapshot'; batchId: string; rev: number; batch: BatchView; jobs: JobView[] }
  | { type: 'delta'; batchId: string; rev: number; batch?: BatchView; jobs: JobView[] };

/** The `--json` summary line of `flashline flash`. */
export interface FlashSummary {
  batchId: string;
  /** The batch stopped on its own at a resumable point (DISK_FULL, DATA_DIR_*): CLI exit 2. */
  stoppedBy?: { code: string; message: string };
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  cancelled: number;
  durationMs: number;
  units: {
    unit: string;
    transport: TransportKind;
    protocol: ProtocolId;
    result: ResultCode | 'skipped' | 'interrupted';
    code: string | null;
    bytes: number;
    crc32: string | null;
    md5: string | null;
    sha256: string | null;
    durationMs: number;
    attempts: number;
    /** What the pass rests on (HashView.confirmedBy), empty when nothing was confirmed. */
    confirmedBy?: ConfirmedBy[];
    /** "attempt 1: X; 2–3: Y" — every failed attempt's cause. */
    attemptCauses?: string;
    /** Why a skipped unit was skipped (code stays a code). */
    reason?: string;
  }[];
}

/** One state transition as journaled. */
export interface TransitionView {
  jobId: string;
  seq: number;
  at: string;
  from: JobState;
  to: JobState;
  attempt: number;
  progressBytes: number;
  result?: ResultCode;
  errorCode?: string;
  message?: string;
}

/** One line of a unit's protocol trace. */
export interface TraceLine {
  tMs: number; // ms since the attempt started
  dir: 'tx' | 'rx' | 'note';
  hex?: string;
  text?: string;
}

/**
 * A product profile (issue 9 §9): everything one product needs. Built-in profiles ship for the
 * known device families; user profiles are saved in the station. A batch journals its effective
 * profile so resume and retry use exactly the same settings.
 */
export interface ProductProfile {
  /** Stable id, e.g. `st-iap-ymodem`, `tencent-c-sdk`, `aliyun-iotkit-3`, `quectel-mcu`, `llsync-sdk`. */
  id: string;
  name: string;
  builtIn: boolean;
  protocol: ProtocolId;
  /** Protocol options, checked against the protocol's option schema (unknown keys refused). */
  options: Record<string, unknown>;
  /** Component to flash when the plan names none. */
  component?: string;
  /** How a unit passes: after a version read back (`version-after-reboot`), or when the device says done. */
  successPolicy?: 'version-after-reboot' | 'done-is-success' | 'loader-verdict';
  /** Timers in ms; each one is range-checked. */
  timers?: { connectTimeoutMs?: number; rebootTimeoutMs?: number; stallTimeoutMs?: number; announceWindowMs?: number };
  /** Limits the station checks before sending, e.g. the flash size of a loader. */
  limits?: { maxImageBytes?: number; maxFileNameChars?: number };
  description?: string;
}

/** One option of a protocol's schema, as `flashline options PROTOCOL` prints it. */
export interface OptionSpec {
  key: string;
  type: 'number' | 'string' | 'boolean' | 'enum' | 'string|null' | 'number|null' | 'object';
  default: unknown;
  unit?: string;
  min?: number;
  max?: number;
  /** For `enum`: the allowed values; for `number`: the only allowed numbers (as text). */
  values?: readonly string[];
  meaning: string;
}

/** One networked unit the station's local cloud has seen (issue 9 §4: the roster). */
export interface CloudUnitView {
  /** The unit id a `mqtt:PRODUCT/DEVICE:PROTOCOL` target gives it. */
  unitId: string;
  protocol: ProtocolId;
  dialect: 'tencent' | 'aliyun';
  product: string;
  device: string;
  online: boolean;
  /** The version it last reported (absent until it reports). */
  version?: string;
  reportedAt?: string;
  firstSeenAt: string;
  lastSeenAt: string;
  /** Why its last CONNECT / TLS-PSK handshake was refused, when it was. */
  authFailure?: string;
}

/** The local cloud (broker, firmware server, DNS) and its roster. */
export interface CloudView {
  running: boolean;
  mqttUrl?: string;
  mqttPort?: number;
  pskPort?: number | null;
  httpPort?: number;
  dnsPort?: number | null;
  /** What firmware URLs start with, e.g. `http://192.168.10.2/`. */
  urlBase?: string;
  /** Why the cloud is not running, when it is not. */
  error?: string;
  units: CloudUnitView[];
}
