/**
 * Pseudo-terminal helpers for serial tests: socat PTY pairs with a virtual unit on the far end,
 * the lrzsz receiver topology of ymodem.md §11, tool checks that skip locally but fail in CI,
 * and a SessionContext builder for the ymodem sender tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'vitest';
import { SerialPort } from 'serialport';
import type { DevicePort, Link } from '../../main/engine/transport/types.js';
import type { SessionContext } from '../../main/engine/protocol/types.js';
import type { PackageComponentInfo } from '../../main/contract/dto.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import { systemClock } from '../../main/engine/clock.js';

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * `describe` that needs external tools: skipped with a clear message when one is missing, except
 * in CI (CI=true), where the suite runs and fails loudly instead.
 */
export function describeWithTools(tools: string[], name: string, fn: () => void): void {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has its tools', () => {
        throw new Error(`required tool(s) missing in CI: ${missing.join(', ')} (apt-get install socat lrzsz)`);
      });
    });
    return;
  }
  console.warn(`[skip] ${name}: missing ${missing.join(', ')} (install the Debian packages socat / lrzsz)`);
  describe.skip(`${name} (skipped: ${missing.join(', ')} not installed)`, fn);
}

export function tempDir(prefix = 'flashline-pty-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

async function waitForPaths(paths: string[], proc: ChildProcess, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!paths.every((p) => fs.existsSync(p))) {
    if (proc.exitCode !== null) throw new Error(`socat exited early (${proc.exitCode})`);
    if (Date.now() > deadline) throw new Error(`socat did not create ${paths.join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

export interface PtyPair {
  hostPath: string;
  devicePath: string;
  proc: ChildProcess;
  close(): Promise<void>;
}

/** Two linked PTYs (`socat PTY PTY`): the station opens hostPath, a virtual unit sits on devicePath. */
export async function createPtyPair(dir: string = tempDir()): Promise<PtyPair> {
  const hostPath = path.join(dir, 'host');
  const devicePath = path.join(dir, 'dev');
  const proc = spawn('socat', [`PTY,raw,echo=0,link=${hostPath}`, `PTY,raw,echo=0,link=${devicePath}`], { stdio: 'ignore' });
  await waitForPaths([hostPath, devicePath], proc);
  return { hostPath, devicePath, proc, close: () => stopProcess(proc) };
}

/**
 * A DevicePort over a serialport opened on the device end of a PTY pair. drop() closes it and
 * calls `onDrop` — pass the pair's close() to pull the whole "cable": socat keeps running when
 * only a slave end closes, so the host would never notice otherwise.
 */
export async function openDevicePort(devicePath: string, opts: { onDrop?: () => void } = {}): Promise<DevicePort & { close(): Promise<void> }> {
  const port = new SerialPort({ path: devicePath, baudRate: 115200, autoOpen: false, lock: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  const listeners = new Set<(c: Uint8Array) => void>();
  port.on('data', (b: Buffer) => listeners.forEach((cb) => cb(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))));
  port.on('error', () => undefined);
  const close = () => new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r()));
  return {
    get isOpen() {
      return port.isOpen;
    },
    write(data) {
      if (port.isOpen) port.write(Buffer.from(data));
    },
    onData(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    drop() {
      void close().then(() => opts.onDrop?.());
    },
    close,
  };
}

export interface RbPeer {
  /** The PTY the station opens. */
  dutPath: string;
  rxDir: string;
  proc: ChildProcess;
  /** Resolves when socat (and rb) exit. */
  exited: Promise<number | null>;
  close(): Promise<void>;
}

/** ymodem.md §11: `socat PTY,raw,echo=0,link=DIR/dut SYSTEM:'cd RXDIR && exec rb -q'`. */
export async function spawnRbPeer(dir: string, rbArgs = '-q'): Promise<RbPeer> {
  const rxDir = path.join(dir, 'rx');
  fs.mkdirSync(rxDir, { recursive: true });
  const dutPath = path.join(dir, 'dut');
  const proc = spawn('socat', [`PTY,raw,echo=0,link=${dutPath}`, `SYSTEM:cd ${rxDir} && exec rb ${rbArgs}`], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await waitForPaths([dutPath], proc);
  return { dutPath, rxDir, proc, exited, close: () => stopProcess(proc) };
}

// ---- a SessionContext for ymodem sender tests -------------------------------------------

export function ymodemContext(
  link: Link,
  bytes: Uint8Array,
  options: Record<string, unknown> = {},
  fileName = 'firmware.bin',
): SessionContext & { logs: string[] } {
  const logs: string[] = [];
  const info: PackageComponentInfo = {
    component: 'app', version: '0', kind: 'full', fileName, sizeBytes: bytes.length,
    crc32: crc32Hex(bytes), md5: '', sha256: '',
  };
  return {
    link,
    image: { info, bytes },
    unit: { unitId: link.unitId, transport: link.kind, protocol: 'ymodem', address: link.unitId },
    options,
    clock: systemClock,
    log: (t) => logs.push(t),
    logs,
  };
}
