// The plan being built: target strings (resolved by the station, so sim ids never collide),
// serial numbers bound by barcode, lists, gate, policy, caps, retries, stop-the-line.
import { defineStore } from 'pinia';
import { useScanStore } from './scan.js';
import { computed, reactive, ref, shallowRef } from 'vue';
import type { BatchView, ErrorView, Plan, UnitRef } from '../../main/contract/dto.js';
import type { PlanInput, ScanResult } from '../../main/contract/ipc.js';
import { bridge } from '../bridge.js';

export interface PlanForm {
  allowText: string;
  denyText: string;
  skipIfAtTarget: boolean;
  minBatteryPct: number | null;
  minRssiDbm: number | null;
  globalConcurrency: number;
  perBleAdapter: number;
  retries: number;
  backoffMs: number;
  stopAfterFailures: number | null;
  /** Keep the virtual units' memory (version, counters) from earlier batches; off = fresh devices per batch. */
  keepSimState: boolean;
}

/** A short id for one batch's virtual devices (pure apart from randomness). */
export function newSimInstance(): string {
  return Math.random().toString(36).slice(2, 8);
}

/**
 * Virtual units for a new batch (pure): unless asked to keep their state, each gets fresh devices
 * (a new instance) and a serial number no earlier batch used; a barcode-bound serial number stays.
 */
export function freshSimUnits(units: UnitRef[], instance: string, bound: ReadonlySet<string> = new Set()): UnitRef[] {
  return units.map((u) => {
    if (!u.sim) return u;
    const sn = bound.has(u.unitId) ? u.serialNumber : `${u.sim.serialNumber ?? u.serialNumber ?? u.unitId}-${instance}`;
    return { ...u, ...(sn ? { serialNumber: sn } : {}), sim: { ...u.sim, instance, ...(sn ? { serialNumber: sn } : {}) } };
  });
}

/** Stop-the-line is on by default: the batch pauses after this many failures in a row. */
export const DEFAULT_STOP_AFTER_FAILURES = 5;

export function splitList(text: string): string[] {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}

/** The form → the plan the station validates again (pure). */
export function planFromForm(f: PlanForm): Partial<Omit<Plan, 'packageId' | 'units'>> {
  const allow = splitList(f.allowText);
  const deny = splitList(f.denyText);
  return {
    ...(allow.length ? { allow } : {}),
    ...(deny.length ? { deny } : {}),
    versionGate: { skipIfAtTarget: f.skipIfAtTarget },
    policy: {
      ...(f.minBatteryPct !== null ? { minBatteryPct: f.minBatteryPct } : {}),
      ...(f.minRssiDbm !== null ? { minRssiDbm: f.minRssiDbm } : {}),
    },
    concurrency: { global: f.globalConcurrency, perBleAdapter: f.perBleAdapter },
    retry: { maxAttempts: f.retries + 1, backoffMs: f.backoffMs, backoffMaxMs: Math.max(f.backoffMs, 5000) },
    ...(f.stopAfterFailures ? { stopTheLine: { consecutiveFailures: f.stopAfterFailures } } : {}),
  };
}

export const usePlanStore = defineStore('plan', () => {
  const targets = ref<string[]>([]);
  const units = ref<UnitRef[]>([]);
  const serialNumbers = ref<Record<string, string>>({});
  const error = ref<ErrorView | null>(null);
  const scan = ref<ScanResult | null>(null);
  const scanning = ref(false);
  const form = reactive<PlanForm>({
    allowText: '', denyText: '', skipIfAtTarget: true, minBatteryPct: null, minRssiDbm: null,
    globalConcurrency: 64, perBleAdapter: 6, retries: 2, backoffMs: 300, stopAfterFailures: DEFAULT_STOP_AFTER_FAILURES, keepSimState: false,
  });

  const boundUnits = computed<UnitRef[]>(() =>
    units.value.map((u) => {
      const sn = serialNumbers.value[u.unitId];
      return sn ? { ...u, serialNumber: sn, ...(u.sim ? { sim: { ...u.sim, serialNumber: sn } } : {}) } : u;
    }),
  );

  async function resolve(next: string[]): Promise<boolean> {
    const r = await bridge().resolveTargets({ targets: next });
    if (!r.ok) {
      error.value = r.error;
      return false;
    }
    error.value = null;
    targets.value = next;
    units.value = r.value;
    return true;
  }

  const addTarget = (t: string) => resolve([...targets.value, t.trim()]);
  const addSim = (protocol: string, count: number, behaviour: string) => addTarget(`sim:${protocol}:${count}${behaviour && behaviour !== 'accept' ? `:${behaviour}` : ''}`);
  const removeTarget = (i: number) => resolve(targets.value.filter((_, j) => j !== i));
  const clear = () => {
    targets.value = [];
    units.value = [];
    serialNumbers.value = {};
  };
  function bindSerial(unitId: string, sn: string): void {
    serialNumbers.value = { ...serialNumbers.value, [unitId]: sn.trim() };
  }

  async function scanUnits(): Promise<void> {
    scanning.value = true;
    const r = await bridge().scanUnits({});
    scanning.value = false;
    if (r.ok) scan.value = r.value;
    else error.value = r.error;
  }

  /** The last plan that made a batch, for "Repeat last plan" (same package, units and settings). */
  const lastInput = shallowRef<PlanInput | null>(null);

  async function createFrom(input: PlanInput): Promise<BatchView | null> {
    const r = await bridge().createBatch(input);
    if (!r.ok) {
      error.value = r.error;
      return null;
    }
    error.value = null;
    lastInput.value = input;
    return r.value;
  }
  const simUnits = (list: UnitRef[], bound: ReadonlySet<string>) => (form.keepSimState ? list : freshSimUnits(list, newSimInstance(), bound));
  /** The plan's units as resolved (before fresh instances and barcodes), for repeating the plan. */
  let lastBase: UnitRef[] = [];
  const createBatch = (packageId: string) => {
    lastBase = units.value.slice();
    // A scanned product barcode that an engineer mapped to a product profile uses that profile (issue 13 §3).
    const profileId = useScanStore().profileId;
    return createFrom({ packageId, units: simUnits(boundUnits.value, new Set(Object.keys(serialNumbers.value))), plan: planFromForm(form), ...(profileId ? { profileIds: [profileId] } : {}) });
  };
  /** A new batch from the last plan; serial numbers bound by barcode belong to the old units and are dropped. */
  async function repeatLast(): Promise<BatchView | null> {
    const last = lastInput.value;
    if (!last) return null;
    return createFrom({ ...last, units: simUnits(lastBase, new Set()) });
  }

  return { targets, units, boundUnits, serialNumbers, error, scan, scanning, form, lastInput, resolve, addTarget, addSim, removeTarget, clear, bindSerial, scanUnits, createBatch, repeatLast };
});
