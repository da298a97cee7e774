/**
 * RMA recovery (issue 4 §4): one unit at a time — probe which path still answers, identify it,
 * flash a chosen golden image through that path with the normal job runner, verify, and record
 * the ticket, the technician and the full raw protocol trace in the journal. Reports each step
 * as it happens through `onStep`. Owns no protocol and no engine: `Engine.recover` hands it a host.
 * Must not import protocols, virtual units or electron.
 */
import type { BatchEvent, BatchView, JobView, PackageInfo, ProtocolId, TransitionView, UnitRef } from '../../contract/dto.js';
import { probeSerialLink, type ProbeResult, type SerialProbeOptions } from '../detect/detect.js';
import { StationError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import type { Link, Transport } from '../transport/types.js';

export type RecoverStepName = 'probe' | 'identify' | 'flash' | 'verify' | 'journal';

export interface RecoverStep {
  step: RecoverStepName;
  status: 'start' | 'progress' | 'ok' | 'failed';
  text: string;
  /** Set on every step once the one-unit batch exists, so a UI can follow its events. */
  batchId?: string;
  jobId?: string;
}

/** What the technician asks for (the UI's RMA form, `flashline recover`'s flags). */
export interface RecoverRequest {
  port: string;
  baudRate?: number;
  packagePath: string;
  version?: string;
  ticket: string;
  technician: string;
  /** Skip the probe and use this protocol (per-port override). */
  protocol?: ProtocolId;
  probe?: SerialProbeOptions;
  maxAttempts?: number;
}

/** The slice of the Engine a recovery uses; `Engine.recover` provides it. */
export interface RecoveryHost {
  readonly journal: Journal;
  /** The station's serial transport; the recovery wraps it to record every byte. */
  readonly serial: Transport;
  loadPackage(file: string, opts: { version?: string }): Promise<PackageInfo>;
  /** A one-unit batch run by `operator` whose serial links come from `serial` (the recording wrapper). */
  createBatch(input: { packageId: string; units: UnitRef[]; plan: Partial<BatchView['plan']> }, extras: { operator: string; serial: Transport }): BatchView;
  startBatch(batchId: string): void;
  waitForBatch(batchId: string): Promise<BatchView>;
  subscribe(batchId: string, cb: (e: BatchEvent) => void): () => void;
  getTransitions(jobId: string): TransitionView[];
}

export interface RecoverResult {
  ok: boolean;
  ticket: string;
  technician: string;
  port: string;
  protocol: ProtocolId;
  probe: ProbeResult;
  batchId: string;
  jobId: string;
  /** The job as journaled, with its rmaTicket and technician. */
  job: JobView;
  traceBytes: { tx: number; rx: number };
}

/** Retries of an RMA flash: a bench unit on a cable, so few and short. */
const RMA_DEFAULT_ATTEMPTS = 2;
const RMA_BACKOFF_MS = 500;
const RMA_BACKOFF_MAX_MS = 2000;
const PROBE_OPEN_TIMEOUT_MS = 5000;

/** One raw chunk on the wire, complete (the per-attempt TraceRing keeps only a bounded tail). */
export interface RawTraceEntry {
  tMs: number;
  dir: 'tx' | 'rx' | 'note';
  hex?: string;
  text?: string;
}

/** What the journal keeps for an RMA job (jobs.rma_ticket + jobs.notes). */
export interface RmaRecord {
  ticket: string;
  technician: string;
  probe: ProbeResult;
  trace: RawTraceEntry[];
}

/** Records every byte of every link it opens. */
export class TraceRecorder {
  readonly entries: RawTraceEntry[] = [];
  private readonly t0 = performance.now();
  tx = 0;
  rx = 0;
  add(dir: RawTraceEntry['dir'], bytes?: Uint8Array, text?: string): void {
    const tMs = Math.round((performance.now() - this.t0) * 10) / 10;
    if (bytes) {
      if (dir === 'tx') this.tx += bytes.length;
      else this.rx += bytes.length;
      this.entries.push({ tMs, dir, hex: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') });
    } else this.entries.push({ tMs, dir, text });
  }
  /** Wrap a link so every write and every inbound chunk lands here in full. */
  wrap(link: Link): Link {
    link.onData((c) => this.add('rx', c));
    const rec = this;
    return {
      kind: link.kind,
      unitId: link.unitId,
      mtuBytes: link.mtuBytes,
      trace: link.trace,
      get isOpen() {
        return link.isOpen;
      },
      async write(data, signal) {
        rec.add('tx', data);
        return link.write(data, signal);
      },
      onData: (cb) => link.onData(cb),
      onLost: (cb) => link.onLost(cb),
      close: () => link.close(),
    };
  }
}

/** Any transport with every link it opens recorded in full (same ports, same library underneath). */
export class RecordingTransport implements Transport {
  readonly kind: Transport['kind'];
  constructor(private readonly inner: Transport, private readonly recorder: TraceRecorder) {
    this.kind = inner.kind;
  }
  resourceOf(unit: UnitRef): string {
    return this.inner.resourceOf(unit);
  }
  capacityOf(resource: string): number | undefined {
    return this.inner.capacityOf?.(resource);
  }
  async open(unit: UnitRef, signal: AbortSignal): Promise<Link> {
    this.recorder.add('note', undefined, `open ${unit.address} for ${unit.protocol}`);
    return this.recorder.wrap(await this.inner.open(unit, signal));
  }
}

export async function runRecovery(host: RecoveryHost, input: RecoverRequest, onStep: (s: RecoverStep) => void = () => undefined): Promise<RecoverResult> {
  if (!input.ticket?.trim()) throw new StationError('CONFIG_INVALID', 'an RMA ticket number is required');
  if (!input.technician?.trim()) throw new StationError('CONFIG_INVALID', 'the technician is required');
  if (!input.port?.trim()) throw new StationError('CONFIG_INVALID', 'the serial port of the unit is required');
  const recorder = new TraceRecorder();
  const serial = new RecordingTransport(host.serial, recorder);
  const baud = input.baudRate ?? 115200;
  const unitId = `serial:${input.port}`;

  // 1. probe: which path still answers
  onStep({ step: 'probe', status: 'start', text: `probing ${input.port} @ ${baud}` });
  let probe: ProbeResult;
  if (input.protocol) probe = { protocol: input.protocol, evidence: 'protocol set by the technician' };
  else {
    // The probe only needs a byte pipe; the protocol named here is not spoken by it.
    const probeUnit: UnitRef = { unitId, transport: 'serial', protocol: 'ymodem', address: input.port, baudRate: baud };
    const link = await serial.open(probeUnit, AbortSignal.timeout(PROBE_OPEN_TIMEOUT_MS));
    try {
      probe = await probeSerialLink(link, input.probe);
    } finally {
      await link.close();
    }
  }
  recorder.add('note', undefined, `probe: ${probe.protocol ?? 'unknown'} (${probe.evidence})`);
  if (!probe.protocol) {
    onStep({ step: 'probe', status: 'failed', text: probe.evidence });
    throw new StationError('RMA_NO_PATH', `${input.port}: ${probe.evidence}`, { unitId });
  }
  const protocol = probe.protocol;
  onStep({ step: 'probe', status: 'ok', text: `${protocol}: ${probe.evidence}` });

  // 2. identify
  const state = probe.bootloaderOnly ? 'application dead, only the serial bootloader answers' : probe.version ? `application running ${probe.version}` : 'application answers';
  onStep({ step: 'identify', status: 'ok', text: `${state}; recovering over ${protocol}` });

  // 3. flash through that path, with the normal runner (journaled like any job)
  const info = await host.loadPackage(input.packagePath, { version: input.version });
  const comp = info.components[0]!;
  onStep({ step: 'flash', status: 'start', text: `golden image ${comp.component} ${comp.version}, ${comp.sizeBytes} B, crc32 ${comp.crc32}` });
  const unit: UnitRef = { unitId, transport: 'serial', protocol, address: input.port, baudRate: baud, name: `RMA ${input.ticket}` };
  const batch = host.createBatch(
    {
      packageId: info.id,
      units: [unit],
      // RMA flashes even a unit that claims the target: the technician chose the golden image.
      plan: {
        versionGate: { skipIfAtTarget: false },
        retry: { maxAttempts: input.maxAttempts ?? RMA_DEFAULT_ATTEMPTS, backoffMs: RMA_BACKOFF_MS, backoffMaxMs: RMA_BACKOFF_MAX_MS },
        concurrency: { global: 1, perBleAdapter: 1 },
      },
    },
    { operator: input.technician, serial },
  );
  const jobIdOf = host.journal.getJobs(batch.batchId)[0]?.jobId;
  const stepOut = onStep;
  onStep = (st) => stepOut({ ...st, batchId: batch.batchId, jobId: jobIdOf });
  onStep({ step: 'flash', status: 'progress', text: `batch ${batch.batchId} created` });
  // Every transition from the journal (events are coalesced and may skip a short state).
  let jobId = '';
  let lastSeq = 0;
  let lastPct = -1;
  const off = host.subscribe(batch.batchId, (e) => {
    const j = e.jobs[0];
    if (j) jobId = j.jobId;
    if (!jobId) return;
    for (const t of host.getTransitions(jobId)) {
      if (t.seq <= lastSeq) continue;
      lastSeq = t.seq;
      onStep({ step: 'flash', status: 'progress', text: `${t.to}${t.attempt > 1 ? ` (attempt ${t.attempt})` : ''}${t.errorCode ? ` ${t.errorCode}: ${t.message ?? ''}` : ''}` });
    }
    const pct = j && j.totalBytes ? Math.floor((j.progressBytes * 10) / j.totalBytes) * 10 : 0;
    if (j?.state === 'transferring' && pct !== lastPct) {
      lastPct = pct;
      onStep({ step: 'flash', status: 'progress', text: `transferring ${pct} % (${j.progressBytes}/${j.totalBytes} B)` });
    }
  });
  try {
    host.startBatch(batch.batchId);
    await host.waitForBatch(batch.batchId);
  } finally {
    off();
  }
  const flashed = host.journal.getJobs(batch.batchId)[0]!;
  const ok = flashed.state === 'passed';
  onStep({ step: 'flash', status: ok ? 'ok' : 'failed', text: ok ? `flashed in ${flashed.attempts} attempt(s)` : `${flashed.errorCode ?? flashed.result}: ${flashed.message ?? ''}` });

  // 4. verify: what the device confirmed against what was sent
  const crcOk = flashed.confirmed.crc32 === undefined || flashed.confirmed.crc32 === flashed.sent.crc32;
  const verified = ok && crcOk && flashed.versionAfter === comp.version;
  onStep({
    step: 'verify',
    status: verified ? 'ok' : 'failed',
    text: `sent crc32 ${flashed.sent.crc32}, device ${flashed.confirmed.crc32 ?? 'n/a'}; version ${flashed.versionBefore ?? '?'} → ${flashed.versionAfter ?? '?'} (target ${comp.version})`,
  });

  // 5. journal: ticket, technician and the full raw trace on the job's row (the report row shows them)
  const record: RmaRecord = { ticket: input.ticket, technician: input.technician, probe, trace: recorder.entries };
  host.journal.saveRma(flashed.jobId, input.ticket, JSON.stringify(record));
  const job = host.journal.getJob(flashed.jobId) ?? flashed;
  onStep({ step: 'journal', status: 'ok', text: `ticket ${input.ticket}, technician ${input.technician}, ${recorder.entries.length} trace entries (${recorder.tx} B tx, ${recorder.rx} B rx) on job ${job.jobId}` });
  return { ok: verified, ticket: input.ticket, technician: input.technician, port: input.port, protocol, probe, batchId: batch.batchId, jobId: job.jobId, job, traceBytes: { tx: recorder.tx, rx: recorder.rx } };
}

/** Readable lines of a recorded raw trace (hex kept whole). */
export function formatRawTrace(entries: RawTraceEntry[]): string[] {
  return entries.map((e) => `${e.tMs.toFixed(1).padStart(9)} ${e.dir.padEnd(4)} ${e.hex ?? e.text ?? ''}`);
}
