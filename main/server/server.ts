/**
 * Browser / headless mode: an HTTP server that serves the built renderer and the station API
 * (contract/ipc.ts) over a WebSocket. Bound to 127.0.0.1 unless remote access is asked for; the
 * page and the socket both need the random token that is printed in the URL.
 * Owns sockets and static files only; all station logic is in api.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { BatchEvent, ErrorView } from '../contract/dto.js';
import { STATION_METHODS, type WsClientFrame, type WsServerFrame } from '../contract/ipc.js';
import type { StationApi } from './api.js';
import { MAX_UPLOAD_BYTES } from './api.js';

const TOKEN_BYTES = 18;
/** Base64 of the largest upload plus the JSON around it. */
const MAX_FRAME_BYTES = Math.ceil(MAX_UPLOAD_BYTES / 3) * 4 + 64 * 1024;
/** A client that cannot keep up gets its events dropped and resnapshots (stores apply by revision). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

export interface ServeOptions {
  api: StationApi;
  staticDir: string;
  port?: number;
  /** '127.0.0.1' by default; '0.0.0.0' only when remote access is asked for. */
  host?: string;
  token?: string;
}

export interface StationServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export function newToken(): string {
  return crypto.randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Constant-time token check (pure). */
export function tokenMatches(expected: string, given: string | null | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** A request path → a file inside root, or null when it escapes root (pure apart from path math). */
export function resolveStatic(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const file = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

/** The request target as a URL, or null when it is not one (`//[`, control bytes…). Pure. */
export function parseRequestUrl(raw: string | undefined): URL | null {
  try {
    return new URL(raw ?? '/', 'http://localhost');
  } catch {
    return null;
  }
}

const BASE_HEADERS = { 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' };

function answerBadRequest(res: http.ServerResponse): void {
  try {
    if (!res.headersSent) res.writeHead(400, { ...BASE_HEADERS, 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('Bad request\n');
  } catch {
    res.destroy();
  }
}

function handleHttp(req: http.IncomingMessage, res: http.ServerResponse, token: string, root: string): void {
  const url = parseRequestUrl(req.url);
  if (!url) {
    answerBadRequest(res);
    return;
  }
  const headers = BASE_HEADERS;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, headers).end();
    return;
  }
  const isPage = url.pathname === '/' || url.pathname === '/index.html';
  // The page needs the token; hashed assets are not secret, the API behind the socket is.
  if (isPage && !tokenMatches(token, url.searchParams.get('token'))) {
    res.writeHead(403, { ...headers, 'Content-Type': 'text/plain' }).end('Forbidden: open the URL printed by `flashline serve` (it carries the token).\n');
    return;
  }
  const file = resolveStatic(root, isPage ? '/index.html' : url.pathname);
  if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('Not found\n');
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'X-Frame-Options': 'DENY' });
  if (req.method === 'HEAD') res.end();
  else fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

export async function startStationServer(opts: ServeOptions): Promise<StationServer> {
  const token = opts.token ?? newToken();
  const host = opts.host ?? '127.0.0.1';
  const root = path.resolve(opts.staticDir);

  const server = http.createServer((req, res) => {
    // Nothing a client sends may stop the station: a handler's failure answers this request only.
    try {
      handleHttp(req, res, token, root);
    } catch {
      answerBadRequest(res);
    }
  });
  // Malformed request lines and headers (Node's parser rejects them): answer 400, keep serving.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    socket.destroy();
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
  });
  // ws reports protocol violations (bad UTF-8, reserved opcodes, oversize frames) as 'error' events;
  // unhandled, each one would end the process.
  wss.on('error', () => undefined);
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    try {
      const url = parseRequestUrl(req.url);
      const origin = req.headers.origin;
      // Cross-site pages must not drive the station even if they learn the port: the Origin must
      // be this server (browsers always send it on WebSocket handshakes).
      const sameOrigin = !origin || origin === `http://${req.headers.host ?? ''}`;
      if (!url || url.pathname !== '/ws' || !tokenMatches(token, url.searchParams.get('token')) || !sameOrigin) {
        socket.end(`HTTP/1.1 ${url ? '403 Forbidden' : '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => serveClient(ws, opts.api));
    } catch {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      socket.destroy();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${port}/?token=${token}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseFrame(raw: string): WsClientFrame | null {
  try {
    const f = JSON.parse(raw) as WsClientFrame;
    if (!f || typeof f !== 'object') return null;
    if (f.t === 'call' && Number.isInteger(f.id) && (STATION_METHODS as readonly string[]).includes(f.method)) return f;
    if ((f.t === 'watch' || f.t === 'unwatch') && typeof f.batchId === 'string') return f;
    return null;
  } catch {
    return null;
  }
}

function serveClient(ws: WebSocket, api: StationApi): void {
  const watches = new Map<string, () => void>();
  // A protocol violation from this client closes this socket only (ws already sent the close code).
  ws.on('error', () => ws.terminate());
  const send = (f: WsServerFrame): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (f.t === 'event' && f.event.type === 'delta' && ws.bufferedAmount > MAX_BUFFERED_BYTES) return;
    try {
      ws.send(JSON.stringify(f));
    } catch {
      ws.terminate();
    }
  };
  ws.on('message', (data, isBinary) => {
    try {
      if (isBinary) return;
      const f = parseFrame(data.toString());
      if (!f) {
        ws.close(1003, 'bad frame');
        return;
      }
      if (f.t === 'call') {
        void api.handlers[f.method](f.req)
          .then((result) => send({ t: 'result', id: f.id, result }))
          .catch(() => ws.close(1011, 'internal error'));
      } else if (f.t === 'watch') {
        watches.get(f.batchId)?.();
        watches.delete(f.batchId);
        const watchError = (error: ErrorView) => {
          watches.delete(f.batchId);
          send({ t: 'watchError', batchId: f.batchId, error });
        };
        const r = api.watch(f.batchId, (event: BatchEvent) => send({ t: 'event', event }), watchError);
        if (r.ok) watches.set(f.batchId, r.value);
        else watchError(r.error);
      } else {
        watches.get(f.batchId)?.();
        watches.delete(f.batchId);
      }
    } catch {
      ws.close(1011, 'internal error');
    }
  });
  ws.on('close', () => {
    for (const off of watches.values()) off();
    watches.clear();
  });
}
