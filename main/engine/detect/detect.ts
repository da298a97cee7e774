/**
 * Protocol auto-detection (issue 4 §3): a short, safe probe that tells a YMODEM bootloader (it
 * sends lone `C`s) or application console (answers `ver`), a QuecThing MCU (it speaks AT to its
 * module) and an LLSync peripheral (its advertisement) apart. Listens first and only then sends
 * one harmless console query; never sends anything an MCU or a loader could act on.
 * Resolves `…:auto` targets to concrete ones before a batch is created; a per-port override wins.
 * Must not import the journal, jobs or batches, nor electron (it only probes and resolves targets).
 */
import type { ProtocolId } from '../../contract/dto.js';
import { StationError } from '../errors.js';
import { openSerialLink } from '../transport/serial/serial-transport.js';
import type { Link } from '../transport/types.js';
import { stashProbeTraffic } from './replay.js';

export interface ProbeResult {
  protocol: ProtocolId | null;
  /** What gave it away, for the operator and the RMA log. */
  evidence: string;
  /** Set when the probe also read a version (application console). */
  version?: string;
  /** True when only a bootloader answered (application dead). */
  bootloaderOnly?: boolean;
  /** Every byte the unit sent during the probe (an AT MCU's commands must be answered later, issue 9 §6). */
  heard?: Uint8Array;
}

export interface SerialProbeOptions {
  /** Passive listening first: an MCU polls `AT`, a loader repeats `C` (ST ~1 s, sim 0.1 s). */
  listenMs?: number;
  /** The one active probe: the serial product console's version query (ymodem profile). */
  consoleQuery?: string;
  replyMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_LISTEN_MS = 2500;
const DEFAULT_CONSOLE_QUERY = 'ver\r\n';
const DEFAULT_REPLY_MS = 800;
const MAX_PROBE_TEXT = 8192;
const NAK = 0x15;

/** Pure: classify what a serial unit sent on its own or in answer to the console query. */
export function classifySerialText(text: string): ProbeResult | null {
  const ver = /^VER\s+(\S+)/m.exec(text);
  if (ver) return { protocol: 'ymodem', evidence: 'application console answered the version query', version: ver[1] };
  if (/(^|[\r\n])AT[^\r\n]*[\r\n]/i.test(text)) return { protocol: 'quecthing-sota', evidence: 'the unit sends AT commands to its (absent) module' };
  // A lone C (not inside a word such as "(C) COPYRIGHT" or "ACCESS") or a NAK: a receiving loader.
  if (/(^|[^A-Za-z0-9(])C+(?![A-Za-z0-9)])/.test(text) || text.includes(String.fromCharCode(NAK))) {
    return { protocol: 'ymodem', evidence: 'a bootloader is requesting a file (C)', bootloaderOnly: true };
  }
  return null;
}

/** Probe an open serial link: listen, then (only if nothing was heard) ask the console once. */
export async function probeSerialLink(link: Link, opts: SerialProbeOptions = {}): Promise<ProbeResult> {
  let text = '';
  const raw: number[] = [];
  const off = link.onData((c) => {
    for (const b of c) {
      text += String.fromCharCode(b);
      if (raw.length < MAX_PROBE_TEXT) raw.push(b);
    }
    if (text.length > MAX_PROBE_TEXT) text = text.slice(-MAX_PROBE_TEXT);
  });
  const withHeard = (r: ProbeResult): ProbeResult => ({ ...r, heard: Uint8Array.from(raw) });
  try {
    const listen = opts.listenMs ?? DEFAULT_LISTEN_MS;
    const found = await watch(() => classifySerialText(text), listen, opts.signal);
    if (found) return withHeard(found);
    await link.write(ascii(opts.consoleQuery ?? DEFAULT_CONSOLE_QUERY), opts.signal);
    const answered = await watch(() => classifySerialText(text), opts.replyMs ?? DEFAULT_REPLY_MS, opts.signal);
    if (answered) return withHeard(answered);
    return { protocol: null, evidence: text.length ? `unrecognised traffic (${text.length} bytes)` : 'silent' };
  } finally {
    off();
  }
}

/** An advertisement as a BLE scan reports it (noble's `advertisement`, or the sim's). */
export interface Advertisement {
  localName?: string;
  serviceUuids?: string[];
  manufacturerData?: Uint8Array;
}

/** llsync-ota.md §2: 16-bit service 0xFFE0 and manufacturer data of company 0xFEE7 (little-endian). */
export function detectFromAdvertisement(adv: Advertisement): ProbeResult {
  const uuids = (adv.serviceUuids ?? []).map((u) => u.toLowerCase().replace(/-/g, ''));
  const hasService = uuids.some((u) => u === 'ffe0' || u === '0000ffe000001000800000805f9b34fb');
  const md = adv.manufacturerData;
  const tencent = md !== undefined && md.length >= 3 && md[0] === 0xe7 && md[1] === 0xfe;
  if (hasService && tencent) return { protocol: 'llsync-ota', evidence: 'advertises service FFE0 with Tencent (0xFEE7) manufacturer data' };
  return { protocol: null, evidence: hasService ? 'service FFE0 without Tencent manufacturer data' : 'no LLSync advertisement' };
}

export interface ResolveOptions {
  /** Per-port (or BLE id) protocol that skips the probe. */
  overrides?: Record<string, ProtocolId>;
  /** Advertisements by BLE id, from a scan (the BLE transport owns scanning). */
  advertisements?: Record<string, Advertisement>;
  probe?: SerialProbeOptions;
  /** Opens a serial port for the probe (default: the real serialport transport). */
  openSerial?: (path: string, baudRate: number) => Promise<Link>;
  /** Called once per auto target with what was decided. */
  onResolved?: (target: string, result: ProbeResult, resolved: string) => void;
}

/**
 * `serial:PATH[@BAUD]:auto` and `ble:ID:auto` → concrete targets (same syntax, real protocol).
 * Other targets pass through. Throws DETECT_UNKNOWN naming the port when a probe cannot tell.
 */
export async function resolveAutoTargets(targets: string[], opts: ResolveOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (const t of targets) {
    if (!t.endsWith(':auto')) {
      out.push(t);
      continue;
    }
    const head = t.slice(0, -':auto'.length);
    const colon = head.indexOf(':');
    const kind = head.slice(0, colon);
    const addr = head.slice(colon + 1);
    let result: ProbeResult;
    if (kind === 'serial') {
      const m = /^(.+?)(?:@(\d+))?$/.exec(addr);
      const path = m?.[1] ?? '';
      const baud = m?.[2] ? Number(m[2]) : 115200;
      const forced = opts.overrides?.[path];
      if (forced) result = { protocol: forced, evidence: 'per-port override' };
      else {
        const link = await (opts.openSerial ?? ((p, b) => openSerialLink(p, { baudRate: b })))(path, baud);
        try {
          result = await probeSerialLink(link, opts.probe);
        } finally {
          await link.close();
        }
        // The MCU sent those commands once and waits for their answers: the session replays them.
        if (result.protocol === 'quecthing-sota' && result.heard) stashProbeTraffic(path, result.heard);
      }
    } else if (kind === 'ble') {
      const forced = opts.overrides?.[addr] ?? opts.overrides?.[addr.toLowerCase()];
      const adv = opts.advertisements?.[addr] ?? opts.advertisements?.[addr.toLowerCase()];
      if (forced) result = { protocol: forced, evidence: 'per-unit override' };
      else if (adv) result = detectFromAdvertisement(adv);
      else result = { protocol: null, evidence: 'not seen in the BLE scan' };
    } else {
      throw new StationError('CONFIG_INVALID', `target "${t}": auto-detection works for serial and ble targets`);
    }
    if (!result.protocol) throw new StationError('DETECT_UNKNOWN', `${head}: ${result.evidence}`, { unitId: head, retryable: false });
    const resolved = `${head}:${result.protocol}`;
    opts.onResolved?.(t, result, resolved);
    out.push(resolved);
  }
  return out;
}

function watch(check: () => ProbeResult | null, ms: number, signal?: AbortSignal): Promise<ProbeResult | null> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (signal?.aborted) return reject(signal.reason);
      const r = check();
      if (r || Date.now() - started >= ms) return resolve(r);
      setTimeout(tick, 20);
    };
    tick();
  });
}

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}
