/**
 * The firmware HTTP server (mqtt-ota.md §3): plain HTTP/1.1, exact `Content-Length`, strict
 * `Range` (the Tencent off-by-one end, an empty 206 at end of file, never 416), no chunking, no
 * content coding, signed expiring URLs (stale → 403, unknown → 404), bandwidth shared fairly.
 * Reports what it served per device; knows nothing of MQTT or OTA state.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { FairShare } from './bandwidth.js';

/** Body chunk handed to the socket at a time. */
const CHUNK_BYTES = 16 * 1024;
/** Truncated HMAC in the URL: 16 hex = 64 bits, plenty against guessing within a URL's lifetime. */
const SIG_HEX_CHARS = 16;
/** The SDKs ignore the URL port and connect to 80 (§3 item 1): omit it from URLs when it is 80. */
const SDK_HTTP_PORT = 80;

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; endInclusive: number }
  /** Offset at or past the end: the device already has everything (§3 item 5). */
  | { kind: 'empty'; start: number }
  | { kind: 'invalid'; reason: string };

/**
 * §3 item 5. `bytes=a-b` with b ≥ size (Tencent sends b = size) is clamped to the end;
 * `bytes=a-` is open; a ≥ size gives an empty 206 (never 416: Tencent would eat the error body).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return { kind: 'invalid', reason: `unsupported Range ${header}` };
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return { kind: 'empty', start };
  if (end < start) return { kind: 'invalid', reason: `Range end before start: ${header}` };
  return { kind: 'partial', start, endInclusive: end };
}

export interface FirmwareFile {
  version: string;
  bytes: Uint8Array;
  md5: string;
}

export type ServeEvent =
  | { type: 'request'; deviceTag: string; status: number; start: number; endExclusive: number; size: number; range: string | null }
  | { type: 'progress'; deviceTag: string; sentTo: number; size: number }
  | { type: 'end'; deviceTag: string; sentTo: number; size: number; complete: boolean };

export interface FirmwareServerOptions {
  host: string;
  port: number;
  /** Host written into URLs (the station's address on the line); defaults to `host`. */
  urlHost?: string;
  /** Port written into URLs: undefined = the listening port (omitted when 80); null = never. */
  urlPort?: number | null;
  /** Total upload rate shared by all downloads; 0 = unlimited. */
  bytesPerSecond?: number;
  /** Key for URL signatures; random per station start by default. */
  signingKey?: Buffer;
}

export class FirmwareServer extends EventEmitter {
  private server: http.Server | null = null;
  private readonly files = new Map<string, FirmwareFile>();
  private readonly versions = new Map<string, string>();
  private readonly share: FairShare;
  private readonly key: Buffer;
  private readonly sockets = new Set<import('node:net').Socket>();
  private readonly active = new Map<string, Set<http.ServerResponse>>();
  port = 0;

  constructor(private readonly opts: FirmwareServerOptions) {
    super();
    this.share = new FairShare(opts.bytesPerSecond ?? 0);
    this.key = opts.signingKey ?? crypto.randomBytes(32);
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /**
   * Catalogue a version's bytes (§3.9: a version string maps to byte-identical content forever;
   * re-registering a version with other bytes is refused).
   */
  register(file: FirmwareFile): string {
    const fileId = file.md5.slice(0, 16);
    const known = this.versions.get(file.version);
    if (known !== undefined && known !== file.md5) {
      throw new Error(`version ${file.version} is already served with MD5 ${known}; a version must never change content (§3.9)`);
    }
    const md5Now = crypto.createHash('md5').update(file.bytes).digest('hex');
    if (md5Now !== file.md5) throw new Error(`firmware ${file.version}: MD5 ${md5Now} differs from the catalogue ${file.md5}`);
    this.versions.set(file.version, file.md5);
    this.files.set(fileId, file);
    return fileId;
  }

  /** A signed URL for one device, valid for `ttlMs`. `deviceTag` names the device in the path. */
  urlFor(fileId: string, deviceTag: string, ttlMs: number, nowMs = Date.now()): string {
    const exp = Math.floor((nowMs + ttlMs) / 1000);
    const sig = this.sign(fileId, deviceTag, exp);
    const host = this.opts.urlHost ?? this.opts.host;
    const urlPort = this.opts.urlPort === undefined ? this.port : this.opts.urlPort;
    const port = urlPort === null || urlPort === SDK_HTTP_PORT ? '' : `:${urlPort}`;
    return `http://${host}${port}/f/${fileId}/${exp}/${deviceTag}/${sig}.bin`;
  }

  private sign(fileId: string, deviceTag: string, exp: number): string {
    return crypto.createHmac('sha256', this.key).update(`${fileId}|${deviceTag}|${exp}`).digest('hex').slice(0, SIG_HEX_CHARS);
  }

  /** Close a device's running downloads (stall timeout, cancelled job). */
  abortDevice(deviceTag: string): void {
    for (const res of this.active.get(deviceTag) ?? []) res.destroy();
  }

  private plain(res: http.ServerResponse, status: number, text: string): void {
    const body = Buffer.from(text);
    res.writeHead(status, { 'Content-Length': String(body.length), 'Content-Type': 'text/plain' });
    res.end(body);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const m = /^\/f\/([0-9a-f]{16})\/(\d+)\/([A-Za-z0-9_.@~-]+)\/([0-9a-f]+)\.bin$/.exec(req.url ?? '');
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.plain(res, 405, 'method not allowed');
    if (!m) return this.plain(res, 404, 'not found'); // §3 item 6: 404 for anything unknown, never a 5xx
    const [, fileId, expText, deviceTag, sig] = m as unknown as [string, string, string, string, string];
    const exp = Number(expText);
    const expect = this.sign(fileId, deviceTag, exp);
    const sigOk = sig.length === expect.length && crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expect));
    const range = typeof req.headers.range === 'string' ? req.headers.range : null;
    const file = this.files.get(fileId);
    const reject = (status: number, why: string) => {
      this.emit('serve', { type: 'request', deviceTag, status, start: 0, endExclusive: 0, size: file?.bytes.length ?? 0, range } satisfies ServeEvent);
      this.plain(res, status, why);
    };
    // §3 item 6: Tencent maps 403 → −3 ("signature expired"), 404 → −2.
    if (!sigOk) return reject(403, 'bad signature');
    if (exp * 1000 < Date.now()) return reject(403, 'url expired');
    if (!file) return reject(404, 'not found');
    const size = file.bytes.length;
    const r = parseRange(range ?? undefined, size);
    if (r.kind === 'invalid') return reject(404, r.reason);
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: `"${file.md5}"`,
    };
    let status = 200;
    let start = 0;
    let endExclusive = size;
    if (r.kind === 'partial') {
      status = 206;
      start = r.start;
      endExclusive = r.endInclusive + 1;
      headers['Content-Range'] = `bytes ${start}-${r.endInclusive}/${size}`;
    } else if (r.kind === 'empty') {
      status = 206;
      start = size;
      endExclusive = size;
      headers['Content-Range'] = `bytes */${size}`;
    }
    // §3 item 2: exactly `Content-Length`, which also keeps Node from chunking.
    headers['Content-Length'] = String(endExclusive - start);
    res.writeHead(status, headers);
    this.emit('serve', { type: 'request', deviceTag, status, start, endExclusive, size, range } satisfies ServeEvent);
    if (req.method === 'HEAD' || start === endExclusive) {
      res.end();
      this.emit('serve', { type: 'end', deviceTag, sentTo: endExclusive, size, complete: endExclusive === size } satisfies ServeEvent);
      return;
    }
    void this.stream(res, file, deviceTag, start, endExclusive);
  }

  private async stream(res: http.ServerResponse, file: FirmwareFile, deviceTag: string, start: number, endExclusive: number): Promise<void> {
    const size = file.bytes.length;
    const streamId = this.share.openStream();
    let set = this.active.get(deviceTag);
    if (!set) this.active.set(deviceTag, (set = new Set()));
    set.add(res);
    let sent = start;
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    try {
      while (sent < endExclusive && !closed) {
        const n = Math.min(CHUNK_BYTES, endExclusive - sent);
        await this.share.take(streamId, n);
        if (closed) break;
        const chunk = file.bytes.subarray(sent, sent + n);
        const ok = res.write(chunk);
        sent += n;
        this.emit('serve', { type: 'progress', deviceTag, sentTo: sent, size } satisfies ServeEvent);
        if (!ok && !closed) await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      if (!closed) res.end();
    } catch {
      res.destroy();
    } finally {
      this.share.closeStream(streamId);
      set.delete(res);
      // "complete" means the last byte went into the socket; a device cut shows as !complete.
      this.emit('serve', { type: 'end', deviceTag, sentTo: sent, size, complete: !closed && sent === endExclusive && endExclusive === size } satisfies ServeEvent);
    }
  }

  get activeDownloads(): number {
    return this.share.activeStreams;
  }

  async stop(): Promise<void> {
    this.share.dispose();
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
