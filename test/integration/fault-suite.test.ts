/**
 * Issue 10 §5: the fault suite. SIGKILL at random moments of a mixed batch (ymodem, QuecThing,
 * MQTT, LLSync) and of its `resume`, then resume to the end: nothing lost, no unit flashed twice,
 * cut units journaled as STATION_INTERRUPTED. ≥ 10 runs under CI (FLASHLINE_FAULT_RUNS to change;
 * 3 locally). The second-process, disk-full and serve-fuzz cases live in station-lock.test.ts,
 * disk-full.test.ts and serve-fuzz.test.ts; test/bench/soak.bench.ts runs this for 100.
 */
import { describe, expect, it } from 'vitest';
import { killResumeRun } from '../helpers/kill-resume.js';

const RUNS = Number(process.env.FLASHLINE_FAULT_RUNS ?? (process.env.CI === 'true' ? 10 : 3));
const PARALLEL = Number(process.env.FLASHLINE_FAULT_PARALLEL ?? 2);

describe('SIGKILL at random moments of a mixed batch and of resume', () => {
  it(`${RUNS} runs: nothing lost, nothing flashed twice, cut units STATION_INTERRUPTED`, async () => {
    const totals = { kills: 0, resumeKills: 0, lost: 0, reflashed: 0, failedResumes: 0 };
    const notes: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < RUNS) {
        const i = next++;
        await oneRun(i);
      }
    };
    const oneRun = async (i: number): Promise<void> => {
      const r = await killResumeRun({ maxKillMs: 2000, resumeKills: i % 2 });
      totals.kills += r.kills;
      totals.resumeKills += r.resumeKills;
      totals.lost += r.unitsLost;
      totals.reflashed += r.unitsReflashed;
      totals.failedResumes += r.failedResumes;
      notes.push(...r.notes.filter((n) => !/ failed /.test(n)).map((n) => `run ${i}: ${n}`));
      // A unit may fail on its own (a virtual link under load); it must say why, never INTERNAL or an interruption.
      for (const code of r.failedCodes) expect(['INTERNAL', 'STATION_INTERRUPTED', 'none']).not.toContain(code);
      for (const code of r.interruptedCodes) expect(code).toBe('STATION_INTERRUPTED');
    };
    // Two station folders at a time: each run is mostly waiting on process start-up and virtual links.
    await Promise.all(Array.from({ length: PARALLEL }, () => worker()));
    expect(notes).toEqual([]);
    expect(totals).toMatchObject({ lost: 0, reflashed: 0, failedResumes: 0 });
    expect(totals.kills).toBeGreaterThan(0); // the kills really landed
    if (RUNS >= 2) expect(totals.resumeKills).toBeGreaterThan(0); // …some of them during a resume
  }, 60_000 + Math.ceil(RUNS / PARALLEL) * 120_000);
});
