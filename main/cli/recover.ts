/**
 * `flashline recover` (RMA, issue 4 §4) and `flashline detect`, plus the `…:auto` target step
 * `flash` runs before it creates a batch. Prints each recovery step as it happens; with --json
 * the last line of stdout is one JSON object.
 */
import path from 'node:path';
import type { ProtocolId } from '../contract/dto.js';
import { PROTOCOL_IDS } from '../contract/dto.js';
import { resolveAutoTargets, probeSerialLink } from '../engine/detect/detect.js';
import { StationError } from '../engine/errors.js';
import { Engine } from '../engine/engine.js';
import type { RecoverResult, RecoverStep } from '../engine/rma/recover.js';
import { openSerialLink } from '../engine/transport/serial/serial-transport.js';

export interface RecoverArgs {
  dataDir: string;
  port?: string;
  packagePath?: string;
  version?: string;
  ticket?: string;
  technician?: string;
  station?: string;
  json: boolean;
  protocolFor?: string[];
  protocolOptions?: Partial<Record<ProtocolId, Record<string, unknown>>>;
}

/** `--protocol-for PATH=PROTOCOL` (repeatable): per-port overrides of auto-detection. */
export function parseProtocolFor(values: string[] = []): Record<string, ProtocolId> {
  const out: Record<string, ProtocolId> = {};
  for (const v of values) {
    const eq = v.lastIndexOf('=');
    const key = v.slice(0, eq);
    const proto = v.slice(eq + 1);
    if (eq <= 0 || !(PROTOCOL_IDS as readonly string[]).includes(proto)) throw new StationError('CONFIG_INVALID', `--protocol-for "${v}": expected PORT=PROTOCOL (${PROTOCOL_IDS.join(', ')})`);
    out[key] = proto as ProtocolId;
  }
  return out;
}

/** The flash command's step for `serial:PATH:auto` / `ble:ID:auto` targets. */
export async function resolveCliTargets(targets: string[], protocolFor: string[] | undefined, out: NodeJS.WritableStream): Promise<string[]> {
  if (!targets.some((t) => t.endsWith(':auto'))) return targets;
  return resolveAutoTargets(targets, {
    overrides: parseProtocolFor(protocolFor),
    onResolved: (t, r, resolved) => out.write(`detect ${t} → ${resolved} (${r.evidence})\n`),
  });
}

export async function cmdRecover(a: RecoverArgs): Promise<number> {
  if (!a.port) throw new StationError('CONFIG_INVALID', 'recover needs --port PATH[@BAUD]');
  if (!a.packagePath) throw new StationError('CONFIG_INVALID', 'recover needs --golden FILE (or --package FILE)');
  if (!a.ticket) throw new StationError('CONFIG_INVALID', 'recover needs --ticket RMA_NUMBER');
  const m = /^(.+?)(?:@(\d+))?$/.exec(a.port);
  const port = m?.[1] ?? a.port;
  const baudRate = m?.[2] ? Number(m[2]) : undefined;
  const overrides = parseProtocolFor(a.protocolFor);
  const out = a.json ? process.stderr : process.stdout;
  const t0 = Date.now();
  const onStep = (s: RecoverStep) => {
    const mark = s.status === 'ok' ? '✔' : s.status === 'failed' ? '✘' : s.status === 'start' ? '▶' : '·';
    out.write(`${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${mark} ${s.step.padEnd(8)} ${s.text}\n`);
  };
  const engine = Engine.open({ dataDir: a.dataDir, stationId: a.station, protocolOptions: a.protocolOptions });
  let r: RecoverResult;
  try {
    r = await engine.recover(
      {
        port,
        baudRate,
        packagePath: path.resolve(a.packagePath),
        version: a.version,
        ticket: a.ticket,
        technician: a.technician ?? process.env.USER ?? 'technician',
        protocol: overrides[port],
      },
      onStep,
    );
  } finally {
    await engine.close();
  }
  out.write(r.ok ? `recovered: RMA ${r.ticket} on ${r.port} over ${r.protocol} (job ${r.jobId})\n` : `NOT recovered: RMA ${r.ticket} on ${r.port} (job ${r.jobId}); the raw trace is in the journal\n`);
  if (a.json) {
    const j = r.job;
    process.stdout.write(
      JSON.stringify({ ok: r.ok, ticket: r.ticket, technician: r.technician, port: r.port, protocol: r.protocol, evidence: r.probe.evidence, batchId: r.batchId, jobId: r.jobId, result: j.result ?? null, code: j.errorCode ?? null, versionBefore: j.versionBefore ?? null, versionAfter: j.versionAfter ?? null, sentCrc32: j.sent.crc32 ?? null, confirmedCrc32: j.confirmed.crc32 ?? null, traceBytes: r.traceBytes }) + '\n',
    );
  }
  return r.ok ? 0 : 1;
}

/** `flashline detect --port PATH[@BAUD]`: probe one serial port and say what answers. */
export async function cmdDetect(a: { port?: string; json: boolean }): Promise<number> {
  if (!a.port) throw new StationError('CONFIG_INVALID', 'detect needs --port PATH[@BAUD]');
  const m = /^(.+?)(?:@(\d+))?$/.exec(a.port);
  const link = await openSerialLink(m?.[1] ?? a.port, { baudRate: m?.[2] ? Number(m[2]) : 115200 });
  try {
    const r = await probeSerialLink(link);
    if (a.json) console.log(JSON.stringify(r));
    else console.log(r.protocol ? `${a.port}: ${r.protocol} — ${r.evidence}${r.version ? `, version ${r.version}` : ''}` : `${a.port}: not recognised — ${r.evidence}`);
    return r.protocol ? 0 : 1;
  } finally {
    await link.close();
  }
}
