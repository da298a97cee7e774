/**
 * The BLE transport does not wait for an MTU report (issue 12 §2): some stacks report the ATT
 * MTU after login, some never. open() resolves as soon as notifications are on, with timers
 * frozen (no fixed wait hides in it), the link reads 23 until a report comes, then grows.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BleTransport, type NobleApi } from '../../main/engine/transport/ble/ble-transport.js';
import type { BlePipeSpec } from '../../main/engine/transport/types.js';

const PIPE: BlePipeSpec = { serviceUuid: 'aaa0', writeUuids: ['aaa1'], notifyUuid: 'aaa2' };

function fakeNoble() {
  const noble = new EventEmitter() as EventEmitter & NobleApi;
  const char = (uuid: string) => Object.assign(new EventEmitter(), { uuid, properties: ['write', 'notify'], write: (_d: Buffer, _w: boolean, cb: (e?: unknown) => void) => cb(), subscribe: (cb: (e?: unknown) => void) => cb() });
  const peripheral = Object.assign(new EventEmitter(), {
    id: 'c0115c000001',
    address: 'c0:11:5c:00:00:01',
    rssi: -50,
    mtu: null as number | null,
    state: 'disconnected',
    advertisement: { localName: 'unit', serviceUuids: ['aaa0'] },
    connect(_o: unknown, cb: (e?: Error | null) => void) {
      this.state = 'connected';
      cb();
    },
    cancelConnect() {},
    disconnect(cb?: () => void) {
      this.state = 'disconnected';
      cb?.();
    },
    discoverServices(_u: string[], cb: (e: unknown, s: unknown[]) => void) {
      cb(null, [{ uuid: 'aaa0', discoverCharacteristics: (_x: string[], cb2: (e: unknown, c: unknown[]) => void) => cb2(null, [char('aaa1'), char('aaa2')]) }]);
    },
  });
  Object.assign(noble, { state: 'poweredOn', startScanning: () => queueMicrotask(() => noble.emit('discover', peripheral)), stopScanning: () => undefined });
  return { noble, peripheral };
}

afterEach(() => vi.useRealTimers());

describe('BLE transport and the MTU report', () => {
  it('opens without waiting for an MTU that never comes, and picks it up when it does', async () => {
    const { noble, peripheral } = fakeNoble();
    const t = new BleTransport({ adapterId: 'hci9', loadNoble: () => ({ noble }), pipeFor: () => PIPE });
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] });
    let link: Awaited<ReturnType<BleTransport['open']>> | undefined;
    void t.open({ unitId: 'u1', transport: 'ble', protocol: 'llsync-ota', address: peripheral.address }, new AbortController().signal).then((l) => (link = l));
    for (let i = 0; i < 50 && !link; i++) await new Promise((r) => setImmediate(r));
    expect(link, 'open() must resolve with timers frozen').toBeDefined();
    expect(link!.attMtu).toBe(23);
    expect(link!.mtuBytes).toBe(20);
    peripheral.mtu = 247; // the stack's report, after login
    expect(link!.attMtu).toBe(247);
    expect(link!.mtuBytes).toBe(244);
    vi.useRealTimers();
    await link!.close();
    await t.dispose();
  });

  it('a BLE unit whose protocol declares no pipe is a clear per-unit error', async () => {
    const { noble, peripheral } = fakeNoble();
    const t = new BleTransport({ adapterId: 'hci9', loadNoble: () => ({ noble }), pipeFor: () => undefined });
    await expect(t.open({ unitId: 'u1', transport: 'ble', protocol: 'ymodem', address: peripheral.address }, new AbortController().signal)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
