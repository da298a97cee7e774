/**
 * Plan policies a protocol can or cannot check (issue 9 §8, policies fail closed). A driver that
 * implements applyPolicy maps the plan's limits into its own options (so the device or the
 * session enforces them) or throws POLICY_UNCHECKABLE; the engine calls it before a batch starts.
 */
import type { PlanPolicy } from '../../contract/dto.js';
import type { ProtocolDriver } from './types.js';

export interface PolicyAware {
  /** Options with the plan's policy applied; throws POLICY_UNCHECKABLE (a StationError) when the profile cannot check it. */
  applyPolicy(options: Record<string, unknown>, policy: PlanPolicy): Record<string, unknown>;
}

/** The driver's options for this plan: its applyPolicy when it has one, else the options as given. */
export function applyDriverPolicy(driver: ProtocolDriver, options: Record<string, unknown>, policy: PlanPolicy): Record<string, unknown> {
  const d = driver as ProtocolDriver & Partial<PolicyAware>;
  return d.applyPolicy ? d.applyPolicy(options, policy) : options;
}
