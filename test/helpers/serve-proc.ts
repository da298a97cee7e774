/**
 * Starts the real `flashline serve` in a child process for the safety tests and gives back its
 * port and token (from the --json line), plus raw-socket helpers to send hostile bytes at it.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { startCli, type CliRun } from './cli.js';

const START_TIMEOUT_MS = 60_000;

export interface ServeProc {
  cli: CliRun;
  port: number;
  token: string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startServe(dataDir: string, extra: string[] = []): Promise<ServeProc> {
  const cli = startCli(['serve', '--port', '0', '--json', '--data-dir', dataDir, ...extra]);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const m = /"url":"http:\/\/[^"]*token=([^"]+)","port":(\d+)/.exec(cli.stdout());
    if (m) {
      return {
        cli,
        token: m[1]!,
        port: Number(m[2]),
        async stop() {
          if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGTERM');
          return cli.done;
        },
      };
    }
    if (cli.child.exitCode !== null) throw new Error(`flashline serve exited ${cli.child.exitCode}: ${cli.stderr()}`);
    if (Date.now() > deadline) throw new Error(`flashline serve did not start: ${cli.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Writes raw bytes to the port and collects whatever comes back until the peer closes (or timeoutMs). */
export function rawExchange(port: number, chunks: (string | Buffer)[], timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (): void => {
      clearTimeout(t);
      s.destroy();
      resolve(got);
    };
    const t = setTimeout(done, timeoutMs);
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', done);
    s.on('close', done);
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
    });
  });
}

/** A completed WebSocket handshake on a raw socket, to send frames ws itself would never build. */
export function rawWebSocket(port: number, token: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let head = '';
    s.on('error', reject);
    s.on('connect', () =>
      s.write(
        `GET /ws?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        s.off('data', onData);
        if (head.startsWith('HTTP/1.1 101')) resolve(s);
        else reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
      }
    };
    s.on('data', onData);
  });
}

/** One client→server frame: masked unless told otherwise; `declaredLength` can lie about the payload size. */
export function wsFrame(opts: { opcode: number; payload?: Buffer; fin?: boolean; rsv?: number; masked?: boolean; declaredLength?: number }): Buffer {
  const payload = opts.payload ?? Buffer.alloc(0);
  const len = opts.declaredLength ?? payload.length;
  const b0 = (opts.fin === false ? 0 : 0x80) | ((opts.rsv ?? 0) << 4) | (opts.opcode & 0x0f);
  const masked = opts.masked !== false;
  let header: Buffer;
  if (len < 126) header = Buffer.from([b0, (masked ? 0x80 : 0) | len]);
  else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = b0;
    header[1] = (masked ? 0x80 : 0) | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = b0;
    header[1] = (masked ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!masked) return Buffer.concat([header, payload]);
  const mask = crypto.randomBytes(4);
  const body = Buffer.from(payload.map((x, i) => x ^ mask[i % 4]!));
  return Buffer.concat([header, mask, body]);
}
