/**
 * Real serialport over a socat PTY pair, VirtualYmodemUnit on the far end: the whole serial job
 * (identify, trigger, transfer, verdict, reboot, confirm), port error mapping and unplug.
 */
import { afterEach, expect, it } from 'vitest';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualYmodemUnit } from '../../main/engine/device/ymodem-unit.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { YmodemSession } from '../../main/engine/protocol/ymodem/index.js';
import { SerialTransport, listSerialPorts, openSerialLink } from '../../main/engine/transport/serial/serial-transport.js';
import { StationError } from '../../main/engine/errors.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';
import type { SimBehaviour, UnitRef } from '../../main/contract/dto.js';
import { createPtyPair, describeWithTools, openDevicePort, ymodemContext, type PtyPair } from '../helpers/pty.js';

const SENDER = {
  startTimeoutMs: 3000,
  headerAckTimeoutMs: 1000,
  dataStartTimeoutMs: 1000,
  blockReplyTimeoutMs: 1000,
  eotTimeoutMs: 1000,
  endOfBatchTimeoutMs: 1000,
  identifyTimeoutMs: 500,
  verdictTimeoutMs: 2000,
  confirmQueryIntervalMs: 300,
  rebootTimeoutMs: 2000,
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function bench(behaviour: SimBehaviour): Promise<{ pty: PtyPair; unit: VirtualYmodemUnit; memory: DeviceMemory; unitRef: UnitRef }> {
  const pty = await createPtyPair();
  cleanups.push(() => pty.close());
  const port = await openDevicePort(pty.devicePath, { onDrop: () => void pty.close() });
  cleanups.push(() => port.close());
  const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'PTY-1' });
  const unit = new VirtualYmodemUnit(memory, { behaviour, cIntervalMs: 100, bootMs: 100 });
  unit.attach(port);
  cleanups.push(() => unit.dispose());
  const unitRef: UnitRef = { unitId: `serial:${pty.hostPath}`, transport: 'serial', protocol: 'ymodem', address: pty.hostPath };
  return { pty, unit, memory, unitRef };
}

describeWithTools(['socat'], 'ymodem over a real PTY with serialport', () => {
  it('flashes a virtual unit: full image, verdict, reboot, confirm returns the new version', async () => {
    const { memory, unitRef } = await bench('accept');
    const transport = new SerialTransport();
    expect(transport.resourceOf(unitRef)).toBe(unitRef.address);
    const signal = new AbortController().signal;
    const link = await transport.open(unitRef, signal);
    cleanups.push(() => link.close());
    expect(link.kind).toBe('serial');
    const image = buildSimImage(100_000, '2.1.0');
    const session = new YmodemSession(ymodemContext(link, image, SENDER, 'app-2.1.0.bin'));
    expect(await session.identify(signal)).toEqual({ version: '1.0.0' });
    expect(await session.negotiate(signal)).toEqual({ resumeAtBytes: 0, chunkBytes: 1024 });
    let acked = 0;
    await session.transfer(0, (n) => (acked = n), signal);
    expect(acked).toBe(image.length);
    expect(await session.verify(signal)).toEqual({ crc32: crc32Hex(image), confirmedBy: ['loader-verdict', 'device-crc32'] });
    await session.activate(signal);
    expect(await session.confirm(link, signal)).toBe('2.1.0');
    expect(Buffer.from(memory.readStaging(image.length)).equals(Buffer.from(image))).toBe(true);
    expect(link.trace.tail(5).length).toBeGreaterThan(0);
  });

  it('maps open errors: missing port → TRANSPORT_NOT_FOUND, locked port → PORT_BUSY', async () => {
    const { pty } = await bench('accept');
    const e1 = await openSerialLink('/dev/does-not-exist-ttyX').catch((e: unknown) => e);
    expect((e1 as StationError).code).toBe('TRANSPORT_NOT_FOUND');
    const first = await openSerialLink(pty.hostPath);
    cleanups.push(() => first.close());
    const e2 = await openSerialLink(pty.hostPath).catch((e: unknown) => e);
    expect((e2 as StationError).code).toBe('PORT_BUSY');
  });

  it('an unplugged unit (the far end goes away) → TRANSPORT_LOST', async () => {
    const { unitRef } = await bench('disconnect');
    const signal = new AbortController().signal;
    const link = await new SerialTransport().open(unitRef, signal);
    cleanups.push(() => link.close());
    const lost = new Promise<StationError>((r) => link.onLost(r));
    const session = new YmodemSession(ymodemContext(link, buildSimImage(60_000, '2.0.0'), { ...SENDER, blockReplyTimeoutMs: 300 }));
    await session.identify(signal);
    await session.negotiate(signal);
    const e = await session.transfer(0, () => undefined, signal).catch((x: unknown) => x);
    expect((e as StationError).code).toBe('TRANSPORT_LOST');
    expect((await lost).code).toBe('TRANSPORT_LOST');
    expect(link.isOpen).toBe(false);
  });

  it('listSerialPorts never throws (PTYs are not listed)', async () => {
    const ports = await listSerialPorts();
    expect(Array.isArray(ports)).toBe(true);
  });
});
