/**
 * Runs one job: attempts through connect → negotiate (version gate, policy) → transfer →
 * verify → activate → confirm (within the reboot window), with classified retries and backoff
 * outside the scheduler's slots. Keeps every failed attempt's cause and the first real one as
 * the unit's result. Every state change goes to the sink (journal first, then events); the
 * resume point always comes from the device, never from the station's memory.
 * Must not import transport implementations, virtual units, the journal (the sink) or electron.
 */
import type { AttemptCause, ConfirmedBy, JobState, JobView, Plan, ProductProfile } from '../../contract/dto.js';
import type { Clock } from '../clock.js';
import { StationError, toStationError } from '../errors.js';
import type { FirmwareImage, PolicyChecks, ProtocolDriver, ProtocolSession } from '../protocol/types.js';
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
  /** Link open deadline (the profile's connectTimeoutMs). */
  connectTimeoutMs?: number;
  /** The reboot window when the device announces none (the profile's rebootTimeoutMs). */
  rebootTimeoutMs?: number;
  /** The profile's limits, checked before anything is sent. */
  limits?: ProductProfile['limits'];
  /** Which plan policies this unit can be checked against (issue 9 §8); absent = assume the identity tells. */
  policyChecks?: PolicyChecks;
}

/** Used only when a runner is built without a profile (the engine always passes the profile's timers). */
export const FALLBACK_CONNECT_TIMEOUT_MS = 15_000;
export const FALLBACK_REBOOT_TIMEOUT_MS = 60_000;
/** Pause between two reads of an old version inside the reboot window. */
const CONFIRM_POLL_MS = 500;
/** A session's own confirm timer equals the window: give its specific error the first word. */
const CONFIRM_GRACE_MS = 1000;
/** Causes that are not the unit's: the station stopped or the operator cancelled. */
const NOT_A_CAUSE = new Set(['JOB_CANCELLED', 'STATION_INTERRUPTED']);
/** Trace lines journaled per attempt (the transport ring's size). */
const TRACE_LINES_KEPT = 400;

/** Why an abort happened: the operator cancelled, or the station is shutting down (→ interrupted). */
export type AbortReason = 'cancel' | 'shutdown';

export class JobRunner {
  private readonly controller = new AbortController();
  private abortReason: AbortReason = 'cancel';
  private stageFailures: Record<string, number> = {};
  /** The first real cause's message and device code (the journal keeps only its code). */
  private firstCause: { code: string; message: string; deviceCode?: string } | null = null;
  /** The link the attempt opened first (its trace carries the session's log). */
  private attemptLink: Link | null = null;

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
    // A unit still waiting for its slot when the station stops was never touched: it stays queued
    // and a resume runs it (queued → interrupted is not a legal move; it used to fail the unit).
    if (this.abortReason === 'shutdown' && this.job.state === 'queued') return;
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
      this.checkLimits();
      link = await openWithDeadline(transport, job.unit, signal, this.deps.connectTimeoutMs ?? FALLBACK_CONNECT_TIMEOUT_MS, 'opening the link');
      link.trace.reset();
      link.trace.note(`attempt ${job.attempts}: ${job.unit.transport}:${job.unit.address} ${driver.id}`);
      const openedLink = link;
      this.attemptLink = link;
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
      // Bytes already went out in an earlier attempt of this job (before a crash or a lost link).
      const flashedEarlier = job.attempts > 1 && job.progressBytes > 0;
      // A version read after the station wrote to a unit of unknown version is not its "before".
      const before = job.versionBefore;
      if (id.version !== undefined && before === undefined && !flashedEarlier) job.versionBefore = id.version;
      // The unit now runs the target and an earlier attempt of this job changed it: a known other
      // version before, or (a bricked unit, version before unknown) bytes the station sent.
      const installedEarlier =
        id.version !== undefined && id.version === image.info.version && job.attempts > 1 && (before !== undefined ? before !== id.version : flashedEarlier);
      if (installedEarlier) {
        // An earlier attempt already installed the image (also on a unit that was bricked, whose
        // version before was unknown): the unit now boots the target, so only the confirmation is left.
        link.trace.note(`unit already runs ${id.version}, flashed by an earlier attempt: confirming only`);
        this.move('confirming');
        job.versionAfter = id.version;
        job.progressBytes = image.bytes.length;
        job.confirmed = { ...job.confirmed, confirmedBy: addConfirmed(job.confirmed.confirmedBy, 'version-after-reboot') };
        this.move('passed', this.passPatch());
        sink.attemptEnded(job, 'confirm');
        return 'done';
      }
      const gate = this.versionGate(id.version);
      if (gate) {
        this.move('skipped', { errorCode: gate.code, skipReason: gate.reason, message: gate.reason, endedAt: new Date().toISOString() });
        sink.attemptEnded(job, 'negotiate');
        return 'done';
      }
      this.checkPolicies(id);
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
      const version = await this.confirmWithinWindow(session, () => link!, (l) => (link = l), signal);
      if (version !== undefined) {
        job.versionAfter = version;
        job.confirmed = { ...job.confirmed, confirmedBy: addConfirmed(job.confirmed.confirmedBy, 'version-after-reboot') };
      }
      this.move('passed', { ...this.passPatch(), rateBytesPerSec: rate(image.bytes.length - resumeFrom, clock.now() - attemptStart) });
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
      this.recordCause(err);
      link?.trace.note(`error ${err.code}: ${err.message}`);
      sink.attemptEnded(job, stage, err);
      const failStage = stageOf(err, stage);
      this.stageFailures[failStage] = (this.stageFailures[failStage] ?? 0) + 1;
      const d = decideRetry(err, job.attempts, this.stageFailures, this.deps.retry);
      if (d.retry) {
        this.move('backoff', { result: undefined });
        return { retryInMs: d.delayMs };
      }
      this.move('failed', { ...this.failurePatch(err), endedAt: new Date().toISOString() });
      return 'done';
    } finally {
      if (link) {
        // The attempt's own link holds the session log; a confirm link (after a reboot) adds its traffic.
        const first = this.attemptLink;
        sink.trace(job, first && first !== link ? [...first.trace.tail(), ...link.trace.tail()].slice(-TRACE_LINES_KEPT) : link.trace.tail());
        this.attemptLink = null;
        await link.close().catch(() => undefined);
      }
    }
  }

  /** Version gate (DESIGN.md negotiating). Returns a skip code and reason, or null to go on. */
  private versionGate(deviceVersion: string | undefined): { code: 'VERSION_AT_TARGET' | 'DIFF_SOURCE_MISMATCH'; reason: string } | null {
    const info = this.deps.image.info;
    if (deviceVersion === undefined) return null; // the unit cannot tell (e.g. bricked): flash it
    if (this.deps.plan.versionGate.skipIfAtTarget && deviceVersion === info.version) return { code: 'VERSION_AT_TARGET', reason: `already at ${info.version}` };
    if (info.kind === 'diff' && deviceVersion !== info.sourceVersion) return { code: 'DIFF_SOURCE_MISMATCH', reason: `diff package needs ${info.sourceVersion}, unit has ${deviceVersion}` };
    return null;
  }

  /** The profile's limits, before anything is opened or sent. */
  private checkLimits(): void {
    const lim = this.deps.limits;
    const info = this.deps.image.info;
    if (lim?.maxImageBytes !== undefined && info.sizeBytes > lim.maxImageBytes) {
      throw new StationError('IMAGE_TOO_LARGE_FOR_DEVICE', `image ${info.sizeBytes} B is larger than the product's ${lim.maxImageBytes} B`, { retryable: false });
    }
    const name = typeof this.deps.protocolOptions.fileName === 'string' ? this.deps.protocolOptions.fileName : info.fileName;
    if (lim?.maxFileNameChars !== undefined && name.length > lim.maxFileNameChars) {
      throw new StationError('CONFIG_INVALID', `file name "${name}" has ${name.length} characters; this product takes at most ${lim.maxFileNameChars}`, { retryable: false });
    }
  }

  /**
   * Plan policies (issue 9 §8): checked against what the unit reported; a limit the unit did not
   * report is never a pass.
   */
  private checkPolicies(id: { batteryPct?: number; rssiDbm?: number }): void {
    const policy = this.deps.plan.policy;
    const enforced = this.deps.policyChecks?.deviceEnforces ?? {};
    if (policy.minBatteryPct !== undefined) {
      if (id.batteryPct === undefined) {
        if (!enforced.battery) throw new StationError('POLICY_UNCHECKABLE', `the unit did not report its battery, so the plan's minimum ${policy.minBatteryPct} % cannot be checked`, { retryable: false });
      } else if (id.batteryPct < policy.minBatteryPct) {
        throw new StationError('DEVICE_LOW_BATTERY', `battery ${id.batteryPct} % below the plan's minimum ${policy.minBatteryPct} %`);
      }
    }
    if (policy.minRssiDbm !== undefined) {
      if (id.rssiDbm === undefined) {
        if (!enforced.rssi) throw new StationError('POLICY_UNCHECKABLE', `the unit did not report its signal, so the plan's minimum ${policy.minRssiDbm} dBm cannot be checked`, { retryable: false });
      } else if (id.rssiDbm < policy.minRssiDbm) {
        throw new StationError('POLICY_BLOCKED', `signal ${id.rssiDbm} dBm below the plan's minimum ${policy.minRssiDbm} dBm`);
      }
    }
  }

  /**
   * Confirm inside the reboot window (issue 9 §2): the window the device announced, else the
   * profile's. For drivers that read the version on a new link after the reboot, the unit's old
   * version read inside the window means "not rebooted yet": reconnect and read again until the
   * window ends; only then a mismatch. Same-link sessions wait inside the window themselves.
   */
  private async confirmWithinWindow(session: ProtocolSession, getLink: () => Link, setLink: (l: Link) => void, signal: AbortSignal): Promise<string | undefined> {
    const { clock, driver, image } = this.deps;
    const windowMs = session.confirmTimeoutMs ?? this.deps.rebootTimeoutMs ?? FALLBACK_REBOOT_TIMEOUT_MS;
    const windowEnd = clock.now() + windowMs;
    let oldSeen: string | undefined;
    let reads = 0;
    for (;;) {
      try {
        let link = getLink();
        if (driver.reconnectForConfirm) {
          await link.close();
          link = await this.reopenAfterReboot(signal, Math.max(1, windowEnd - clock.now()));
          setLink(link);
        }
        const left = Math.max(1, windowEnd - clock.now()) + (driver.reconnectForConfirm ? 0 : CONFIRM_GRACE_MS);
        const version = await withDeadline(session.confirm(link, signal), left, 'REBOOT_TIMEOUT', 'waiting for the unit to come back');
        reads++;
        if (version === undefined || version === image.info.version) return version;
        // Only a fresh read (a new link after the reboot) can tell more later; a same-link session
        // already waited inside the window (the profile's timer is its option) and gave its answer.
        const old = driver.reconnectForConfirm && (this.job.versionBefore === undefined || version === this.job.versionBefore);
        if (!old) {
          this.job.versionAfter = version;
          throw new StationError('VERIFY_VERSION_MISMATCH', `unit reports ${version} after reboot, expected ${image.info.version}`, { retryable: false });
        }
        oldSeen = version;
        const left2 = windowEnd - clock.now();
        if (left2 <= 0) break;
        (this.attemptLink ?? getLink()).trace.note(`unit still runs ${version} ${Math.round(windowMs - left2)} ms into the ${windowMs} ms reboot window: not rebooted yet, reading again`);
        await clock.sleep(Math.min(CONFIRM_POLL_MS, left2), signal);
      } catch (e) {
        if (signal.aborted) throw e;
        const err = toStationError(e);
        // Lost the unit while it reboots: the window decides, not the loss.
        if (oldSeen !== undefined && (err.code === 'REBOOT_TIMEOUT' || err.code === 'TRANSPORT_LOST' || err.code === 'TRANSPORT_NOT_FOUND' || err.code === 'TRANSPORT_TIMEOUT' || err.code === 'PROTOCOL_TIMEOUT')) {
          if (clock.now() >= windowEnd) break;
          await clock.sleep(Math.min(CONFIRM_POLL_MS, Math.max(1, windowEnd - clock.now())), signal);
          continue;
        }
        throw err;
      }
    }
    this.job.versionAfter = oldSeen;
    throw new StationError('VERIFY_VERSION_MISMATCH', `unit still reports ${oldSeen} at the end of the ${windowMs} ms reboot window (${reads} reads), expected ${image.info.version}`, { retryable: false });
  }

  /** Keep every failed attempt's cause, in order; remember the first real one. */
  private recordCause(err: StationError): void {
    if (NOT_A_CAUSE.has(err.code)) return;
    const cause: AttemptCause = { attempt: this.job.attempts, code: err.code, result: err.result };
    this.job.attemptCauses = [...(this.job.attemptCauses ?? []), cause];
    if (this.job.attemptCauses.length === 1 || (this.firstCause === null && this.job.attemptCauses[0]!.code === err.code)) {
      this.firstCause = { code: err.code, message: err.message, deviceCode: err.detail.deviceCode };
    }
  }

  /** A failed unit's result: the first real cause when later attempts failed differently. */
  private failurePatch(last: StationError): Partial<JobView> {
    const first = this.job.attemptCauses?.[0];
    if (!first || first.code === last.code) return { result: last.result };
    const fc = this.firstCause?.code === first.code ? this.firstCause : null;
    return {
      result: first.result,
      errorCode: first.code,
      deviceCode: fc?.deviceCode,
      message: `${fc ? fc.message : `attempt ${first.attempt}: ${first.code}`} (last attempt ${last.code}: ${last.message})`,
    };
  }

  /** A passed unit keeps its attempt causes but carries no error. */
  private passPatch(): Partial<JobView> {
    return { result: 'ok', errorCode: undefined, message: undefined, deviceCode: undefined, endedAt: new Date().toISOString() };
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

function addConfirmed(list: ConfirmedBy[] | undefined, what: ConfirmedBy): ConfirmedBy[] {
  return list?.includes(what) ? list : [...(list ?? []), what];
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
  // The transport gets a signal that also fires at our deadline, so it stops scanning/connecting
  // then (no transport-side cap has to stand in for the profile's connect timer).
  const ctl = new AbortController();
  if (signal.aborted) ctl.abort(signal.reason);
  else signal.addEventListener('abort', () => ctl.abort(signal.reason), { once: true });
  const opening = transport.open(unit, ctl.signal);
  try {
    return await withDeadline(opening, ms, 'TRANSPORT_TIMEOUT', what);
  } catch (e) {
    if (!ctl.signal.aborted) ctl.abort(e);
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
