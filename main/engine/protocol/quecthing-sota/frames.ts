/**
 * QuecThing AT codec (quecthing-sota.md §1–§5), both directions: splitting the MCU's command
 * lines, parsing command forms and parameters, and building the module's information lines,
 * URCs and `+QIOTOTARD` data replies; plus the MCU-side reply parser the virtual MCU uses.
 * Pure: no I/O, no timers, no state beyond the explicit parser objects.
 */

export const CR = 0x0d;
export const LF = 0x0a;
const CRLF = '\r\n';
/** §1: cap a command line at ~1 KiB [inferred]; longer input is noise. */
export const MAX_LINE_BYTES = 1024;

/** §3: event type 7 is OTA; type 2/3/6 are registration events with code 10200 [doc]. */
export const EVT_OTA = 7;
export const OTA_PLAN = 10700;
export const OTA_DOWNLOAD_START = 10701;
export const OTA_DOWNLOADING = 10702;
export const OTA_PIECE_READY = 10703;
export const OTA_UPDATING = 10704;
export const OTA_SUCCESS = 10705;
export const OTA_FAILED = 10706;
export const REG_OK = 10200;

// ---- MCU → station: line splitting --------------------------------------------------------

export interface SplitResult {
  lines: string[];
  /** Unterminated bytes to keep for the next chunk. */
  rest: Uint8Array;
  /** Bytes dropped because a line exceeded MAX_LINE_BYTES. */
  droppedBytes: number;
}

/**
 * §1: accept CR, LF or CR LF as a terminator and ignore empty lines. Bytes are kept as latin1
 * so binary noise survives as characters the caller can log and discard.
 */
export function splitLines(pending: Uint8Array, chunk: Uint8Array, maxLine = MAX_LINE_BYTES): SplitResult {
  const buf = concat(pending, chunk);
  const lines: string[] = [];
  let start = 0;
  let dropped = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (b !== CR && b !== LF) continue;
    if (i > start) {
      if (i - start > maxLine) dropped += i - start;
      else lines.push(latin1(buf.subarray(start, i)));
    }
    start = i + 1;
  }
  let rest = buf.subarray(start);
  if (rest.length > maxLine) {
    dropped += rest.length;
    rest = new Uint8Array(0);
  }
  return { lines, rest: rest.slice(), droppedBytes: dropped };
}

// ---- MCU → station: command parsing --------------------------------------------------------

export type AtParam = { kind: 'string'; value: string } | { kind: 'int'; value: number } | { kind: 'raw'; value: string };
export type AtForm = 'exec' | 'test' | 'read' | 'write';

export interface AtCommand {
  /** Upper-cased name after "AT", e.g. "+QIOTOTARD", "E0", "" for a bare AT. */
  name: string;
  form: AtForm;
  params: AtParam[];
  raw: string;
}

export type ParseResult = { ok: true; cmd: AtCommand } | { ok: false; reason: 'not-at' | 'syntax'; detail: string };

/** §1: a command line starts with `AT` (any case); forms `AT+X=?`, `AT+X?`, `AT+X=<p>…`, `AT+X`. */
export function parseCommand(line: string): ParseResult {
  const raw = line.trim();
  if (!/^at/i.test(raw)) return { ok: false, reason: 'not-at', detail: raw.slice(0, 40) };
  const body = raw.slice(2);
  const eq = body.indexOf('=');
  if (eq < 0) {
    if (body.endsWith('?')) return { ok: true, cmd: { name: body.slice(0, -1).toUpperCase(), form: 'read', params: [], raw } };
    return { ok: true, cmd: { name: body.toUpperCase(), form: 'exec', params: [], raw } };
  }
  const name = body.slice(0, eq).toUpperCase();
  const argText = body.slice(eq + 1);
  if (argText === '?') return { ok: true, cmd: { name, form: 'test', params: [], raw } };
  const params = parseParams(argText);
  if (!params.ok) return { ok: false, reason: 'syntax', detail: params.detail };
  return { ok: true, cmd: { name, form: 'write', params: params.params, raw } };
}

/** Comma-separated parameters; "quoted" strings may contain commas; bare integers become ints. */
export function parseParams(text: string): { ok: true; params: AtParam[] } | { ok: false; detail: string } {
  const params: AtParam[] = [];
  let i = 0;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) return { ok: false, detail: 'unterminated string' };
      params.push({ kind: 'string', value: text.slice(i + 1, end) });
      i = end + 1;
    } else {
      let end = text.indexOf(',', i);
      if (end < 0) end = text.length;
      const tok = text.slice(i, end).trim();
      params.push(/^-?\d+$/.test(tok) ? { kind: 'int', value: Number(tok) } : { kind: 'raw', value: tok });
      i = end;
    }
    while (text[i] === ' ') i++;
    if (i >= text.length) return { ok: true, params };
    if (text[i] !== ',') return { ok: false, detail: `unexpected ${JSON.stringify(text[i])} at ${i}` };
    i++;
  }
}

/**
 * §1: the station accepts a quoted integer or an unquoted string, flagging it so the caller can
 * log a warning. Returns null when the parameter cannot be read as the wanted kind.
 */
export function paramInt(p: AtParam | undefined): { value: number; lenient: boolean } | null {
  if (!p) return null;
  if (p.kind === 'int') return { value: p.value, lenient: false };
  if (/^-?\d+$/.test(p.value)) return { value: Number(p.value), lenient: true };
  return null;
}

export function paramString(p: AtParam | undefined): { value: string; lenient: boolean } | null {
  if (!p) return null;
  if (p.kind === 'string') return { value: p.value, lenient: false };
  return { value: String(p.value), lenient: true };
}

// ---- station → MCU: responses and URCs -----------------------------------------------------

/** §1: every information line and final result is wrapped CR LF <text> CR LF. */
export function infoLine(text: string): string {
  return `${CRLF}${text}${CRLF}`;
}

export function finalResult(ok: boolean): string {
  return infoLine(ok ? 'OK' : 'ERROR');
}

/** §1/§3: `+QIOTEVT: <type>,<code>[,<data>]`. */
export function urc(type: number, code: number, data?: string): string {
  return infoLine(`+QIOTEVT: ${type},${code}${data !== undefined && data !== '' ? `,${data}` : ''}`);
}

/** §3 10700 data: `"<comp>","<source>","<target>",<battery>,<signal>,<useSpace>`. */
export function planData(p: { component: string; sourceVersion: string; targetVersion: string; batteryLimitPct: number; minSignalDbm: number; useSpaceBytes: number }): string {
  return `"${p.component}","${p.sourceVersion}","${p.targetVersion}",${p.batteryLimitPct},${p.minSignalDbm},${p.useSpaceBytes}`;
}

/** §3 10701 data: `"<comp>",<size>,"<md5>",<crc>[,"<sha256>"]` (lowercase hex, CRC unsigned decimal). */
export function downloadStartData(p: { component: string; sizeBytes: number; md5: string; crc32Hex: string; sha256?: string }): string {
  const crc = Number.parseInt(p.crc32Hex, 16) >>> 0;
  return `"${p.component}",${p.sizeBytes},"${p.md5.toLowerCase()}",${crc}${p.sha256 ? `,"${p.sha256.toLowerCase()}"` : ''}`;
}

/** §3 10703 data: `"<comp>",<size>,<pieceStart>,<pieceLength>`. */
export function pieceData(p: { component: string; sizeBytes: number; pieceStart: number; pieceLength: number }): string {
  return `"${p.component}",${p.sizeBytes},${p.pieceStart},${p.pieceLength}`;
}

/**
 * §5: `CR LF +QIOTOTARD: <start>,<n> CR LF`, exactly n raw bytes (no escaping), the data trailer
 * (CR LF by default, a profile setting), then `CR LF OK CR LF` — built as ONE buffer so the
 * reply goes out in one write (§8.1: a pause inside a reply splits it for silence-framed MCUs).
 */
export function readReply(start: number, data: Uint8Array, trailer = CRLF): Uint8Array {
  const head = ascii(infoLine(`+QIOTOTARD: ${start},${data.length}`));
  const tail = ascii(`${trailer}${finalResult(true)}`);
  const out = new Uint8Array(head.length + data.length + tail.length);
  out.set(head, 0);
  out.set(data, head.length);
  out.set(tail, head.length + data.length);
  return out;
}

/** §5: n = min(length, maxRead, pieceEnd − start); null when the read is illegal (→ ERROR). */
export function clampRead(start: number, length: number, maxRead: number, pieceStart: number, pieceLength: number): number | null {
  const pieceEnd = pieceStart + pieceLength;
  if (!Number.isInteger(start) || !Number.isInteger(length) || length <= 0) return null;
  if (start < pieceStart || start >= pieceEnd) return null;
  return Math.min(length, maxRead, pieceEnd - start);
}

// ---- station side (MCU view): parsing what the module sends --------------------------------

export interface ParsedUrc {
  type: number;
  code: number;
  fields: AtParam[];
}

/** `+QIOTEVT: 7,10703,"MCU_A",70000,0,65536` → {type, code, fields}; null when not a URC. */
export function parseUrc(line: string): ParsedUrc | null {
  const m = /^\+QIOTEVT:\s*(\d+),(\d+)(?:,(.*))?$/.exec(line.trim());
  if (!m) return null;
  const fields = m[3] !== undefined ? parseParams(m[3]) : { ok: true as const, params: [] };
  return { type: Number(m[1]), code: Number(m[2]), fields: fields.ok ? fields.params : [] };
}

export type ModuleReply = { kind: 'line'; text: string } | { kind: 'data'; start: number; bytes: Uint8Array };

/**
 * The MCU's reader of module output (§5, as the RT-Thread driver does it): lines, except that a
 * `+QIOTOTARD: <s>,<n>` line switches to reading exactly n raw bytes. Incremental: feed chunks,
 * get replies in order.
 */
export class ModuleReplyParser {
  private line: number[] = [];
  private rawLeft = 0;
  private rawStart = 0;
  private raw: number[] = [];
  private skipLf = false;

  feed(chunk: Uint8Array): ModuleReply[] {
    const out: ModuleReply[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.skipLf) {
        // The header's CR LF may be split across chunks: its LF is not data.
        this.skipLf = false;
        if (b === LF) continue;
      }
      if (this.rawLeft > 0) {
        const take = Math.min(this.rawLeft, chunk.length - i);
        for (let k = 0; k < take; k++) this.raw.push(chunk[i + k]!);
        this.rawLeft -= take;
        i += take - 1;
        if (this.rawLeft === 0) {
          out.push({ kind: 'data', start: this.rawStart, bytes: Uint8Array.from(this.raw) });
          this.raw = [];
        }
        continue;
      }
      if (b === CR || b === LF) {
        if (this.line.length > 0) {
          const text = String.fromCharCode(...this.line);
          this.line = [];
          out.push({ kind: 'line', text });
          const m = /^\+QIOTOTARD:\s*(\d+),(\d+)$/.exec(text);
          if (m) {
            this.rawStart = Number(m[1]);
            this.rawLeft = Number(m[2]);
            if (b === CR) this.skipLf = true;
            if (this.rawLeft === 0) out.push({ kind: 'data', start: this.rawStart, bytes: new Uint8Array(0) });
          }
        }
      } else if (this.line.length < MAX_LINE_BYTES) {
        this.line.push(b);
      }
    }
    return out;
  }
}

// ---- small helpers ---------------------------------------------------------------------------

export function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}

export function latin1(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
