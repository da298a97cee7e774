/**
 * Conformance against an independent implementation: lrzsz `rb` behind socat (ymodem.md §11
 * topology), opened with the real serialport library. The received file must be byte-identical.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { YmodemSession, BARE_RECEIVER_PROFILE } from '../../main/engine/protocol/ymodem/index.js';
import { openSerialLink } from '../../main/engine/transport/serial/serial-transport.js';
import { describeWithTools, spawnRbPeer, tempDir, ymodemContext } from '../helpers/pty.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function testImage(n: number): Uint8Array {
  let s = 0x12345678;
  return Uint8Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24));
}

describeWithTools(['socat', 'rb'], 'ymodem sender vs lrzsz rb over a PTY', () => {
  it.each([
    ['1 MiB, 1K blocks', 1 << 20, 1024],
    ['65437 B, 1K blocks', 65437, 1024],
    ['65437 B, 128-byte blocks', 65437, 128],
    ['1 MiB, 128-byte blocks', 1 << 20, 128],
  ] as const)('%s: rb stores a byte-identical file', async (_n, size, blockSize) => {
    const dir = tempDir('flashline-rb-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const peer = await spawnRbPeer(dir);
    cleanups.push(() => peer.close());
    const link = await openSerialLink(peer.dutPath);
    cleanups.push(() => link.close());
    const image = testImage(size);
    const name = `fw_${size}_${blockSize}.bin`;
    const ctx = ymodemContext(link, image, { ...BARE_RECEIVER_PROFILE, blockSize, startTimeoutMs: 10_000 }, name);
    const session = new YmodemSession(ctx);
    const s = new AbortController().signal;
    expect(await session.identify(s)).toEqual({});
    await session.negotiate(s);
    let acked = 0;
    await session.transfer(0, (n) => (acked = n), s);
    expect(acked).toBe(size);
    expect(await session.verify(s)).toEqual({});
    expect(await session.confirm(link, s)).toBeUndefined();
    expect(await peer.exited).toBe(0);
    const got = fs.readFileSync(path.join(peer.rxDir, name));
    expect(got.length).toBe(size);
    expect(got.equals(Buffer.from(image))).toBe(true);
    expect(session.retryCount).toBe(0);
  });
});
