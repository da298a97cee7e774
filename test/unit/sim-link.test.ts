import { describe, expect, it } from 'vitest';
import { createSimLinkPair } from '../../main/engine/transport/sim/sim-link.js';
import { ByteReader } from '../../main/engine/transport/byte-reader.js';
import { StationError } from '../../main/engine/errors.js';

describe('sim link model', () => {
  it('delivers in order at the configured byte rate', async () => {
    const { host, device } = createSimLinkPair('u1', { bytesPerSecond: 100_000, latencyMs: 2, mtuBytes: 256, lossRate: 0 });
    const got: number[] = [];
    device.onData((c) => got.push(...c));
    const data = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    const t0 = performance.now();
    await host.write(data);
    const sendMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([...data]);
    // 5000 B at 100 kB/s = 50 ms on the wire: the write resolves when the last byte has left.
    expect(sendMs).toBeGreaterThanOrEqual(45);
    expect(sendMs).toBeLessThan(150);
  });

  it('splits writes at the MTU and loses chunks at the configured rate, reproducibly', async () => {
    const run = async () => {
      const { host, device } = createSimLinkPair('lossy', { bytesPerSecond: 10_000_000, latencyMs: 0, mtuBytes: 20, lossRate: 0.25 }, { seed: 7 });
      const chunks: number[] = [];
      device.onData((c) => chunks.push(c.length));
      for (let i = 0; i < 40; i++) await host.write(new Uint8Array(20));
      await new Promise((r) => setTimeout(r, 10));
      return chunks.length;
    };
    const a = await run();
    expect(a).toBeGreaterThan(20);
    expect(a).toBeLessThan(40);
    expect(await run()).toBe(a);
  });

  it('a device-side drop fails pending reads and later writes with TRANSPORT_LOST', async () => {
    const { host, device } = createSimLinkPair('u2', { bytesPerSecond: 1_000_000, latencyMs: 0, mtuBytes: 64, lossRate: 0 });
    const reader = new ByteReader(host);
    const pending = reader.readByte(1000);
    device.drop();
    await expect(pending).rejects.toMatchObject({ code: 'TRANSPORT_LOST' });
    await expect(host.write(Uint8Array.of(1))).rejects.toBeInstanceOf(StationError);
    expect(host.isOpen).toBe(false);
  });

  it('ByteReader reads across chunk boundaries, lines, and times out with PROTOCOL_TIMEOUT', async () => {
    const { host, device } = createSimLinkPair('u3', { bytesPerSecond: 1_000_000, latencyMs: 0, mtuBytes: 3, lossRate: 0 });
    const reader = new ByteReader(host);
    device.write(new TextEncoder().encode('VER 1.2.3\r\nOK'));
    const line = await reader.readUntil(0x0a, 500);
    expect(new TextDecoder().decode(line)).toBe('VER 1.2.3\r');
    expect([...(await reader.read(2, 500))]).toEqual([0x4f, 0x4b]);
    await expect(reader.readByte(30)).rejects.toMatchObject({ code: 'PROTOCOL_TIMEOUT' });
  });

  it('timer lateness does not pile up over round trips (replies are stamped at the ideal arrival)', async () => {
    const { host, device } = createSimLinkPair('pingpong', { bytesPerSecond: 1_000_000, latencyMs: 2, mtuBytes: 64, lossRate: 0 });
    device.onData((c) => device.write(c)); // echo at once, like a device ACK
    const reader = new ByteReader(host);
    const rounds = 100;
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) {
      await host.write(Uint8Array.of(i));
      expect(await reader.readByte(1000)).toBe(i);
    }
    const ms = performance.now() - t0;
    const ideal = rounds * 2 * 2; // two 2 ms hops per round
    expect(ms).toBeGreaterThanOrEqual(ideal - 5);
    expect(ms).toBeLessThan(ideal * 1.5);
  });
});
