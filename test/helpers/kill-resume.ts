/**
 * One fault run shared by the fault suite and the soak bench: a mixed batch of virtual units
 * (ymodem, QuecThing SOTA, MQTT OTA, LLSync over noble) is SIGKILLed at a random moment, then
 * `flashline resume` is itself SIGKILLed at random moments, then resumed to the end. Counts
 * what matters: units lost (not passed at the end), units flashed twice (installed more than
 * once), resumes that failed, and the codes the journal shows for the cut units.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { Journal } from '../../main/engine/journal/journal.js';
import { startCli, type CliRun } from './cli.js';

export const MIXED_TARGETS = ['sim:ymodem:2', 'sim:quecthing-sota:1', 'sim:mqtt-ota-tencent:1', 'sim:llsync-ota:1'];
export const MIXED_UNITS = 5;
const ACTIVITY = /(connecting|negotiating|transferring|verifying)/;
const STEP_TIMEOUT_MS = 120_000;

export interface KillRunResult {
  kills: number;
  /** Of those, kills that landed during a `resume`. */
  resumeKills: number;
  units: number;
  /** Units without a final journaled outcome after the last resume (or missing from the journal). */
  unitsLost: number;
  unitsReflashed: number;
  /** Units that ended failed with a per-unit code (accounted for, not lost); their codes. */
  failedCodes: string[];
  failedResumes: number;
  /** Error codes of jobs the journal showed as interrupted after a kill (all should be STATION_INTERRUPTED). */
  interruptedCodes: string[];
  /** Units that reached activation more than once (a kill between activating and the install makes the unit install once, late). */
  reactivations: number;
  notes: string[];
}

function rand(maxMs: number): number {
  return Math.floor(Math.random() * maxMs);
}

async function until(run: CliRun, re: RegExp, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (re.test(run.stderr())) return true;
    if (run.child.exitCode !== null || run.child.signalCode !== null) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/** Lets `run` get going, waits a random moment, SIGKILLs it; false when it ended on its own first. */
async function killAtRandom(run: CliRun, maxKillMs: number, started: RegExp = ACTIVITY): Promise<boolean> {
  await until(run, started, STEP_TIMEOUT_MS);
  await new Promise((r) => setTimeout(r, rand(maxKillMs)));
  if (run.child.exitCode !== null || run.child.signalCode !== null) return false;
  run.child.kill('SIGKILL');
  const ended = await run.done;
  return ended.signal === 'SIGKILL';
}

function readJournal<T>(dir: string, fn: (j: Journal) => T): T {
  const j = Journal.open(path.join(dir, 'journal.sqlite'), { readonly: true });
  try {
    return fn(j);
  } finally {
    j.close();
  }
}

export async function killResumeRun(opts: { maxKillMs?: number; resumeKills?: number; keepDir?: boolean } = {}): Promise<KillRunResult> {
  const maxKillMs = opts.maxKillMs ?? 2500;
  const resumeKills = opts.resumeKills ?? 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-fault-'));
  const r: KillRunResult = { kills: 0, resumeKills: 0, units: MIXED_UNITS, unitsLost: 0, unitsReflashed: 0, failedCodes: [], failedResumes: 0, interruptedCodes: [], reactivations: 0, notes: [] };
  try {
    const img = path.join(dir, 'app.bin');
    fs.writeFileSync(img, buildSimImage(48 * 1024, '2.0.0'));
    const flash = startCli(['flash', '--package', img, '--version', '2.0.0', ...MIXED_TARGETS.flatMap((t) => ['--target', t]), '--data-dir', dir, '--json']);
    if (await killAtRandom(flash, maxKillMs)) r.kills++;
    else await flash.done;
    const batchId = readJournal(dir, (j) => j.listBatches({ limit: 1 })[0]?.batchId);
    if (!batchId) throw new Error(`no batch was journaled: ${flash.stderr().slice(-2000)}`);

    for (let i = 0; i <= resumeKills; i++) {
      const state = readJournal(dir, (j) => j.getBatch(batchId)!.state);
      if (state === 'finished') break;
      const last = i === resumeKills;
      const resume = startCli(['resume', batchId, '--data-dir', dir, '--json']);
      // `resume` prints its snapshot (the cut units as interrupted) just before it restarts them.
      if (!last && (await killAtRandom(resume, maxKillMs, /interrupted|queued|backoff/))) {
        r.kills++;
        r.resumeKills++;
        continue;
      }
      const ended = await resume.done;
      // exit 1 = a unit failed with its own code (counted below); anything else is a failed resume.
      if (ended.code !== 0 && ended.code !== 1) {
        r.failedResumes++;
        r.notes.push(`resume exit ${ended.code}: ${resume.stderr().slice(-500)}`);
      }
      // Every unit the kills cut short was journaled as interrupted by the process that took over.
      readJournal(dir, (j) => {
        for (const job of j.getJobs(batchId)) {
          for (const t of j.getTransitions(job.jobId)) if (t.to === 'interrupted') r.interruptedCodes.push(t.errorCode ?? 'none');
        }
      });
    }
    readJournal(dir, (j) => {
      const jobs = j.getJobs(batchId);
      r.unitsLost += Math.max(0, MIXED_UNITS - jobs.length);
      if (j.getBatch(batchId)!.state !== 'finished') {
        r.failedResumes++;
        r.notes.push(`batch ended ${j.getBatch(batchId)!.state}`);
      }
      for (const job of jobs) {
        if (job.state === 'failed') {
          r.failedCodes.push(job.errorCode ?? 'none');
          r.notes.push(`${job.unit.unitId} failed ${job.errorCode ?? ''} ${job.message ?? ''}`);
        } else if (job.state !== 'passed') {
          r.unitsLost++;
          r.notes.push(`${job.unit.unitId} ended ${job.state} ${job.errorCode ?? ''} ${job.message ?? ''}`);
        }
        const tos = j.getTransitions(job.jobId).map((t) => t.to);
        // Flashed twice: the unit had passed, and something flashed it again afterwards.
        const firstPass = tos.indexOf('passed');
        if (firstPass >= 0 && (tos.lastIndexOf('passed') !== firstPass || tos.indexOf('connecting', firstPass) >= 0)) {
          r.unitsReflashed++;
          r.notes.push(`${job.unit.unitId} flashed again after passing: ${tos.join(' ')}`);
        }
        if (tos.filter((t) => t === 'activating').length > 1) r.reactivations++;
      }
    });
    return r;
  } finally {
    if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
