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
