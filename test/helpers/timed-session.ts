/**
 * Runs a protocol session through its steps the way the job runner does, timing the data phase
 * (first data block to last acknowledgement) apart from the whole session. For benchmarks.
 */
import type { HashView } from '../../main/contract/dto.js';
import type { ProtocolSession } from '../../main/engine/protocol/types.js';
import type { Link } from '../../main/engine/transport/types.js';

export interface TimedSession {
  dataMs: number;
  totalMs: number;
  verdict: HashView;
  version: string | undefined;
}

export async function runTimedSession(session: ProtocolSession, link: Link): Promise<TimedSession> {
  const s = new AbortController().signal;
  const t0 = performance.now();
  await session.identify(s);
  await session.negotiate(s);
  const tData = performance.now();
  await session.transfer(0, () => undefined, s);
  const dataMs = performance.now() - tData;
  const verdict = await session.verify(s);
  await session.activate(s);
  const version = await session.confirm(link, s);
  return { dataMs, totalMs: performance.now() - t0, verdict, version };
}
