/**
 * Loads @abandonware/noble lazily. Its HCI binding opens a Bluetooth socket while the module
 * loads and throws (EAFNOSUPPORT, ENODEV, …) on a machine without an adapter: that becomes a
 * clear "no Bluetooth adapter" state here, never a crash of the station.
 */
import { createRequire } from 'node:module';

export type BleAdapterState =
  | { state: 'no-adapter'; reason: string }
  | { state: 'unknown' | 'poweredOff' | 'poweredOn' | 'unauthorized' | 'unsupported' | 'resetting'; reason?: string };

export interface NobleLike {
  state: string;
  on(event: string, cb: (...args: unknown[]) => void): unknown;
}

let cached: { noble: NobleLike } | { error: string } | null = null;

/** `requireNoble` is injectable so tests can simulate a machine with or without an adapter. */
export function loadNoble(requireNoble: () => unknown = () => createRequire(import.meta.url)('@abandonware/noble')): { noble: NobleLike } | { error: string } {
  if (cached) return cached;
  try {
    const noble = requireNoble() as NobleLike;
    cached = { noble };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    cached = { error: `${err.code ?? 'ERROR'}: ${err.message}` };
  }
  return cached;
}

export function resetNobleForTests(): void {
  cached = null;
}

export function bleAdapterState(requireNoble?: () => unknown): BleAdapterState {
  const r = loadNoble(requireNoble);
  if ('error' in r) return { state: 'no-adapter', reason: `No Bluetooth adapter (${r.error})` };
  const s = r.noble.state;
  if (s === 'poweredOn' || s === 'poweredOff' || s === 'unauthorized' || s === 'unsupported' || s === 'resetting') return { state: s };
  return { state: 'unknown' };
}
