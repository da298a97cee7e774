/**
 * Crash soak (prints ONE JSON object): N runs (100 by default) of a mixed batch of virtual units
 * SIGKILLed at a random moment, its `resume` SIGKILLed at a random moment in every other run,
 * then resumed to the end. Figures: runs, kills, unitsLost (no final journaled outcome),
 * unitsReflashed (flashed again after passing), failedResumes (resume crashed, exit 2, or left
 * the batch unfinished), and unitsFailed with their codes (a unit's own failure, accounted for).
 * Run: node --import tsx test/bench/soak.bench.ts [N] [--parallel P]   (about 15 s per run on an idle 2-core machine)
 */
import { killResumeRun, MIXED_UNITS } from '../helpers/kill-resume.js';

const args = process.argv.slice(2);
const pIdx = args.indexOf('--parallel');
const parallel = pIdx >= 0 ? Number(args[pIdx + 1]) : 1;
const runs = Number(args.find((a, i) => /^\d+$/.test(a) && (pIdx < 0 || i !== pIdx + 1)) ?? 100);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(parallel) || parallel < 1) {
  console.error('usage: soak.bench.ts [N] [--parallel P]');
  process.exit(2);
}

const totals = { runs: 0, units: 0, kills: 0, resumeKills: 0, unitsLost: 0, unitsReflashed: 0, failedResumes: 0, unitsFailed: 0, reactivations: 0, nonInterruptedCodes: 0 };
const failedCodes: Record<string, number> = {};
const notes: string[] = [];
const t0 = Date.now();
let next = 0;
async function worker(): Promise<void> {
  while (next < runs) {
    const i = next++;
    try {
      const r = await killResumeRun({ maxKillMs: 2500, resumeKills: i % 2 });
      totals.kills += r.kills;
      totals.resumeKills += r.resumeKills;
      totals.unitsLost += r.unitsLost;
      totals.unitsReflashed += r.unitsReflashed;
      totals.failedResumes += r.failedResumes;
      totals.reactivations += r.reactivations;
      totals.unitsFailed += r.failedCodes.length;
      for (const c of r.failedCodes) failedCodes[c] = (failedCodes[c] ?? 0) + 1;
      totals.nonInterruptedCodes += r.interruptedCodes.filter((c) => c !== 'STATION_INTERRUPTED').length;
      notes.push(...r.notes.map((n) => `run ${i}: ${n}`));
    } catch (e) {
      totals.failedResumes++;
      notes.push(`run ${i}: ${(e as Error).message.slice(0, 300)}`);
    }
    totals.runs++;
    totals.units += MIXED_UNITS;
    process.stderr.write(`run ${totals.runs}/${runs}: kills ${totals.kills}, lost ${totals.unitsLost}, reflashed ${totals.unitsReflashed}, failed resumes ${totals.failedResumes}\n`);
  }
}
await Promise.all(Array.from({ length: parallel }, () => worker()));
console.log(JSON.stringify({ ...totals, failedCodes, parallel, seconds: Math.round((Date.now() - t0) / 1000), notes: notes.slice(0, 20) }));
