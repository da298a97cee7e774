// Display formatting shared by the screens (pure).
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatRate(bytesPerSec: number | undefined): string {
  return bytesPerSec ? `${(bytesPerSec / 1000).toFixed(1)} kB/s` : '';
}

/** Seconds left at the current rate, as m:ss; '' when unknown. */
export function formatEta(remainingBytes: number, bytesPerSec: number | undefined): string {
  if (!bytesPerSec || remainingBytes <= 0) return '';
  const s = Math.ceil(remainingBytes / bytesPerSec);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function durationSec(startedAt?: string, endedAt?: string): number | null {
  if (!startedAt || !endedAt) return null;
  return Math.max(0, (Date.parse(endedAt) - Date.parse(startedAt)) / 1000);
}

/** A unit's short name for the board: the number after '#', else the last 8 characters. */
export function shortName(j: { unit: { name?: string; unitId: string } }): string {
  const name = j.unit.name ?? j.unit.unitId;
  const m = /#\s*(\d+)$/.exec(name);
  return m ? m[1]! : name.length > 8 ? name.slice(-8) : name;
}

/**
 * Every failed attempt's cause, consecutive equal codes grouped (issue 9 §1):
 * "attempt 1: SOTA_READ_TIMEOUT; attempt 2–3: DEVICE_NOT_RESPONDING" (labels from i18n).
 */
export function formatAttemptCauses(causes: readonly { attempt: number; code: string }[], label: (range: string) => string): string {
  const groups: { from: number; to: number; code: string }[] = [];
  for (const c of causes) {
    const last = groups[groups.length - 1];
    if (last && last.code === c.code && c.attempt === last.to + 1) last.to = c.attempt;
    else groups.push({ from: c.attempt, to: c.attempt, code: c.code });
  }
  return groups.map((g) => `${label(g.from === g.to ? String(g.from) : `${g.from}–${g.to}`)}: ${g.code}`).join('; ');
}
