/**
 * MES hooks: the optional pre-flight check per unit (allow/deny, optional profile and package;
 * timeouts and errors follow the configured policy), and the result hook per unit and per batch,
 * delivered from the journal's durable mes_outbox with retries and backoff, HMAC-SHA256 signed,
 * each POST carrying a stable delivery id the MES deduplicates on. Never blocks a batch.
 */
import crypto from 'node:crypto';
import type { BatchView, JobView } from '../../contract/dto.js';
import type { Outbox } from './outbox.js';
import { Napper } from './napper.js';

export interface MesConfig {
  /** Pre-flight URL: POST per unit before it starts. Unset = no pre-flight. */
  preflightUrl?: string;
  /** Result URL: POST per unit result and per finished batch. Unset = no result hook. */
  resultUrl?: string;
  /** Shared secret for the HMAC-SHA256 signature header (required with resultUrl). */
  secret?: string;
  /** What a pre-flight that times out or errors means: `block` (default, fail closed) or `allow`. */
  onError?: 'block' | 'allow';
  /** Per request (default 3000 ms). */
  timeoutMs?: number;
  /** Result hook backoff: first retry after retryBaseMs, doubling up to retryMaxMs. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export const SIGNATURE_HEADER = 'x-flashline-signature';
export const DELIVERY_HEADER = 'x-flashline-delivery';

/** What the MES said about one unit (or what the policy decided for it). */
export interface PreflightDecision {
  allow: boolean;
  /** Deny reason from the MES, or why the policy decided. */
  reason?: string;
  /** `MES_DENIED` (the MES said no) or `MES_UNREACHABLE` (timeout/error, policy applied). */
  errorCode?: 'MES_DENIED' | 'MES_UNREACHABLE';
  /** Shown on the unit when it goes ahead anyway (policy allow after an MES error). */
  note?: string;
  /** Product profile id the MES wants for this unit. */
  profileId?: string;
  /** Package id (as loaded on this station) the MES wants for this unit. */
  packageId?: string;
}

/** Problems with a MES configuration, checked when the station starts (every option is checked). */
export function mesConfigProblems(c: MesConfig): string[] {
  const out: string[] = [];
  for (const [k, v] of [['preflightUrl', c.preflightUrl], ['resultUrl', c.resultUrl]] as const) {
    if (v === undefined) continue;
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') out.push(`mes.${k} must be an http(s) URL`);
    } catch {
      out.push(`mes.${k} "${v}" is not a URL`);
    }
  }
  if (c.resultUrl && !c.secret) out.push('mes.secret is required with mes.resultUrl (results are HMAC-signed)');
  if (c.onError !== undefined && c.onError !== 'block' && c.onError !== 'allow') out.push('mes.onError must be "block" or "allow"');
  for (const k of ['timeoutMs', 'retryBaseMs', 'retryMaxMs'] as const) {
    const v = c[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 600_000)) out.push(`mes.${k} must be an integer 1..600000`);
  }
  return out;
}

export function sign(secret: string, body: string): string {
  return 'sha256=' + crypto.createHmac('sha256', secret).update(body).digest('hex');
}

/** For receivers (and tests): constant-time check of a signature header. */
export function verifySignature(secret: string, body: string, header: string | undefined): boolean {
  if (!header) return false;
  const want = Buffer.from(sign(secret, body));
  const got = Buffer.from(header);
  return want.length === got.length && crypto.timingSafeEqual(want, got);
}

async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, text: await res.text() };
}

/** Ask the MES about one unit. Never throws: errors and timeouts become the policy's decision. */
export async function preflight(config: MesConfig, stationId: string, job: JobView, batch: BatchView): Promise<PreflightDecision> {
  if (!config.preflightUrl) return { allow: true };
  const comp = batch.packageInfo.components[0];
  const body = JSON.stringify({
    stationId,
    batchId: batch.batchId,
    jobId: job.jobId,
    serialNumber: job.unit.serialNumber ?? null,
    unitId: job.unit.unitId,
    address: job.unit.address,
    protocol: job.unit.protocol,
    product: comp?.component ?? null,
    package: { id: batch.packageInfo.id, component: comp?.component ?? null, version: comp?.version ?? null },
  });
  const timeoutMs = config.timeoutMs ?? 3000;
  const headers: Record<string, string> = config.secret ? { [SIGNATURE_HEADER]: sign(config.secret, body) } : {};
  let problem: string;
  try {
    const res = await post(config.preflightUrl, body, headers, timeoutMs);
    if (res.status >= 200 && res.status < 300) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(res.text) as Record<string, unknown>;
      } catch {
        parsed = {};
      }
      if (typeof parsed.allow === 'boolean') {
        if (!parsed.allow) {
          const reason = typeof parsed.reason === 'string' && parsed.reason ? parsed.reason : 'no reason given';
          return { allow: false, errorCode: 'MES_DENIED', reason: `MES denied: ${reason}` };
        }
        const d: PreflightDecision = { allow: true };
        if (typeof parsed.profileId === 'string' && parsed.profileId) d.profileId = parsed.profileId;
        if (typeof parsed.packageId === 'string' && parsed.packageId) d.packageId = parsed.packageId;
        return d;
      }
      problem = 'answer has no boolean "allow"';
    } else problem = `HTTP ${res.status}`;
  } catch (e) {
    const err = e as Error;
    problem = err.name === 'TimeoutError' || err.name === 'AbortError' ? `no answer in ${timeoutMs} ms` : (err.cause as Error | undefined)?.message ?? err.message;
  }
  const policy = config.onError ?? 'block';
  if (policy === 'allow') return { allow: true, errorCode: 'MES_UNREACHABLE', note: `MES pre-flight failed (${problem}); flashed by policy "allow"` };
  return { allow: false, errorCode: 'MES_UNREACHABLE', reason: `MES pre-flight failed (${problem}); not flashed by policy "block"` };
}

export interface MesStatus {
  resultsWaiting: number;
  delivered: number;
  lastDeliveredAt?: string;
  lastError?: string;
}

/** Delivers mes_outbox events to the result URL, oldest first, each retried with backoff until the MES says 2xx. */
export class MesDeliverer {
  private stopped = false;
  private loop: Promise<void> | null = null;
  private readonly napper = new Napper();
  private st: MesStatus = { resultsWaiting: 0, delivered: 0 };

  constructor(private readonly outbox: Outbox, private readonly config: MesConfig, private readonly pollMs = 200) {}

  start(): void {
    if (this.loop || !this.config.resultUrl) return;
    this.stopped = false;
    this.loop = this.run();
  }

  poke(): void {
    this.napper.wake();
  }

  status(): MesStatus {
    let waiting = this.st.resultsWaiting;
    try {
      waiting = this.outbox.mesWaiting();
    } catch {
      /* journal closed */
    }
    return { ...this.st, resultsWaiting: waiting };
  }

  async stop(drainMs = 0): Promise<void> {
    const until = Date.now() + drainMs;
    while (this.loop && Date.now() < until && this.status().resultsWaiting > 0) {
      this.poke();
      await new Promise((r) => setTimeout(r, 100));
    }
    this.stopped = true;
    this.poke();
    await this.loop;
    this.loop = null;
  }

  private async run(): Promise<void> {
    const url = this.config.resultUrl!;
    const secret = this.config.secret ?? '';
    const timeoutMs = this.config.timeoutMs ?? 3000;
    const base = this.config.retryBaseMs ?? 500;
    const max = this.config.retryMaxMs ?? 60_000;
    let downMs = 0; // while the MES fails, the whole hook waits (doubling), not only that event
    while (!this.stopped) {
      let due: ReturnType<Outbox['mesDue']> = [];
      try {
        due = this.outbox.mesDue(Date.now(), 50);
      } catch (e) {
        this.st.lastError = (e as Error).message;
      }
      for (const ev of due) {
        if (this.stopped) break;
        const body = JSON.stringify({ id: ev.id, kind: ev.kind, attempt: ev.attempts + 1, ...JSON.parse(ev.payloadJson) });
        try {
          const res = await post(url, body, { [SIGNATURE_HEADER]: sign(secret, body), [DELIVERY_HEADER]: ev.id }, timeoutMs);
          if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
          this.outbox.mesDelivered(ev.seq);
          this.st.delivered++;
          this.st.lastDeliveredAt = new Date().toISOString();
          this.st.lastError = undefined;
          downMs = 0;
        } catch (e) {
          const err = e as Error;
          const msg = err.name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err.cause as Error | undefined)?.message ?? err.message;
          this.st.lastError = `MES result hook: ${msg}`;
          const delay = Math.min(max, base * 2 ** Math.min(ev.attempts, 20));
          downMs = Math.min(max, downMs ? downMs * 2 : base);
          try {
            this.outbox.mesFailed(ev.seq, Date.now() + delay, msg);
          } catch {
            /* journal closed while stopping */
          }
          // The MES is down: stop hammering it this round; later events wait their turn.
          break;
        }
      }
      let sleepMs = this.pollMs;
      try {
        const next = this.outbox.mesNextAt();
        if (next !== null) sleepMs = Math.max(20, Math.min(this.pollMs * 5, next - Date.now()));
      } catch {
        /* closed */
      }
      await this.sleep(Math.max(sleepMs, downMs));
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.stopped ? Promise.resolve() : this.napper.sleep(ms);
  }
}
