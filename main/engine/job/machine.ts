/**
 * A job's legal state transitions (DESIGN.md "A job's life"). The runner asks before it moves,
 * so a bug cannot journal an impossible history.
 */
import type { JobState } from '../../contract/dto.js';
import { FINAL_STATES } from '../../contract/dto.js';

const NEXT: Record<JobState, readonly JobState[]> = {
  queued: ['connecting', 'skipped', 'cancelled', 'failed'],
  connecting: ['negotiating', 'backoff', 'failed', 'cancelled', 'interrupted'],
  negotiating: ['transferring', 'confirming', 'skipped', 'backoff', 'failed', 'cancelled', 'interrupted'],
  transferring: ['verifying', 'backoff', 'failed', 'cancelled', 'interrupted'],
  verifying: ['activating', 'backoff', 'failed', 'cancelled', 'interrupted'],
  activating: ['confirming', 'backoff', 'failed', 'cancelled', 'interrupted'],
  confirming: ['passed', 'backoff', 'failed', 'cancelled', 'interrupted'],
  backoff: ['queued', 'connecting', 'failed', 'cancelled', 'interrupted'],
  interrupted: ['queued', 'cancelled', 'failed'],
  passed: [],
  failed: ['queued'], // operator retry
  cancelled: ['queued'], // operator retry
  skipped: ['queued'], // operator forces a re-run
};

export function canTransition(from: JobState, to: JobState): boolean {
  return NEXT[from].includes(to);
}

export function isFinal(s: JobState): boolean {
  return FINAL_STATES.includes(s);
}
