import { describe, expect, it } from 'vitest';
import type { JobState, JobView, Plan, UnitRef } from '../../main/contract/dto.js';
import { JobRunner, type JobSink } from '../../main/engine/job/runner.js';
import { retryPolicy } from '../../main/engine/job/retry-policy.js';
import { Scheduler } from '../../main/engine/pool/scheduler.js';
import { systemClock } from '../../main/engine/clock.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import { canTransition } from '../../main/engine/job/machine.js';
import type { FirmwareImage } from '../../main/engine/protocol/types.js';
import { scriptedDevice, scriptedDriver, scriptedTransport, type ScriptedDevice } from '../helpers/scripted-driver.js';

const bytes = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7 + 3) & 0xff);
const image: FirmwareImage = { info: { component: 'app', version: '2.0.0', kind: 'full', fileName: 'a.bin', sizeBytes: bytes.length, crc32: crc32Hex(bytes), md5: 'm', sha256: 's' }, bytes };

function plan(p: Partial<Plan> = {}): Plan {
  return { packageId: 'p', units: [], versionGate: { skipIfAtTarget: true }, policy: {}, retry: { maxAttempts: 3, backoffMs: 1, backoffMaxMs: 2 }, concurrency: { global: 4, perBleAdapter: 6 }, ...p };
}

async function runOne(dev: ScriptedDevice, p: Plan = plan(), resumable = true, imageOverride: FirmwareImage = image) {
  const unit: UnitRef = { unitId: 'u1', transport: 'sim', protocol: 'llsync-ota', address: 'u1' };
  const devices = new Map([[unit.unitId, dev]]);
  const job: JobView = { jobId: 'j1', batchId: 'b', unit, state: 'queued', progressBytes: 0, totalBytes: imageOverride.bytes.length, attempts: 0, sent: { crc32: imageOverride.info.crc32, md5: 'm' }, confirmed: {}, resumable: false };
  const states: JobState[] = [];
  const illegal: string[] = [];
  const sink: JobSink = {
    transition: (j, from) => {
      if (!canTransition(from, j.state)) illegal.push(`${from}->${j.state}`);
      states.push(j.state);
    },
    progress: () => undefined,
    attemptStarted: () => undefined,
    attemptEnded: () => undefined,
    trace: () => undefined,
  };
  const runner = new JobRunner(job, {
    image: imageOverride, plan: p, retry: retryPolicy(p.retry), transport: scriptedTransport(devices), driver: scriptedDriver(devices, resumable),
    scheduler: new Scheduler(4, () => 1), clock: systemClock, protocolOptions: {}, sink, rebootTimeoutMs: 2000,
  });
  await runner.run();
  expect(illegal).toEqual([]);
  return { job, states, runner };
}

describe('JobRunner', () => {
  it('walks the whole life of a job to passed', async () => {
    const { job, states } = await runOne(scriptedDevice());
    expect(states).toEqual(['connecting', 'negotiating', 'transferring', 'verifying', 'activating', 'confirming', 'passed']);
    expect(job).toMatchObject({ result: 'ok', versionBefore: '1.0.0', versionAfter: '2.0.0', attempts: 1, progressBytes: 10_000 });
    expect(job.confirmed.crc32).toBe(image.info.crc32);
  });

  it('resumes from the offset the device offers after a dropped link', async () => {
    const dev = scriptedDevice({ dropAt: [3500, 9900] });
    const { job, states } = await runOne(dev);
    expect(job.state).toBe('passed');
    expect(job.attempts).toBe(3);
    expect(dev.resumeOffers).toEqual([0, 3500, 9900]);
    expect(states.filter((s) => s === 'backoff')).toHaveLength(2);
  });

  it('starts over when the protocol is not resumable', async () => {
    const dev = scriptedDevice({ dropAt: [3500] });
    const { job } = await runOne(dev, plan(), false);
    expect(job.state).toBe('passed');
    expect(dev.resumeOffers).toEqual([0, 0]);
  });

  it('skips a unit already at the target version (version gate)', async () => {
    const { job, states } = await runOne(scriptedDevice({ version: '2.0.0' }));
    expect(states).toEqual(['connecting', 'negotiating', 'skipped']);
    expect(job.message).toMatch(/already at 2.0.0/);
  });

  it('flashes a unit already at target when the gate is off', async () => {
    const { job } = await runOne(scriptedDevice({ version: '2.0.0' }), plan({ versionGate: { skipIfAtTarget: false } }));
    expect(job.state).toBe('passed');
  });

  it('skips a diff package for a unit not at its source version', async () => {
    const diff: FirmwareImage = { ...image, info: { ...image.info, kind: 'diff', sourceVersion: '1.5.0' } };
    const { job } = await runOne(scriptedDevice({ version: '1.0.0' }), plan(), true, diff);
    expect(job.state).toBe('skipped');
    expect(job.message).toMatch(/needs 1.5.0/);
  });

  it('blocks a low battery unit by policy without retrying', async () => {
    const { job } = await runOne(scriptedDevice({ battery: 10 }), plan({ policy: { minBatteryPct: 30 } }));
    expect(job).toMatchObject({ state: 'failed', result: 'policy_blocked', errorCode: 'DEVICE_LOW_BATTERY', attempts: 1 });
  });

  it('retries a CRC mismatch and passes', async () => {
    const { job } = await runOne(scriptedDevice({ failVerifyTimes: 1 }));
    expect(job).toMatchObject({ state: 'passed', attempts: 2 });
  });

  it('fails with crc_mismatch once retries are exhausted', async () => {
    const { job } = await runOne(scriptedDevice({ failVerifyTimes: 5 }));
    expect(job).toMatchObject({ state: 'failed', result: 'crc_mismatch', errorCode: 'PROTOCOL_CRC_MISMATCH', attempts: 3 });
  });

  it('fails version_mismatch without retry when the unit boots another version', async () => {
    const { job } = await runOne(scriptedDevice({ rebootVersion: '1.9.9' }));
    expect(job).toMatchObject({ state: 'failed', result: 'version_mismatch', attempts: 1, versionAfter: '1.9.9' });
  });

  it('retries connect failures with backoff', async () => {
    const dev = scriptedDevice({ failOpenTimes: 2 });
    const { job } = await runOne(dev);
    expect(job).toMatchObject({ state: 'passed', attempts: 3 });
  });

  it('cancel aborts the job and marks it cancelled', async () => {
    const unitDev = scriptedDevice({ chunk: 10 });
    const unit: UnitRef = { unitId: 'u1', transport: 'sim', protocol: 'llsync-ota', address: 'u1' };
    const devices = new Map([[unit.unitId, unitDev]]);
    const job: JobView = { jobId: 'j1', batchId: 'b', unit, state: 'queued', progressBytes: 0, totalBytes: 10_000, attempts: 0, sent: {}, confirmed: {}, resumable: false };
    const p = plan();
    const runner = new JobRunner(job, {
      image, plan: p, retry: retryPolicy(p.retry), transport: scriptedTransport(devices), driver: scriptedDriver(devices),
      scheduler: new Scheduler(4, () => 1), clock: systemClock, protocolOptions: {},
      sink: { transition: () => undefined, progress: (j) => { if (j.progressBytes > 2000) runner.abort('cancel'); }, attemptStarted: () => undefined, attemptEnded: () => undefined, trace: () => undefined },
    });
    await runner.run();
    expect(job.state).toBe('cancelled');
    expect(job.result).toBe('cancelled');
  });
});

describe('JobRunner after an interruption', () => {
  it('confirms instead of skipping a unit that an earlier attempt already upgraded', async () => {
    const unit: UnitRef = { unitId: 'u1', transport: 'sim', protocol: 'llsync-ota', address: 'u1' };
    const dev = scriptedDevice({ version: '2.0.0' });
    const devices = new Map([[unit.unitId, dev]]);
    const job: JobView = { jobId: 'j1', batchId: 'b', unit, state: 'queued', progressBytes: 0, totalBytes: 10_000, attempts: 1, versionBefore: '1.0.0', sent: {}, confirmed: {}, resumable: false };
    const states: string[] = [];
    const p = plan();
    const runner = new JobRunner(job, {
      image, plan: p, retry: retryPolicy(p.retry), transport: scriptedTransport(devices), driver: scriptedDriver(devices),
      scheduler: new Scheduler(4, () => 1), clock: systemClock, protocolOptions: {},
      sink: { transition: (j) => states.push(j.state), progress: () => undefined, attemptStarted: () => undefined, attemptEnded: () => undefined, trace: () => undefined },
    });
    await runner.run();
    expect(states).toEqual(['connecting', 'negotiating', 'confirming', 'passed']);
    expect(job).toMatchObject({ result: 'ok', versionAfter: '2.0.0', attempts: 2 });
  });
});

describe('JobRunner connect deadline', () => {
  it('a link that opens after the deadline is closed, and the attempt fails with TRANSPORT_TIMEOUT', async () => {
    const unit: UnitRef = { unitId: 'u1', transport: 'sim', protocol: 'llsync-ota', address: 'u1' };
    const devices = new Map([[unit.unitId, scriptedDevice()]]);
    let closed = 0;
    const slow = scriptedTransport(devices);
    const transport = {
      ...slow,
      open: async (u: UnitRef, s: AbortSignal) => {
        await new Promise((r) => setTimeout(r, 120));
        const link = await slow.open(u, s);
        return { ...link, close: async () => void closed++ };
      },
    };
    const job: JobView = { jobId: 'j1', batchId: 'b', unit, state: 'queued', progressBytes: 0, totalBytes: 10_000, attempts: 0, sent: {}, confirmed: {}, resumable: false };
    const p = plan({ retry: { maxAttempts: 1, backoffMs: 1, backoffMaxMs: 1 } });
    const runner = new JobRunner(job, {
      image, plan: p, retry: retryPolicy(p.retry), transport, driver: scriptedDriver(devices),
      scheduler: new Scheduler(4, () => 1), clock: systemClock, protocolOptions: {}, connectTimeoutMs: 30,
      sink: { transition: () => undefined, progress: () => undefined, attemptStarted: () => undefined, attemptEnded: () => undefined, trace: () => undefined },
    });
    await runner.run();
    expect(job).toMatchObject({ state: 'failed', errorCode: 'TRANSPORT_TIMEOUT', result: 'timeout' });
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(1);
  });
});
