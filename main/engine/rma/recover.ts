/**
 * RMA recovery (issue 4 §4): one unit at a time — probe which path still answers, identify it,
 * flash a chosen golden image through that path with the normal job runner, verify, and record
 * the ticket, the technician and the full raw protocol trace in the journal. Reports each step
 * as it happens through `onStep`. Owns no protocol: detection and the drivers do the talking.
 */
import type { JobView, ProtocolId } from '../../contract/dto.js';
import { probeSerialLink, type ProbeResult, type SerialProbeOptions } from '../detect/detect.js';
import { Engine } from '../engine.js';
import { StationError } from '../errors.js';
import { openSerialLink } from '../transport/serial/serial-transport.js';
import type { Link, Transport } from '../transport/types.js';
import type { UnitRef } from '../../contract/dto.js';

export type RecoverStepName = 'probe' | 'identify' | 'flash' | 'verify' | 'journal';

export interface RecoverStep {
  step: RecoverStepName;
  status: 'start' | 'progress' | 'ok' | 'failed';
  text: string;
}

export interface RecoverInput {
  dataDir: string;
  port: string;
  baudRate?: number;
  packagePath: string;
  version?: string;
  ticket: string;
  technician: string;
  stationId?: string;
  /** Skip the probe and use this protocol (per-port override). */
  protocol?: ProtocolId;
  protocolOptions?: Partial<Record<ProtocolId, Record<string, unknown>>>;
  probe?: SerialProbeOptions;
  maxAttempts?: number;
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
  job: JobView;
  traceBytes: { tx: number; rx: number };
}

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

/** The serial transport with every link recorded (same ports, same serialport library). */
export class RecordingSerialTransport implements Transport {
  readonly kind = 'serial' as const;
  constructor(private readonly recorder: TraceRecorder, private readonly defaultBaud = 115200) {}
  resourceOf(unit: UnitRef): string {
    return unit.address;
  }
  async open(unit: UnitRef, signal: AbortSignal): Promise<Link> {
    this.recorder.add('note', undefined, `open ${unit.address} for ${unit.protocol}`);
    const link = await openSerialLink(unit.address, { baudRate: unit.baudRate ?? this.defaultBaud, unitId: unit.unitId, signal, traceCapacity: 2000 });
    return this.recorder.wrap(link);
  }
}

export async function recoverUnit(input: RecoverInput, onStep: (s: RecoverStep) => void = () => undefined): Promise<RecoverResult> {
  if (!input.ticket.trim()) throw new StationError('CONFIG_INVALID', 'an RMA ticket number is required');
  if (!input.technician.trim()) throw new StationError('CONFIG_INVALID', 'the technician is required');
  const recorder = new TraceRecorder();
  const baud = input.baudRate ?? 115200;

  // 1. probe: which path still answers
  onStep({ step: 'probe', status: 'start', text: `probing ${input.port} @ ${baud}` });
  let probe: ProbeResult;
  if (input.protocol) probe = { protocol: input.protocol, evidence: 'protocol set by the technician' };
  else {
    const link = recorder.wrap(await openSerialLink(input.port, { baudRate: baud, unitId: `serial:${input.port}` }));
    try {
      probe = await probeSerialLink(link, input.probe);
    } finally {
      await link.close();
    }
  }
  recorder.add('note', undefined, `probe: ${probe.protocol ?? 'unknown'} (${probe.evidence})`);
  if (!probe.protocol) {
    onStep({ step: 'probe', status: 'failed', text: probe.evidence });
    throw new StationError('RMA_NO_PATH', `${input.port}: ${probe.evidence}`, { unitId: `serial:${input.port}` });
  }
  const protocol = probe.protocol;
  onStep({ step: 'probe', status: 'ok', text: `${protocol}: ${probe.evidence}` });

  // 2. identify
  const state = probe.bootloaderOnly ? 'application dead, only the serial bootloader answers' : probe.version ? `application running ${probe.version}` : 'application answers';
  onStep({ step: 'identify', status: 'ok', text: `${state}; recovering over ${protocol}` });

  // 3. flash through that path, with the normal runner (journaled like any job)
  const engine = Engine.open({
    dataDir: input.dataDir,
    stationId: input.stationId,
    operator: input.technician,
    transports: { serial: new RecordingSerialTransport(recorder, baud) },
    protocolOptions: input.protocolOptions,
  });
  try {
    const info = await engine.loadPackage(input.packagePath, { version: input.version });
    const comp = info.components[0]!;
    onStep({ step: 'flash', status: 'start', text: `golden image ${comp.component} ${comp.version}, ${comp.sizeBytes} B, crc32 ${comp.crc32}` });
    const unit: UnitRef = { unitId: `serial:${input.port}`, transport: 'serial', protocol, address: input.port, baudRate: baud, name: `RMA ${input.ticket}` };
    const batch = engine.createBatch({
      packageId: info.id,
      units: [unit],
      // RMA flashes even a unit that claims the target: the technician chose the golden image.
      plan: { versionGate: { skipIfAtTarget: false }, retry: { maxAttempts: input.maxAttempts ?? 2, backoffMs: 500, backoffMaxMs: 2000 }, concurrency: { global: 1, perBleAdapter: 1 } },
    });
    // Every transition from the journal (events are coalesced and may skip a short state).
    const jobId = engine.getJobs(batch.batchId)[0]!.jobId;
    let lastSeq = 0;
    let lastPct = -1;
    const off = engine.subscribe(batch.batchId, (e) => {
      for (const t of engine.getTransitions(jobId)) {
        if (t.seq <= lastSeq) continue;
        lastSeq = t.seq;
        onStep({ step: 'flash', status: 'progress', text: `${t.to}${t.attempt > 1 ? ` (attempt ${t.attempt})` : ''}${t.errorCode ? ` ${t.errorCode}: ${t.message ?? ''}` : ''}` });
      }
      const j = e.jobs[0];
      const pct = j && j.totalBytes ? Math.floor((j.progressBytes * 10) / j.totalBytes) * 10 : 0;
      if (j?.state === 'transferring' && pct !== lastPct) {
        lastPct = pct;
        onStep({ step: 'flash', status: 'progress', text: `transferring ${pct} % (${j.progressBytes}/${j.totalBytes} B)` });
      }
    });
    engine.startBatch(batch.batchId);
    await engine.waitForBatch(batch.batchId);
    off();
    const job = engine.getJobs(batch.batchId)[0]!;
    const ok = job.state === 'passed';
    onStep({ step: 'flash', status: ok ? 'ok' : 'failed', text: ok ? `flashed in ${job.attempts} attempt(s)` : `${job.errorCode ?? job.result}: ${job.message ?? ''}` });

    // 4. verify: what the device confirmed against what was sent
    const crcOk = job.confirmed.crc32 === undefined || job.confirmed.crc32 === job.sent.crc32;
    const verified = ok && crcOk && job.versionAfter === comp.version;
    onStep({
      step: 'verify',
      status: verified ? 'ok' : 'failed',
      text: `sent crc32 ${job.sent.crc32}, device ${job.confirmed.crc32 ?? 'n/a'}; version ${job.versionBefore ?? '?'} → ${job.versionAfter ?? '?'} (target ${comp.version})`,
    });

    // 5. journal: ticket, technician and the full raw trace on the job's row
    const record: RmaRecord = { ticket: input.ticket, technician: input.technician, probe, trace: recorder.entries };
    engine.journal.saveRma(job.jobId, input.ticket, JSON.stringify(record));
    onStep({ step: 'journal', status: 'ok', text: `ticket ${input.ticket}, technician ${input.technician}, ${recorder.entries.length} trace entries (${recorder.tx} B tx, ${recorder.rx} B rx) on job ${job.jobId}` });
    return { ok: verified, ticket: input.ticket, technician: input.technician, port: input.port, protocol, probe, batchId: batch.batchId, jobId: job.jobId, job, traceBytes: { tx: recorder.tx, rx: recorder.rx } };
  } finally {
    await engine.close();
  }
}

/** Readable lines of a recorded raw trace (hex kept whole). */
export function formatRawTrace(entries: RawTraceEntry[]): string[] {
  return entries.map((e) => `${e.tMs.toFixed(1).padStart(9)} ${e.dir.padEnd(4)} ${e.hex ?? e.text ?? ''}`);
}
