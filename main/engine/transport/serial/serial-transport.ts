/**
 * The `serial` transport: one Link per open port over the real `serialport` library. Maps
 * adapter errors to StationErrors at this boundary (DESIGN.md §4) and traces every tx/rx.
 * Knows no protocol: bytes in, bytes out, and "the port went away".
 */
import { SerialPort } from 'serialport';
import type { UnitRef } from '../../../contract/dto.js';
import { abortError } from '../../clock.js';
import { StationError } from '../../errors.js';
import { TraceRing } from '../trace.js';
import type { Link, Transport } from '../types.js';

export const DEFAULT_BAUD_RATE = 115200;
/** A serial port takes any write size; the Link contract still asks for a number. */
const SERIAL_MTU_BYTES = 1 << 20;

export interface SerialPortInfo {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
}

/** Serial ports the OS lists (never PTYs); [] when listing fails (no udev, no permission). */
export async function listSerialPorts(): Promise<SerialPortInfo[]> {
  try {
    const ports = await SerialPort.list();
    return ports.map((p) => ({
      path: p.path,
      ...(p.manufacturer ? { manufacturer: p.manufacturer } : {}),
      ...(p.serialNumber ? { serialNumber: p.serialNumber } : {}),
      ...(p.vendorId ? { vendorId: p.vendorId } : {}),
      ...(p.productId ? { productId: p.productId } : {}),
    }));
  } catch {
    return [];
  }
}

/** An open error from the binding → the code an operator can act on. */
export function mapOpenError(err: unknown, path: string, unitId: string): StationError {
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string } | null)?.code ?? '';
  // bindings-cpp: "Error: No such file or directory, cannot open …" / "Error Resource temporarily unavailable Cannot lock port"
  if (code === 'ENOENT' || /no such file|ENOENT/i.test(msg)) {
    return new StationError('TRANSPORT_NOT_FOUND', `serial port ${path} not found`, { unitId }, { cause: err });
  }
  if (code === 'EBUSY' || /EBUSY|busy|lock|temporarily unavailable/i.test(msg)) {
    return new StationError('PORT_BUSY', `serial port ${path} is in use: ${msg}`, { unitId }, { cause: err });
  }
  return new StationError('TRANSPORT_NOT_FOUND', `cannot open serial port ${path}: ${msg}`, { unitId }, { cause: err });
}

export interface OpenSerialOptions {
  baudRate?: number;
  unitId?: string;
  signal?: AbortSignal;
  traceCapacity?: number;
}

/** Open `path` and wrap it as a Link. */
export async function openSerialLink(path: string, opts: OpenSerialOptions = {}): Promise<Link> {
  const unitId = opts.unitId ?? `serial:${path}`;
  if (opts.signal?.aborted) throw opts.signal.reason ?? abortError();
  const port = new SerialPort({ path, baudRate: opts.baudRate ?? DEFAULT_BAUD_RATE, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(mapOpenError(err, path, unitId)) : resolve())));
  if (opts.signal?.aborted) {
    await new Promise<void>((r) => port.close(() => r()));
    throw opts.signal.reason ?? abortError();
  }
  return new SerialLink(port, unitId, new TraceRing(opts.traceCapacity));
}

class SerialLink implements Link {
  readonly kind = 'serial' as const;
  readonly mtuBytes = SERIAL_MTU_BYTES;
  private readonly dataListeners = new Set<(c: Uint8Array) => void>();
  private readonly lostListeners = new Set<(e: StationError) => void>();
  private closing = false;
  private lost: StationError | null = null;

  constructor(private readonly port: SerialPort, readonly unitId: string, readonly trace: TraceRing) {
    port.on('data', (chunk: Buffer) => {
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      trace.rx(bytes);
      this.dataListeners.forEach((cb) => cb(bytes));
    });
    // serialport closes with a Disconnect error (err.disconnected) on unplug; any close we did
    // not ask for is a lost unit as far as the job is concerned.
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      if (!this.closing) this.markLost(`serial port ${port.path} closed unexpectedly${err ? `: ${err.message}` : ''}`, err);
    });
    port.on('error', (err: Error) => {
      trace.note(`port error: ${err.message}`);
      if (!this.closing && !port.isOpen) this.markLost(`serial port ${port.path} failed: ${err.message}`, err);
    });
  }

  get isOpen(): boolean {
    return this.port.isOpen && !this.lost;
  }

  private markLost(message: string, cause: unknown): void {
    if (this.lost) return;
    this.lost = new StationError('TRANSPORT_LOST', message, { unitId: this.unitId }, { cause });
    this.trace.note(message);
    this.lostListeners.forEach((cb) => cb(this.lost!));
  }

  async write(data: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.lost) throw this.lost;
    if (!this.port.isOpen) throw new StationError('TRANSPORT_LOST', 'serial port is closed', { unitId: this.unitId });
    if (signal?.aborted) throw signal.reason ?? abortError();
    this.trace.tx(data);
    // Resolve once the OS has taken the bytes (drain), so stop-and-wait timing starts on the wire.
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal!.reason ?? abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      this.port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => {
        if (err) {
          signal?.removeEventListener('abort', onAbort);
          return reject(this.lost ?? new StationError('TRANSPORT_LOST', `write failed: ${err.message}`, { unitId: this.unitId }, { cause: err }));
        }
      });
      this.port.drain((err) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(this.lost ?? new StationError('TRANSPORT_LOST', `drain failed: ${err.message}`, { unitId: this.unitId }, { cause: err }));
        else resolve();
      });
    });
  }

  onData(cb: (chunk: Uint8Array) => void): () => void {
    this.dataListeners.add(cb);
    return () => this.dataListeners.delete(cb);
  }

  onLost(cb: (err: StationError) => void): () => void {
    this.lostListeners.add(cb);
    return () => this.lostListeners.delete(cb);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.port.isOpen) return;
    await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }
}

export interface SerialTransportOptions {
  defaultBaudRate?: number;
  traceCapacity?: number;
}

export class SerialTransport implements Transport {
  readonly kind = 'serial' as const;
  constructor(private readonly opts: SerialTransportOptions = {}) {}

  /** One job per port: the port path is the exclusive resource. */
  resourceOf(unit: UnitRef): string {
    return unit.address;
  }

  open(unit: UnitRef, signal: AbortSignal): Promise<Link> {
    return openSerialLink(unit.address, {
      baudRate: unit.baudRate ?? this.opts.defaultBaudRate ?? DEFAULT_BAUD_RATE,
      unitId: unit.unitId,
      signal,
      traceCapacity: this.opts.traceCapacity,
    });
  }
}
