/**
 * The mqtt-ota session against a scripted pub/sub link (no broker): progress is what the device
 * reports (never bytes the HTTP server wrote into a socket), the transfer ends only when the
 * device says it has the whole image, Tencent percent is ignored where the SDK's 32-bit percent
 * overflows, and the verdict says exactly what the device confirmed.
 */
import { describe, expect, it } from 'vitest';
import type { UnitRef } from '../../main/contract/dto.js';
import { systemClock } from '../../main/engine/clock.js';
import { MqttOtaSession } from '../../main/engine/protocol/mqtt-ota/session.js';
import { TraceRing } from '../../main/engine/transport/trace.js';
import type { MqttLink, NetDeviceEvent, VersionReport } from '../../main/engine/transport/types.js';

function fakeLink(dialect: 'tencent' | 'aliyun') {
  const cbs = new Set<(e: NetDeviceEvent) => void>();
  const published: { topic: string; payload: string }[] = [];
  let report: VersionReport | undefined = { seq: 1, version: '1.0.0', atMs: performance.now() };
  const link: MqttLink = {
    kind: 'net', unitId: 'u1', mtuBytes: 2048, trace: new TraceRing(), isOpen: true,
    dialect, product: 'ABCDEFGHIJ', device: 'dev1', attached: false,
    write: async () => undefined, onData: () => () => undefined, onLost: () => () => undefined, close: async () => undefined,
    publish: async (topic, payload) => void published.push({ topic, payload }),
    onEvent: (cb) => (cbs.add(cb), () => cbs.delete(cb)),
    isOnline: () => true, isSubscribedTo: () => true,
    pendingReport: () => report, lastReport: () => report, consumeReport: () => (report = undefined),
    offerFirmware: () => 'http://192.168.10.2/f/x.bin', abortDownloads: () => undefined,
  };
  const emit = (e: NetDeviceEvent) => setTimeout(() => cbs.forEach((cb) => cb(e)), 0);
  const tencent = (progress: Record<string, string>) => emit({ type: 'uplink', topic: '$ota/report/ABCDEFGHIJ/dev1', payload: JSON.stringify({ type: 'report_progress', report: { progress, version: '2.0.0' } }) });
  return { link, emit, tencent, published };
}

function session(link: MqttLink, size: number, options: Record<string, unknown> = {}) {
  const unit: UnitRef = { unitId: 'u1', transport: 'net', protocol: link.dialect === 'tencent' ? 'mqtt-ota-tencent' : 'mqtt-ota-aliyun', address: 'ABCDEFGHIJ/dev1' };
  // The bytes are never read beyond their length: a sparse view stands in for a large image.
  const bytes = { length: size } as unknown as Uint8Array;
  return new MqttOtaSession({ link, unit, options, clock: systemClock, log: () => undefined, image: { info: { component: 'app', version: '2.0.0', kind: 'full', fileName: 'a.bin', sizeBytes: size, crc32: '00000000', md5: 'a'.repeat(32), sha256: 'b'.repeat(64) }, bytes } }, link.dialect);
}

const signal = new AbortController().signal;

describe('mqtt-ota session: only what the device confirmed', () => {
  it('bytes written into the socket do not count; percent does; the transfer ends at 100 %, the verdict rests on burning (device-md5)', async () => {
    const f = fakeLink('tencent');
    const s = session(f.link, 100_000);
    await s.identify(signal);
    const acks: number[] = [];
    const done = s.transfer(0, (b) => acks.push(b), signal);
    await new Promise((r) => setTimeout(r, 10));
    f.emit({ type: 'http-request', status: 206, start: 0, endExclusive: 100_000, size: 100_000, range: 'bytes=0-100000' });
    f.emit({ type: 'http-progress', sentTo: 100_000, size: 100_000 });
    f.emit({ type: 'http-end', sentTo: 100_000, size: 100_000, complete: true });
    f.tencent({ state: 'downloading', percent: '30', result_code: '0', result_msg: '' });
    let finished = false;
    void done.then(() => (finished = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(finished).toBe(false); // the whole image is in the socket, but the device said 30 %
    expect(acks.at(-1)).toBe(30_000);
    f.tencent({ state: 'downloading', percent: '100', result_code: '0', result_msg: '' });
    await done;
    expect(acks.at(-1)).toBe(100_000);
    f.tencent({ state: 'burning', result_code: '0', result_msg: '' });
    expect(await s.verify(signal)).toEqual({ md5: 'a'.repeat(32), confirmedBy: ['device-md5'] });
  });

  it('an image above 42.9 MB: the SDK\'s overflowing percent is not trusted; the Range offset and burning are', async () => {
    const size = 50_000_000;
    const f = fakeLink('tencent');
    const s = session(f.link, size);
    await s.identify(signal);
    const acks: number[] = [];
    const done = s.transfer(0, (b) => acks.push(b), signal);
    await new Promise((r) => setTimeout(r, 10));
    f.emit({ type: 'http-request', status: 206, start: 20_000_000, endExclusive: size, size, range: `bytes=20000000-${size}` });
    f.tencent({ state: 'downloading', percent: '100', result_code: '0', result_msg: '' }); // garbage from the overflow
    let finished = false;
    void done.then(() => (finished = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(finished).toBe(false);
    expect(acks).toEqual([20_000_000]);
    f.tencent({ state: 'burning', result_code: '0', result_msg: '' });
    await done;
    expect(acks.at(-1)).toBe(size);
  });

  it('a −5 during the download is a resumable download failure; a restart mid-download too (never an install failure)', async () => {
    const f = fakeLink('tencent');
    const s = session(f.link, 100_000);
    await s.identify(signal);
    const t = s.transfer(0, () => undefined, signal);
    await new Promise((r) => setTimeout(r, 10));
    f.tencent({ state: 'downloading', percent: '40', result_code: '0', result_msg: '' });
    f.tencent({ state: 'fail', result_code: '-5', result_msg: 'time_out' });
    await expect(t).rejects.toMatchObject({ code: 'NET_DOWNLOAD_FAILED', detail: { deviceCode: '-5', ackedBytes: 40_000 } });

    const g = fakeLink('tencent');
    const s2 = session(g.link, 100_000);
    await s2.identify(signal);
    const t2 = s2.transfer(0, () => undefined, signal);
    await new Promise((r) => setTimeout(r, 10));
    g.emit({ type: 'offline' });
    g.emit({ type: 'online', clientId: 'x' });
    g.emit({ type: 'uplink', topic: '$ota/report/ABCDEFGHIJ/dev1', payload: JSON.stringify({ type: 'report_version', report: { version: '1.0.0' } }) });
    await expect(t2).rejects.toMatchObject({ code: 'NET_DOWNLOAD_FAILED' });
  });

  it('the stall timer runs on device progress: percent repeated without moving is a stall', async () => {
    const f = fakeLink('aliyun');
    const s = session(f.link, 100_000, { stallTimeoutMs: 300 });
    await s.identify(signal);
    const t = s.transfer(0, () => undefined, signal);
    await new Promise((r) => setTimeout(r, 10));
    const step = (n: number) => f.emit({ type: 'uplink', topic: '/ota/device/progress/ABCDEFGHIJ/dev1', payload: JSON.stringify({ id: 1, params: { step: String(n) } }) });
    step(10);
    const iv = setInterval(() => step(10), 100); // alive, but not moving
    await expect(t).rejects.toMatchObject({ code: 'NET_DOWNLOAD_STALLED', detail: { ackedBytes: 10_000 } });
    clearInterval(iv);
  });
});
