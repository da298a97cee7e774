// Operator or engineer (issue 13 §4): unlocking with the engineer PIN/password gives a session
// token the bridge sends with every call; the station enforces the role, the UI shows locks.
// Also the audit log (engineer actions, batch start/cancel) for History and its export.
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { ErrorView } from '../../main/contract/dto.js';
import type { AuditEntryView, Result, RoleView } from '../../main/contract/ipc.js';
import { bridge, setEngineerToken } from '../bridge.js';

/** The audit log as CSV (pure). */
export function auditCsv(rows: readonly AuditEntryView[]): string {
  const q = (v: string | number | undefined) => {
    const t = String(v ?? '');
    return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  return ['seq,at,role,actor,action,target,detail', ...rows.map((r) => [r.seq, r.at, r.role, r.actor, r.action, r.target, r.detail].map(q).join(','))].join('\n') + '\n';
}

export const useRoleStore = defineStore('role', () => {
  const view = ref<RoleView>({ role: 'operator', secretSet: false, stopAfterFailures: 0 });
  const error = ref<ErrorView | null>(null);
  const audit = shallowRef<AuditEntryView[]>([]);
  const auditError = ref<ErrorView | null>(null);
  /** Engineer controls are open: an engineer is unlocked, or no secret is set yet (first set-up). */
  const canEngineer = computed(() => view.value.role === 'engineer' || !view.value.secretSet);

  function apply(v: RoleView): void {
    if (v.token) setEngineerToken(v.token);
    if (v.role === 'operator') setEngineerToken(null);
    view.value = { role: v.role, secretSet: v.secretSet, stopAfterFailures: v.stopAfterFailures };
  }
  /** A role call's answer: apply the new role view, or keep the error for the screen. */
  function settle(r: Result<RoleView>): boolean {
    if (!r.ok) {
      error.value = r.error;
      return false;
    }
    error.value = null;
    apply(r.value);
    return true;
  }
  async function refresh(): Promise<void> {
    const r = await bridge().roleStatus({});
    if (r.ok && r.value) apply(r.value);
  }
  async function unlock(secret: string): Promise<boolean> {
    return settle(await bridge().unlockEngineer({ secret }));
  }
  async function lock(): Promise<void> {
    const r = await bridge().lockEngineer({});
    setEngineerToken(null);
    if (r.ok && r.value) apply(r.value);
    else view.value = { ...view.value, role: 'operator' };
  }
  async function setSecret(secret: string): Promise<boolean> {
    return settle(await bridge().setEngineerSecret({ secret }));
  }
  async function setStopAfterFailures(failures: number): Promise<boolean> {
    return settle(await bridge().setStopAfterFailures({ failures }));
  }
  async function loadAudit(): Promise<void> {
    const r = await bridge().listAudit({ limit: 500 });
    if (r.ok) {
      audit.value = r.value ?? [];
      auditError.value = null;
    } else auditError.value = r.error;
  }
  return { view, error, audit, auditError, canEngineer, refresh, unlock, lock, setSecret, setStopAfterFailures, loadAudit };
});
