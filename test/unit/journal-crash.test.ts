import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../main/engine/journal/journal.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const writer = fileURLToPath(new URL('../helpers/journal-writer.ts', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Starts the writer, waits until it is journaling, lets it run `runMs`, then SIGKILLs it. */
function writeThenKill(file: string, runMs: number): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) setTimeout(() => child.kill('SIGKILL'), runMs);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal ? resolve(signal) : reject(new Error(`writer exited ${code}: ${stderr}`))));
  });
}

describe('Journal after SIGKILL', () => {
  it.each([37, 151, 300])('is consistent when the writer is killed %i ms into its loop', async (runMs) => {
    const dir = mkdtempSync(join(tmpdir(), 'flashline-crash-'));
    dirs.push(dir);
    const file = join(dir, 'station.db');
    expect(await writeThenKill(file, runMs)).toBe('SIGKILL');

    const j = Journal.open(file);
    try {
      expect(j.pragma('integrity_check')).toBe('ok');
      const jobs = j.getJobs('crash-batch');
      expect(jobs).toHaveLength(8);
      let total = 0;
      for (const job of jobs) {
        const ts = j.getTransitions(job.jobId);
        total += ts.length;
        expect(ts.map((t) => t.seq)).toEqual(ts.map((_, i) => i + 1));
        // The job row and its newest transition were written together or not at all.
        expect(job.state).toBe(ts.at(-1)?.to ?? 'queued');
        expect(job.attempts).toBe(ts.at(-1)?.attempt ?? 0);
        for (let i = 1; i < ts.length; i++) expect(ts[i]!.from).toBe(ts[i - 1]!.to);
      }
      expect(total).toBeGreaterThanOrEqual(500);
      // The hash chain is written in the same transactions: a kill never leaves it broken.
      expect(j.verifyChain()).toMatchObject({ ok: true, errors: [] });
      expect(j.markInterrupted(new Date().toISOString())).toEqual(['crash-batch']);
      expect(j.verifyChain()).toMatchObject({ ok: true, errors: [] });
    } finally {
      j.close();
    }
  });
});
