/// <reference lib="dom" />
// Barcode scanners (issue 13 §3). A scanner is a keyboard that types a code fast and ends with
// Enter. Every scan goes to the scan box, wherever the focus was: a product/recipe barcode an
// engineer mapped selects its package (and product profile where the station has them), a
// barcode naming a unit's port/MAC/address arms that unit, anything else is a serial number
// bound to the armed unit or the next unbound one. A scan replaces, never appends; a serial
// number already bound is refused with a clear message.
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { ErrorView, UnitRef } from '../../main/contract/dto.js';
import type { ScanMapping } from '../../main/contract/ipc.js';
import { bridge } from '../bridge.js';
import { usePackagesStore } from './packages.js';
import { usePlanStore } from './plan.js';

/**
 * A scanner's keys come a few ms apart; people type ≥ 80 ms apart. A burst is a scan when its
 * median gap is at most SCAN_GAP_MS (one slow gap, e.g. a busy machine, does not break it) and no
 * gap exceeds SCAN_BREAK_MS.
 */
export const SCAN_GAP_MS = 60;
export const SCAN_BREAK_MS = 3 * SCAN_GAP_MS;
/** A burst shorter than this is not a barcode. */
export const SCAN_MIN_CHARS = 4;

export type ScanOutcome =
  | { kind: 'bound'; unitId: string; code: string }
  | { kind: 'armed'; unitId: string; code: string }
  | { kind: 'product'; code: string; packageId: string; profileId?: string; profileMissing?: boolean }
  | { kind: 'duplicate'; code: string; unitId: string }
  | { kind: 'noUnit'; code: string }
  | { kind: 'unknownPackage'; code: string; packageId: string };

/** The unit a barcode names by port, MAC or address (pure; case-insensitive, ':'/'-' ignored in MACs). */
export function unitNamedBy(code: string, units: readonly UnitRef[]): UnitRef | undefined {
  const norm = (s: string) => s.trim().toLowerCase().replace(/^(port|mac|addr)[:=]/, '');
  const mac = (s: string) => s.replace(/[:-]/g, '');
  const c = norm(code);
  return units.find((u) => [u.address, u.unitId].some((k) => k.toLowerCase() === c || (mac(c).length === 12 && mac(k.toLowerCase()) === mac(c))));
}

/**
 * Watches keystrokes for scanner bursts (pure state machine apart from the clock): feed it every
 * printable key and Enter; it says whether the Enter ends a scan, and the code.
 */
export class BurstDetector {
  private buf = '';
  private gaps: number[] = [];
  private lastMs = -Infinity;
  key(ch: string, atMs: number): void {
    const gap = atMs - this.lastMs;
    if (gap > SCAN_BREAK_MS) {
      this.buf = '';
      this.gaps = [];
    } else this.gaps.push(gap);
    this.buf += ch;
    this.lastMs = atMs;
  }
  /** Enter pressed: the code when what came before was a scanner burst, else null. */
  enter(atMs: number): string | null {
    const sorted = [...this.gaps].sort((a, b) => a - b);
    const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : Infinity;
    const isScan = this.buf.length >= SCAN_MIN_CHARS && median <= SCAN_GAP_MS && atMs - this.lastMs <= SCAN_BREAK_MS;
    const code = this.buf;
    this.buf = '';
    this.gaps = [];
    this.lastMs = -Infinity;
    return isScan ? code : null;
  }
  /** Whether a key now continues the current burst. */
  inBurst(atMs: number): boolean {
    return this.buf.length > 0 && atMs - this.lastMs <= SCAN_BREAK_MS;
  }
}

export const useScanStore = defineStore('scan', () => {
  const box = ref('');
  const last = ref<ScanOutcome | null>(null);
  const armedUnitId = ref<string | null>(null);
  const mappings = ref<ScanMapping[]>([]);
  /** The product profile a product barcode selected (when the station has profiles). */
  const profileId = ref<string | null>(null);

  const error = ref<ErrorView | null>(null);
  async function loadMappings(): Promise<void> {
    const r = await bridge().listScanMappings({});
    if (r.ok) mappings.value = r.value ?? [];
    else error.value = r.error;
  }
  async function saveMappings(list: ScanMapping[]): Promise<boolean> {
    const r = await bridge().setScanMappings({ mappings: list });
    if (!r.ok) {
      error.value = r.error;
      return false;
    }
    error.value = null;
    mappings.value = r.value;
    return true;
  }

  async function selectProduct(code: string, m: ScanMapping): Promise<ScanOutcome> {
    const pkgs = usePackagesStore();
    if (!pkgs.list.some((p) => p.id === m.packageId)) await pkgs.refresh();
    if (!pkgs.list.some((p) => p.id === m.packageId)) return { kind: 'unknownPackage', code, packageId: m.packageId };
    pkgs.selectedId = m.packageId;
    if (!m.profileId) return { kind: 'product', code, packageId: m.packageId };
    // Product profiles come from the station where it has them (`listProfiles`); without, say so.
    const r = await bridge().listProfiles({});
    const found = r.ok && r.value?.some((p) => p.id === m.profileId);
    profileId.value = found ? m.profileId : null;
    return { kind: 'product', code, packageId: m.packageId, profileId: m.profileId, ...(found ? {} : { profileMissing: true }) };
  }

  /** One scan (from the box or redirected from anywhere): the outcome is also kept for the screen. */
  async function submit(raw: string): Promise<ScanOutcome> {
    const code = raw.trim();
    box.value = '';
    const plan = usePlanStore();
    const out = await decide(code, plan);
    last.value = out;
    return out;
  }

  async function decide(code: string, plan: ReturnType<typeof usePlanStore>): Promise<ScanOutcome> {
    const mapped = mappings.value.find((m) => m.barcode === code);
    if (mapped) return selectProduct(code, mapped);
    const named = unitNamedBy(code, plan.units);
    if (named) {
      armedUnitId.value = named.unitId;
      return { kind: 'armed', unitId: named.unitId, code };
    }
    const holder = Object.entries(plan.serialNumbers).find(([, sn]) => sn === code)?.[0] ?? plan.units.find((u) => !plan.serialNumbers[u.unitId] && u.serialNumber === code && !u.sim)?.unitId;
    if (holder) return { kind: 'duplicate', code, unitId: holder };
    const target = armedUnitId.value ?? plan.units.find((u) => !plan.serialNumbers[u.unitId])?.unitId;
    armedUnitId.value = null;
    if (!target) return { kind: 'noUnit', code };
    plan.bindSerial(target, code);
    return { kind: 'bound', unitId: target, code };
  }

  /** A serial number typed or scanned into one unit's field: refused when another unit has it. */
  function bindTo(unitId: string, raw: string): ScanOutcome {
    const code = raw.trim();
    const plan = usePlanStore();
    const holder = Object.entries(plan.serialNumbers).find(([u, sn]) => sn === code && u !== unitId)?.[0];
    const out: ScanOutcome = holder ? { kind: 'duplicate', code, unitId: holder } : { kind: 'bound', unitId, code };
    if (!holder && code) plan.bindSerial(unitId, code);
    last.value = out;
    return out;
  }
  return { bindTo, box, last, armedUnitId, mappings, profileId, error, loadMappings, saveMappings, submit };
});

/** The operator's sentence for a scan outcome (pure over the translator). */
export function scanMessage(o: ScanOutcome, t: (key: string, params?: Record<string, string | number>) => string): { ok: boolean; text: string } {
  switch (o.kind) {
    case 'bound':
      return { ok: true, text: t('scan.bound', { code: o.code, unit: o.unitId }) };
    case 'armed':
      return { ok: true, text: t('scan.armed', { unit: o.unitId }) };
    case 'product':
      return o.profileMissing ? { ok: false, text: t('scan.productNoProfile', { code: o.code, profile: o.profileId ?? '' }) } : { ok: true, text: t('scan.product', { code: o.code }) };
    case 'duplicate':
      return { ok: false, text: t('scan.duplicate', { code: o.code, unit: o.unitId }) };
    case 'noUnit':
      return { ok: false, text: t('scan.noUnit', { code: o.code }) };
    case 'unknownPackage':
      return { ok: false, text: t('scan.unknownPackage', { code: o.code }) };
  }
}
