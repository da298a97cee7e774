/**
 * What a unit said while protocol detection listened (issue 9 §6): an MCU that sends each command
 * once (Quectel's simulator) must not lose the command the probe heard. Detection stashes the
 * bytes per port; the session that opens the port next takes them and answers them as if they
 * had just arrived. In memory, per process; stale entries expire.
 */

/** A stash older than this belongs to an earlier run, not to the session opening now. */
export const PROBE_REPLAY_TTL_MS = 60_000;

const stash = new Map<string, { bytes: Uint8Array; at: number }>();

export function stashProbeTraffic(address: string, bytes: Uint8Array, now = Date.now()): void {
  if (bytes.length === 0) return;
  stash.set(address, { bytes: bytes.slice(), at: now });
}

/** The bytes heard on `address` during detection (once), or undefined. */
export function takeProbeTraffic(address: string, now = Date.now()): Uint8Array | undefined {
  const e = stash.get(address);
  stash.delete(address);
  if (!e || now - e.at > PROBE_REPLAY_TTL_MS) return undefined;
  return e.bytes;
}
