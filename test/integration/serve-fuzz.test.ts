/**
 * Issue 10 §1: no request or frame stops `flashline serve`. While a batch of virtual units runs,
 * hostile HTTP requests, upgrade requests and raw WebSocket frames (with the token and without)
 * hit the real server process; the batch still finishes and the server still answers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import type { BatchView, UnitRef } from '../../main/contract/dto.js';
import type { Result } from '../../main/contract/ipc.js';
import { connectStation } from '../helpers/ws-client.js';
import { rawExchange, rawWebSocket, startServe, wsFrame, type ServeProc } from '../helpers/serve-proc.js';

const UNITS = 4;
const BATCH_TIMEOUT_MS = 90_000;

function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}

function httpGet(port: number, pathAndQuery: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: pathAndQuery }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

/** Sends one raw frame on a fresh authenticated socket and waits for the server to close it. */
async function frameClosesSocketOnly(port: number, token: string, frame: Buffer, extra?: Buffer): Promise<void> {
  const s = await rawWebSocket(port, token);
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      s.destroy();
      resolve();
    }, 3000);
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.on('error', () => undefined);
    s.write(frame);
    if (extra) s.write(extra);
  });
}

describe('flashline serve survives hostile requests and frames', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-fuzz-'));
  let serve: ServeProc | undefined;
  afterAll(async () => {
    await serve?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a batch finishes and the server answers after malformed URLs, headers and frames', async () => {
    serve = await startServe(dir);
    const { port, token } = serve;
    const c = await connectStation(port, token);
    const pkg = value(await c.call<{ id: string }>('importPackage', { fileName: 'app.bin', version: '2.0.0', dataBase64: Buffer.from(buildSimImage(48 * 1024, '2.0.0')).toString('base64') }));
    const units = value(await c.call<UnitRef[]>('resolveTargets', { targets: [`sim:ymodem:${UNITS}`] }));
    const batch = value(await c.call<BatchView>('createBatch', { packageId: pkg.id, units }));
    value(await c.call('startBatch', { batchId: batch.batchId }));

    // --- HTTP: request lines and headers Node or URL parsing reject, with and without the token ---
    const withToken = `token=${token}`;
    const requests = [
      'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n',
      `GET //[?${withToken} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET //%zz HTTP/1.1\r\nHost: x\r\n\r\n',
      `GET /%00?${withToken} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'GET / HTTP/1.1\r\nHost: \x00\x01\r\n\r\n',
      'GET / HTTP/1.1\r\nBad Header Line\r\n\r\n',
      'GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
      'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nzz\r\n',
      `GET /?${withToken} HTTP/1.1\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`,
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', // a TLS ClientHello on the plain port
      'BREW / HTCPCP/1.0\r\n\r\n',
      'GET / HTTP/9.9\r\n\r\n',
      // upgrade requests with broken targets, with and without the token
      `GET //[?${withToken} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      'GET //[ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      `GET /ws?${withToken} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 99\r\n\r\n`,
      `GET /ws?${withToken} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    ];
    const answers = await Promise.all(requests.map((r) => rawExchange(port, [Buffer.from(r, 'latin1')])));
    // The first one is the request that used to kill the process: it now gets a 400.
    expect(answers[0]).toMatch(/^HTTP\/1\.1 400/);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 400/);
    expect(answers[13]).toMatch(/^HTTP\/1\.1 400/);
    expect(answers[17]).toMatch(/^HTTP\/1\.1 403/);
    expect(serve.cli.child.exitCode).toBeNull();

    // --- raw WebSocket frames on an authenticated socket ---
    const invalidUtf8 = Buffer.from([0xc3, 0x28, 0xff, 0xfe]);
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x1, payload: invalidUtf8 }));
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x3, payload: Buffer.from('x') })); // reserved opcode
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0xb })); // reserved control opcode
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x1, rsv: 0x4, payload: Buffer.from('{}') })); // RSV1 without extension
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x1, payload: Buffer.from('{}'), masked: false })); // unmasked client frame
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x9, fin: false })); // fragmented ping
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe7]) })); // close code 999
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x0, payload: Buffer.from('x') })); // continuation with nothing to continue
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x2, declaredLength: 200 * 1024 * 1024 }), Buffer.alloc(64 * 1024)); // 200 MB frame
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x1, payload: Buffer.from('{"t":"call","id":1,"method":"getBatch","req":') })); // truncated JSON
    await frameClosesSocketOnly(port, token, wsFrame({ opcode: 0x1, payload: Buffer.from('{"t":"call","id":1,"method":"__proto__","req":{}}') }));
    // JSON that parses but is hostile: the call is answered with an error, the socket lives on
    const hostile = await connectStation(port, token);
    const r = await hostile.call('getBatch', { batchId: { toString: 1 } });
    expect(r.ok).toBe(false);
    // Watching an unknown batch answers with an error instead of silence.
    hostile.watch('no-such-batch');
    const t0 = Date.now();
    while (hostile.watchErrors.length === 0 && Date.now() - t0 < 5000) await new Promise((res) => setTimeout(res, 20));
    expect(hostile.watchErrors[0]).toMatchObject({ t: 'watchError', batchId: 'no-such-batch', error: { code: 'CONFIG_INVALID' } });
    hostile.close();
    expect(serve.cli.child.exitCode).toBeNull();

    // --- the batch finishes and the server still answers ---
    const deadline = Date.now() + BATCH_TIMEOUT_MS;
    let view: BatchView;
    for (;;) {
      view = value(await c.call<{ batch: BatchView }>('getBatch', { batchId: batch.batchId })).batch;
      if (view.state === 'finished' || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(view.state).toBe('finished');
    expect(view.counts.passed).toBe(UNITS);
    expect(await httpGet(port, `/?token=${token}`)).toBe(200);
    expect(await httpGet(port, '/?token=wrong')).toBe(403);
    const again = await connectStation(port, token);
    expect(value(await again.call<BatchView[]>('listBatches', {})).map((b) => b.batchId)).toContain(batch.batchId);
    again.close();
    c.close();
    const ended = await serve.stop();
    expect(ended.code).toBe(0);
    expect(serve.cli.stderr()).not.toMatch(/Unhandled|ERR_|RangeError|TypeError/);
  }, 150_000);
});
