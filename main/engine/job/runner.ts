/**
 * Runs one job: attempts through connect → negotiate (version gate, policy) → transfer →
 * verify → activate → confirm, with classified retries and backoff outside the scheduler's
 * slots. Every state change goes to the sink (journal first, then events); the resume point
 * always comes from the device, never from the station's memory.
 * Must not import transport implementations, virtual units, the journal (the sink) or electron.
 */
import type { JobState, JobView, Plan } from '../../contract/dto.js';
import type { Clock } from '../clock.js';
import { StationError, toStationError } from '../errors.js';
import type { FirmwareImage, ProtocolDriver, ProtocolSession } from '../protocol/types.js';
import type { Scheduler } from '../pool/scheduler.js';
import type { Link, Transport } from '../transport/types.js';
import { canTransition } from './machine.js';
import { decideRetry, type RetryPolicy } from './retry-policy.js';
import type { TraceLine } from '../../contract/dto.js';

export interface JobSink {
  /** Journal the job's new state (synchronously, before anything is shown), then publish it. */
  transition(job: JobView, from: JobState): void;
  /** Acknowledged bytes moved (throttled by the sink). */
  progress(job: JobView): void;
  attemptStarted(job: JobView, resumeFromBytes: number): void;
  attemptEnded(job: JobView, stage: string, err?: StationError): void;
  trace(job: JobView, lines: TraceLine[]): void;
}

export interface JobDeps {
  image: FirmwareImage;
  plan: Plan;
  retry: RetryPolicy;
  transport: Transport;
  driver: ProtocolDriver;
  scheduler: Scheduler;
  clock: Clock;
  /** Per-product protocol options. */
  protocolOptions: Record<string, unknown>;
  sink: JobSink;
  connectTimeoutMs?: number;
  rebootTimeoutMs?: number;
}

/** Why an abort happened: the operator cancelled, or the station is shutting down (→ interrupted). */
export type AbortReason = 'cancel' | 'shutdown';

export class JobRunner {
  private readonly controller = new AbortController();
  private abortReason: AbortReason = 'cancel';
  private stageFailures: Record<string, number> = {};

  constructor(readonly job: JobView, private readonly deps: JobDeps) {}

  abort(reason: AbortReason): void {
    this.abortReason = reason;
    this.controller.abort(new StationError('JOB_CANCELLED', reason === 'cancel' ? 'cancelled by the operator' : 'station shutting down'));
  }

  private move(to: JobState, patch: Partial<JobView> = {}): void {
    const from = this.job.state;
    if (from === to && Object.keys(patch).length === 0) return;
    if (from !== to && !canTransition(from, to)) throw new StationError('INTERNAL', `illegal transition ${from} → ${to}`);
    Object.assign(this.job, patch);
    this.job.state = to;
    this.deps.sink.transition(this.job, from);
  }

  async run(): Promise<void> {
    const signal = this.controller.signal;
    const { scheduler, transport } = this.deps;
    const resources = [transport.resourceOf(this.job.unit)];
    for (;;) {
      let release: (() => void) | null = null;
      try {
        release = await scheduler.acquire({ resources }, signal);
      } catch {
        return this.finishAborted();
      }
      let outcome: 'done' | { retryInMs: number };
      try {
        outcome = await this.attempt(signal);
      } finally {
        release();
      }
      if (outcome === 'done') return;
      // Backoff outside the slot: another unit may use the port/adapter meanwhile.
      try {
        await this.deps.clock.sleep(outcome.retryInMs, signal);
      } catch {
        return this.finishAborted();
      }
    }
  }

  private finishAborted(): void {
    if (this.job.state === 'passed' || this.job.state === 'failed' || this.job.state === 'cancelled' || this.job.state === 'skipped') return;
    if (this.abortReason === 'shutdown') {
      this.move('interrupted', { errorCode: 'STATION_INTERRUPTED', message: 'station stopped during the job' });
    } else {
      this.move('cancelled', { result: 'cancelled', errorCode: 'JOB_CANCELLED', message: 'cancelled by the operator', endedAt: new Date().toISOString() });
    }
  }

  /** One attempt. Returns 'done' when the job reached a final state, else when to retry. */
  private async attempt(signal: AbortSignal): Promise<'done' | { retryInMs: number }> {
    const { image, plan, driver, transport, clock, sink } = this.deps;
    const job = this.job;
    job.attempts += 1;
    job.startedAt ??= new Date().toISOString();
    job.errorCode = undefined;
    job.message = undefined;
    job.deviceCode = undefined;
    let link: Link | null = null;
    let session: ProtocolSession | null = null;
    let stage = 'connect';
    const attemptStart = clock.now();
    let resumeFrom = 0;
    try {
      this.move('connecting');
      sink.attemptStarted(job, job.progressBytes);
      link = await openWithDeadline(transport, job.unit, signal, this.deps.connectTimeoutMs ?? 15_000, 'opening the link');
      link.trace.reset();
      link.trace.note(`attempt ${job.attempts}: ${job.unit.transport}:${job.unit.address} ${driver.id}`);
      const openedLink = link;
      session = driver.createSession({
        link,
        image,
        unit: job.unit,
        options: this.deps.protocolOptions,
        clock,
        log: (text) => openedLink.trace.note(text),
      });

      this.move('negotiating');
      const id = await session.identify(signal);
      if (id.version !== undefined) job.versionBefore ??= id.version;
      if (id.version !== undefined && id.version === image.info.version && job.versionBefore !== undefined && job.versionBefore !== id.version) {
        // An earlier attempt of this job (before a crash or a lost link) already installed the
        // image: the unit now boots the target, so only the confirmation is left.
        link.trace.note(`unit already runs ${id.version}, flashed by an earlier attempt: confirming only`);
        this.move('confirming');
        job.versionAfter = id.version;
        job.progressBytes = image.bytes.length;
        this.move('passed', { result: 'ok', endedAt: new Date().toISOString() });
        sink.attemptEnded(job, 'confirm');
        return 'done';
      }
      const gate = this.versionGate(id.version);
      if (gate) {
        this.move('skipped', { message: gate, endedAt: new Date().toISOString() });
        sink.attemptEnded(job, 'negotiate');
        return 'done';
      }
      if (plan.policy.minBatteryPct !== undefined && id.batteryPct !== undefined && id.batteryPct < plan.policy.minBatteryPct) {
        throw new StationError('DEVICE_LOW_BATTERY', `battery ${id.batteryPct} % below the plan's minimum ${plan.policy.minBatteryPct} %`);
      }
      if (plan.policy.minRssiDbm !== undefined && id.rssiDbm !== undefined && id.rssiDbm < plan.policy.minRssiDbm) {
        throw new StationError('POLICY_BLOCKED', `signal ${id.rssiDbm} dBm below the plan's minimum ${plan.policy.minRssiDbm} dBm`);
      }
      const neg = await session.negotiate(signal);
      resumeFrom = driver.resumable ? Math.min(neg.resumeAtBytes, image.bytes.length) : 0;
      if (resumeFrom > 0) link.trace.note(`device offers resume at ${resumeFrom}`);

      stage = 'transfer';
      this.move('transferring', { progressBytes: resumeFrom, resumable: driver.resumable });
      const t0 = clock.now();
      await session.transfer(resumeFrom, (acked) => {
        job.progressBytes = acked;
        const dt = clock.now() - t0;
        if (dt > 0) job.rateBytesPerSec = Math.round(((acked - resumeFrom) * 1000) / dt);
        sink.progress(job);
      }, signal);
      job.progressBytes = image.bytes.length;

      stage = 'verify';
      this.move('verifying');
      const confirmed = await session.verify(signal);
      job.confirmed = { ...job.confirmed, ...confirmed };
      if (confirmed.crc32 !== undefined && confirmed.crc32 !== job.sent.crc32) {
        throw new StationError('PROTOCOL_CRC_MISMATCH', `device CRC32 ${confirmed.crc32}, sent ${job.sent.crc32}`);
      }
      if (confirmed.md5 !== undefined && confirmed.md5 !== job.sent.md5) {
        throw new StationError('PROTOCOL_MD5_MISMATCH', `device MD5 ${confirmed.md5}, sent ${job.sent.md5}`);
      }

      this.move('activating');
      await session.activate(signal);

      this.move('confirming');
      // The device's own reboot time bounds the wait when it reports one (llsync-ota.md §7.7).
      const confirmMs = session.confirmTimeoutMs ?? this.deps.rebootTimeoutMs ?? 60_000;
      let confirmLink = link;
      if (driver.reconnectForConfirm) {
        await link.close();
        confirmLink = await this.reopenAfterReboot(signal, confirmMs);
        link = confirmLink;
      }
      const version = await withDeadline(session.confirm(confirmLink, signal), confirmMs, 'REBOOT_TIMEOUT', 'waiting for the unit to come back');
      if (version !== undefined) {
        job.versionAfter = version;
        if (version !== image.info.version) {
          throw new StationError('VERIFY_VERSION_MISMATCH', `unit reports ${version} after reboot, expected ${image.info.version}`, { retryable: false });
        }
      }
      this.move('passed', { result: 'ok', endedAt: new Date().toISOString(), rateBytesPerSec: rate(image.bytes.length - resumeFrom, clock.now() - attemptStart) });
      sink.attemptEnded(job, stage);
      return 'done';
    } catch (raw) {
      const err = toStationError(raw);
      if (signal.aborted) {
        sink.attemptEnded(job, stage, err);
        this.finishAborted();
        return 'done';
      }
      job.errorCode = err.code;
      job.message = err.message;
      job.deviceCode = err.detail.deviceCode;
      link?.trace.note(`error ${err.code}: ${err.message}`);
      sink.attemptEnded(job, stage, err);
      const failStage = stageOf(err, stage);
      this.stageFailures[failStage] = (this.stageFailures[failStage] ?? 0) + 1;
      const d = decideRetry(err, job.attempts, this.stageFailures, this.deps.retry);
      if (d.retry) {
        this.move('backoff', { result: undefined });
        return { retryInMs: d.delayMs };
      }
      this.move('failed', { result: err.result, endedAt: new Date().toISOString() });
      return 'done';
    } finally {
      if (link) {
        sink.trace(job, link.trace.tail());
        await link.close().catch(() => undefined);
      }
    }
  }

  /** Version gate (DESIGN.md negotiating). Returns a skip reason, or null to go on. */
  private versionGate(deviceVersion: string | undefined): string | null {
    const info = this.deps.image.info;
    if (deviceVersion === undefined) return null; // the unit cannot tell (e.g. bricked): flash it
    if (this.deps.plan.versionGate.skipIfAtTarget && deviceVersion === info.version) return `already at ${info.version}`;
    if (info.kind === 'diff' && deviceVersion !== info.sourceVersion) return `diff package needs ${info.sourceVersion}, unit has ${deviceVersion}`;
    return null;
  }

  private async reopenAfterReboot(signal: AbortSignal, timeoutMs: number): Promise<Link> {
    const deadline = this.deps.clock.now() + timeoutMs;
    let last: unknown;
    while (this.deps.clock.now() < deadline) {
      try {
        return await openWithDeadline(this.deps.transport, this.job.unit, signal, Math.max(1, deadline - this.deps.clock.now()), 'reconnecting');
      } catch (e) {
        if (signal.aborted) throw e;
        last = e;
        await this.deps.clock.sleep(250, signal);
      }
    }
    throw new StationError('REBOOT_TIMEOUT', 'the unit did not come back after reboot', {}, { cause: last });
  }
}

function stageOf(err: StationError, running: string): string {
  if (err.code === 'PROTOCOL_CRC_MISMATCH' || err.code === 'PROTOCOL_MD5_MISMATCH') return 'verify';
  if (running === 'connect') return 'connect';
  return running === 'verify' ? 'verify' : 'transfer';
}

function rate(bytes: number, ms: number): number | undefined {
  return ms > 0 ? Math.round((bytes * 1000) / ms) : undefined;
}

/**
 * Open a link with a deadline. A transport's open may finish after the deadline (its own
 * timeouts can add up past ours): such a late link is closed at once so it cannot hold a
 * connection slot nobody will release.
 */
async function openWithDeadline(transport: Transport, unit: JobView['unit'], signal: AbortSignal, ms: number, what: string): Promise<Link> {
  const opening = transport.open(unit, signal);
  try {
    return await withDeadline(opening, ms, 'TRANSPORT_TIMEOUT', what);
  } catch (e) {
    opening.then((late) => late.close().catch(() => undefined), () => undefined);
    throw e;
  }
}

/** Race a promise against a deadline; on expiry reject with the given code. */
export function withDeadline<T>(p: Promise<T>, ms: number, code: 'TRANSPORT_TIMEOUT' | 'REBOOT_TIMEOUT' | 'PROTOCOL_TIMEOUT', what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new StationError(code, `${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
