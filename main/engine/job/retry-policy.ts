/**
 * Retry policy: one frozen object of knobs, and the pure decision "retry after how long, or
 * give up" for a failed attempt. Classification comes from the error catalog's stage.
 */
import type { RetryPolicyView } from '../../contract/dto.js';
import { catalogEntry, type StationError } from '../errors.js';

export type RetryPolicy = Readonly<RetryPolicyView & {
  /** Per stage cap on attempts (connect failures are cheap, verify failures mean re-sending everything). */
  maxPerStage: Readonly<{ connect: number; transfer: number; verify: number }>;
}>;

export const DEFAULT_RETRY: RetryPolicyView = { maxAttempts: 3, backoffMs: 500, backoffMaxMs: 10_000 };

export function retryPolicy(view: Partial<RetryPolicyView> = {}): RetryPolicy {
  const v = { ...DEFAULT_RETRY, ...view };
  return Object.freeze({ ...v, maxPerStage: Object.freeze({ connect: v.maxAttempts, transfer: v.maxAttempts, verify: v.maxAttempts }) });
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * @param attempt the attempt that just failed (1-based)
 * @param stageFailures failures so far per stage, including this one
 */
export function decideRetry(err: StationError, attempt: number, stageFailures: Record<string, number>, policy: RetryPolicy): RetryDecision {
  if (!err.retryable) return { retry: false };
  if (attempt >= policy.maxAttempts) return { retry: false };
  const stage = catalogEntry(err.code).stage;
  if (stage !== 'none' && (stageFailures[stage] ?? 0) >= policy.maxPerStage[stage]) return { retry: false };
  const delayMs = Math.min(policy.backoffMaxMs, policy.backoffMs * 2 ** (attempt - 1));
  return { retry: true, delayMs };
}
