/**
 * Issue 9 in the job runner: every failed attempt's cause and the first real one as the result
 * (§1), skip codes with a separate reason, the reboot window (§2: an old version inside it is
 * "not rebooted yet"), a bricked unit the station flashed before an interruption passes on
 * resume (§10), and plan limits a unit cannot report fail closed (§8).
 */
import { describe, expect, it } from 'vitest';
import type { JobView, Plan, UnitRef } from '../../main/contract/dto.js';
import { JobRunner, type JobSink } from '../../main/engine/job/runner.js';
import { retryPolicy } from '../../main/engine/job/retry-policy.js';
import { Scheduler } from '../../main/engine/pool/scheduler.js';
import { systemClock } from '../../main/engine/clock.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import { StationError, type StationErrorCode } from '../../main/engine/errors.js';
import type { FirmwareImage, PolicyChecks, ProtocolDriver } from '../../main/engine/protocol/types.js';
import { scriptedDevice, scriptedDriver, scriptedTransport, type ScriptedDevice } from '../helpers/scripted-driver.js';

const bytes = Uint8Array.from({ length: 4000 }, (_, i) => (i * 5 + 1) & 0xff);
const image: FirmwareImage = { info: { component: 'app', version: '2.0.0', kind: 'full', fileName: 'a.bin', sizeBytes: bytes.length, crc32: crc32Hex(bytes), md5: 'm', sha256: 's' }, bytes };
const unit: UnitRef = { unitId: 'u1', transport: 'sim', protocol: 'llsync-ota', address: 'u1' };

function plan(p: Partial<Plan> = {}): Plan {
  return { packageId: 'p', units: [], versionGate: { skipIfAtTarget: true }, policy: {}, retry: { maxAttempts: 3, backoffMs: 1, backoffMaxMs: 2 }, concurrency: { global: 4, perBleAdapter: 6 }, ...p };
}

const sink: JobSink = { transition: () => undefined, progress: () => undefined, attemptStarted: () => undefined, attemptEnded: () => undefined, trace: () => undefined };

function newJob(p: Partial<JobView> = {}): JobView {
  return { jobId: 'j1', batchId: 'b', unit, state: 'queued', progressBytes: 0, totalBytes: bytes.length, attempts: 0, sent: { crc32: image.info.crc32, md5: 'm' }, confirmed: {}, resumable: false, ...p };
}

async function run(dev: ScriptedDevice, o: { job?: JobView; plan?: Plan; driver?: (d: ProtocolDriver) => ProtocolDriver; rebootTimeoutMs?: number; policyChecks?: PolicyChecks } = {}) {
  const devices = new Map([[unit.unitId, dev]]);
  const job = o.job ?? newJob();
  const p = o.plan ?? plan();
  const base = scriptedDriver(devices);
  const runner = new JobRunner(job, {
    image, plan: p, retry: retryPolicy(p.retry), transport: scriptedTransport(devices), driver: o.driver ? o.driver(base) : base,
    scheduler: new Scheduler(4, () => 1), clock: systemClock, protocolOptions: {}, sink, rebootTimeoutMs: o.rebootTimeoutMs ?? 2000, policyChecks: o.policyChecks,
  });
  await runner.run();
  return job;
}

/** A driver whose negotiate fails with the given codes, one per attempt, then works. */
function failingNegotiate(codes: StationErrorCode[]): (d: ProtocolDriver) => ProtocolDriver {
  let n = 0;
  return (d) => ({
    ...d,
    createSession: (ctx) => {
      const s = d.createSession(ctx);
      return {
        ...s,
        identify: s.identify,
        negotiate: async (signal) => {
          const code = codes[n++];
          if (code) throw new StationError(code, `scripted ${code}`);
          return s.negotiate(signal);
        },
      };
    },
  });
}

/** Confirm reads the old version `oldReads` times before the new one (a unit that reboots late). */
function lateReboot(oldReads: number, delays: number[] = []): (d: ProtocolDriver) => ProtocolDriver {
  let reads = 0;
  return (d) => ({
    ...d,
    createSession: (ctx) => {
      const s = d.createSession(ctx);
      return {
        ...s,
        identify: s.identify,
        negotiate: s.negotiate,
        transfer: s.transfer,
        verify: s.verify,
        activate: s.activate,
        confirm: async (link, signal) => {
          const delay = delays[reads] ?? 0;
          if (delay) await new Promise((r) => setTimeout(r, delay));
          return reads++ < oldReads ? '1.0.0' : s.confirm(link, signal);
        },
      };
    },
  });
}

describe('attempt causes (issue 9 §1)', () => {
  it('keeps the first real cause as the result and lists every attempt', async () => {
    const job = await run(scriptedDevice(), { driver: failingNegotiate(['SOTA_READ_TIMEOUT', 'DEVICE_NOT_RESPONDING', 'DEVICE_NOT_RESPONDING']) });
    expect(job.state).toBe('failed');
    expect(job.errorCode).toBe('SOTA_READ_TIMEOUT');
    expect(job.result).toBe('timeout');
    expect(job.message).toMatch(/scripted SOTA_READ_TIMEOUT.*last attempt DEVICE_NOT_RESPONDING/);
    expect(job.attemptCauses).toEqual([
      { attempt: 1, code: 'SOTA_READ_TIMEOUT', result: 'timeout' },
      { attempt: 2, code: 'DEVICE_NOT_RESPONDING', result: 'timeout' },
      { attempt: 3, code: 'DEVICE_NOT_RESPONDING', result: 'timeout' },
    ]);
  });

  it('uses the first cause’s result code when later attempts end in another result', async () => {
    const job = await run(scriptedDevice(), { driver: failingNegotiate(['TRANSPORT_LOST', 'PROTOCOL_BAD_FRAME', 'PROTOCOL_BAD_FRAME']) });
    expect(job).toMatchObject({ state: 'failed', errorCode: 'TRANSPORT_LOST', result: 'disconnected' });
    expect(job.attemptCauses?.map((c) => c.code)).toEqual(['TRANSPORT_LOST', 'PROTOCOL_BAD_FRAME', 'PROTOCOL_BAD_FRAME']);
  });

  it('a unit that passes after a failed attempt keeps the cause but carries no error', async () => {
    const job = await run(scriptedDevice(), { driver: failingNegotiate(['PROTOCOL_TIMEOUT']) });
    expect(job).toMatchObject({ state: 'passed', result: 'ok', errorCode: undefined, attempts: 2 });
    expect(job.attemptCauses).toEqual([{ attempt: 1, code: 'PROTOCOL_TIMEOUT', result: 'timeout' }]);
    expect(job.confirmed.confirmedBy).toContain('version-after-reboot');
  });

  it('a skipped unit carries a code and a separate reason', async () => {
    const job = await run(scriptedDevice({ version: '2.0.0' }));
    expect(job).toMatchObject({ state: 'skipped', errorCode: 'VERSION_AT_TARGET', skipReason: 'already at 2.0.0' });
  });
});

describe('reboot window (issue 9 §2)', () => {
  it('an old version read inside the window is "not rebooted yet": reads again and passes', async () => {
    const job = await run(scriptedDevice(), { driver: lateReboot(3), rebootTimeoutMs: 5000 });
    expect(job).toMatchObject({ state: 'passed', versionAfter: '2.0.0', attempts: 1 });
  });

  it('the old version at the end of the window is a version mismatch, not before', async () => {
    const t0 = performance.now();
    const job = await run(scriptedDevice(), { driver: lateReboot(1000), rebootTimeoutMs: 1500 });
    const ms = performance.now() - t0;
    expect(job).toMatchObject({ state: 'failed', errorCode: 'VERIFY_VERSION_MISMATCH', result: 'version_mismatch', versionAfter: '1.0.0' });
    expect(ms).toBeGreaterThanOrEqual(1400); // it waited out the window
    expect(job.message).toMatch(/end of the 1500 ms reboot window/);
  });

  it('a same-link session (it waited inside the window itself) that reads the old version: mismatch at once', async () => {
    const t0 = performance.now();
    const sameLink = (d: ProtocolDriver): ProtocolDriver => ({ ...lateReboot(1000)(d), reconnectForConfirm: false });
    const job = await run(scriptedDevice(), { driver: sameLink, rebootTimeoutMs: 20_000 });
    expect(job).toMatchObject({ state: 'failed', errorCode: 'VERIFY_VERSION_MISMATCH', versionAfter: '1.0.0' });
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('a third version is a mismatch at once', async () => {
    const t0 = performance.now();
    const job = await run(scriptedDevice({ rebootVersion: '1.9.9' }), { rebootTimeoutMs: 20_000 });
    expect(job).toMatchObject({ state: 'failed', errorCode: 'VERIFY_VERSION_MISMATCH', versionAfter: '1.9.9' });
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe('a bricked unit flashed before an interruption (issue 9 §10)', () => {
  it('passes on resume when it now boots the target', async () => {
    // Attempt 1 found no version (bricked), sent the whole image, and the station stopped.
    const job = newJob({ state: 'interrupted', attempts: 1, progressBytes: bytes.length });
    const job2 = await run(scriptedDevice({ version: '2.0.0' }), { job: { ...job, state: 'queued' } });
    expect(job2).toMatchObject({ state: 'passed', result: 'ok', versionAfter: '2.0.0', attempts: 2 });
    expect(job2.versionBefore).toBeUndefined();
    expect(job2.confirmed.confirmedBy).toEqual(['version-after-reboot']);
  });

  it('a unit the station never wrote to is still skipped at the target', async () => {
    const job = await run(scriptedDevice({ version: '2.0.0' }), { job: newJob({ attempts: 1, progressBytes: 0 }) });
    expect(job).toMatchObject({ state: 'skipped', errorCode: 'VERSION_AT_TARGET' });
  });
});

describe('plan limits a unit cannot report fail closed (issue 9 §8)', () => {
  it('a minimum battery with no battery reading fails the unit with POLICY_UNCHECKABLE', async () => {
    const job = await run(scriptedDevice(), { plan: plan({ policy: { minBatteryPct: 30 } }), policyChecks: { battery: true, rssi: false } });
    expect(job).toMatchObject({ state: 'failed', errorCode: 'POLICY_UNCHECKABLE', result: 'policy_blocked', attempts: 1 });
  });

  it('a device that enforces the limit itself goes on; a reported low battery is blocked', async () => {
    const ok = await run(scriptedDevice(), { plan: plan({ policy: { minBatteryPct: 30 } }), policyChecks: { battery: false, rssi: false, deviceEnforces: { battery: true } } });
    expect(ok.state).toBe('passed');
    const low = await run(scriptedDevice({ battery: 10 }), { plan: plan({ policy: { minBatteryPct: 30 } }), policyChecks: { battery: true, rssi: false } });
    expect(low).toMatchObject({ state: 'failed', errorCode: 'DEVICE_LOW_BATTERY' });
  });

  it('a minimum signal no unit reports fails closed', async () => {
    const job = await run(scriptedDevice(), { plan: plan({ policy: { minRssiDbm: -70 } }) });
    expect(job).toMatchObject({ state: 'failed', errorCode: 'POLICY_UNCHECKABLE' });
  });
});
