/**
 * Name redirection for the line (mqtt-ota.md §10 item 1): a small UDP DNS responder that
 * answers the device SDKs' hard-coded cloud host names (configured per product, `*.` wildcards
 * allowed) with the station's IPv4 address and refuses everything else. Off by default.
 * The codec is pure (decodeQuery / encodeAnswer); the server only moves datagrams.
 */
import dgram from 'node:dgram';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE_NOERROR = 0;
const RCODE_FORMERR = 1;
const RCODE_REFUSED = 5;
/** Short TTL: a line moved to another station should follow within a minute. */
const ANSWER_TTL_S = 60;

export interface DnsQuery {
  id: number;
  flags: number;
  name: string;
  qtype: number;
  qclass: number;
  /** The question section as received (echoed in the answer). */
  question: Uint8Array;
}

export type DecodedQuery = { ok: true; query: DnsQuery } | { ok: false; id: number; reason: string };

export function decodeQuery(msg: Uint8Array): DecodedQuery {
  if (msg.length < 12) return { ok: false, id: 0, reason: 'short header' };
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const id = dv.getUint16(0);
  const flags = dv.getUint16(2);
  if (flags & 0x8000) return { ok: false, id, reason: 'not a query' };
  if (dv.getUint16(4) !== 1) return { ok: false, id, reason: 'expected exactly one question' };
  const labels: string[] = [];
  let p = 12;
  for (;;) {
    if (p >= msg.length) return { ok: false, id, reason: 'truncated name' };
    const len = msg[p]!;
    if (len === 0) {
      p += 1;
      break;
    }
    if (len > 63 || p + 1 + len > msg.length) return { ok: false, id, reason: 'bad label' };
    labels.push(new TextDecoder().decode(msg.subarray(p + 1, p + 1 + len)));
    p += 1 + len;
  }
  if (p + 4 > msg.length) return { ok: false, id, reason: 'truncated question' };
  const qtype = dv.getUint16(p);
  const qclass = dv.getUint16(p + 2);
  return { ok: true, query: { id, flags, name: labels.join('.').toLowerCase(), qtype, qclass, question: msg.slice(12, p + 4) } };
}

/** Build a response: `address` → one A record; null → no answer with `rcode`. */
export function encodeAnswer(q: DnsQuery, address: string | null, rcode = RCODE_NOERROR): Uint8Array {
  const answer = address !== null ? 1 : 0;
  const out = new Uint8Array(12 + q.question.length + (answer ? 16 : 0));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, q.id);
  // QR=1, opcode from the query, AA=1, RD copied, RA=0.
  dv.setUint16(2, 0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) | (rcode & 0xf));
  dv.setUint16(4, 1);
  dv.setUint16(6, answer);
  out.set(q.question, 12);
  if (address !== null) {
    let p = 12 + q.question.length;
    dv.setUint16(p, 0xc00c); // pointer to the name in the question
    dv.setUint16(p + 2, TYPE_A);
    dv.setUint16(p + 4, CLASS_IN);
    dv.setUint32(p + 6, ANSWER_TTL_S);
    dv.setUint16(p + 10, 4);
    address.split('.').forEach((o, i) => (out[p + 12 + i] = Number(o)));
    p += 16;
  }
  return out;
}

/** `*.iotcloud.tencentdevices.com` matches any name under it; other patterns match exactly. */
export function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p.startsWith('*.')) return n.endsWith(p.slice(1)) && n.length > p.length - 1;
  return p === n;
}

/** The cloud host names of §4.1 and §7.1, as wildcard patterns. */
export const CLOUD_HOST_PATTERNS = ['*.iotcloud.tencentdevices.com', '*.aliyuncs.com'];

export interface DnsResponderOptions {
  host: string;
  port: number;
  /** Station IPv4 address given as the answer. */
  answer: string;
  names: string[];
}

/** Pure: what to answer for one datagram (null = drop). */
export function respond(msg: Uint8Array, opts: Pick<DnsResponderOptions, 'answer' | 'names'>): Uint8Array | null {
  const d = decodeQuery(msg);
  if (!d.ok) {
    if (d.id === 0 && msg.length < 12) return null;
    const out = new Uint8Array(12);
    new DataView(out.buffer).setUint16(0, d.id);
    new DataView(out.buffer).setUint16(2, 0x8000 | RCODE_FORMERR);
    return out;
  }
  const q = d.query;
  const ours = q.qclass === CLASS_IN && opts.names.some((p) => nameMatches(p, q.name));
  if (!ours) return encodeAnswer(q, null, RCODE_REFUSED);
  // AAAA for our names: "no IPv6 address" so the SDK falls back to A.
  if (q.qtype === TYPE_AAAA || q.qtype !== TYPE_A) return encodeAnswer(q, null, RCODE_NOERROR);
  return encodeAnswer(q, opts.answer, RCODE_NOERROR);
}

export class DnsResponder {
  private sock: dgram.Socket | null = null;
  port = 0;
  constructor(private readonly opts: DnsResponderOptions) {}

  async start(): Promise<void> {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      const out = respond(msg, this.opts);
      if (out) sock.send(out, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.opts.port, this.opts.host, () => resolve());
    });
    this.port = sock.address().port;
    this.sock = sock;
  }

  async stop(): Promise<void> {
    const s = this.sock;
    this.sock = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
