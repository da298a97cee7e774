/**
 * LLSync framing against the spec's vectors (llsync-ota.md §4–§9): HMACs, slicing both ways,
 * repeated slice headers, request/reply codecs, CRC, advertising, and garbage never throwing.
 */
import { describe, expect, it } from 'vitest';
import {
  EventReassembler,
  HostMessageReassembler,
  deviceAuthSignature,
  encodeConnAuth,
  encodeDataPacket,
  encodeDeviceEvent,
  encodeMtuResult,
  encodeOtaRequest,
  hostAuthSignature,
  parseCheckResult,
  parseDataReply,
  parseDeviceInfo,
  parseOtaReply,
} from '../../main/engine/protocol/llsync-ota/frames.js';
import { decodeLlsyncManufacturerData, encodeLlsyncManufacturerData } from '../../main/engine/protocol/llsync-ota/advertising.js';
import { crc32 } from '../../main/engine/codec/crc32.js';

const hex = (b: Uint8Array | Uint8Array[]) => (Array.isArray(b) ? b.map((x) => Buffer.from(x).toString('hex')) : Buffer.from(b).toString('hex'));
const bytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'));
const ZERO = new Uint8Array(4);

describe('llsync frames', () => {
  it('§6.1 HMAC vectors', () => {
    expect(hex(hostAuthSignature(ZERO, 1597143546))).toBe('e270144b072110af9885e3b309febf831ac5b2e9');
    expect(hex(hostAuthSignature(bytes('01020304'), 1597143546))).toBe('9310d1242db1b266f20169e35a6a02bdc88d0d7f');
    expect(hex(deviceAuthSignature(ZERO, 1597143546, 'HARNESSPID', 'dev001'))).toBe('491dc7cc015a028c10e43bd60db0acc36a47469d');
  });

  it('§9 worked trace: auth slices, request, data packets, MTU result', () => {
    expect(hex(encodeConnAuth(ZERO, 1597143546, 20))).toEqual(['0140115f3279fae270144b072110af9885e3b309', '01c007febf831ac5b2e9']);
    const img = Uint8Array.from({ length: 40 }, (_, i) => i);
    expect(crc32(img)).toBe(0x0da62e3c);
    expect(hex(encodeOtaRequest(40, 0x0da62e3c, '1.0.1', 20))).toEqual(['00000e000000280da62e3c05312e302e31']);
    expect(hex(encodeDataPacket(2, img.subarray(32)))).toBe('0109022021222324252627');
    expect(hex(encodeMtuResult(0))).toBe('090000');
  });

  it('§4.4 a 32-character version is sliced into first/middle/last and reassembled by the device side', () => {
    const w = encodeOtaRequest(0xff, 0x1870163c, 'rqponmlkjihgfedcba_-.0987654321v', 20);
    expect(w.map((x) => hex(x).slice(0, 6))).toEqual(['004011', '008011', '00c007']);
    const r = new HostMessageReassembler();
    const got = w.map((x) => r.push(x));
    const last = got.at(-1)!;
    expect(last.ok && last.value && hex(last.value.data)).toBe('000000ff1870163c20' + Buffer.from('rqponmlkjihgfedcba_-.0987654321v').toString('hex'));
  });

  it('§4.1 device info slices repeat the 4-byte header; reassembly drops it', () => {
    const v = 'rqponmlkjihgfedcba_-.0987654321v';
    const notes = encodeDeviceEvent(0x08, bytes('028017' + '20' + Buffer.from(v).toString('hex')), 20);
    expect(hex(notes)).toEqual(['0840110280172072717' + '06f6e6d6c6b6a69686766', '08801102801720' + '65646362615f2d2e3039383736', '08c00a028017' + '20353433323176']);
    const r = new EventReassembler();
    const ev = notes.map((n) => r.push(n)).at(-1)!;
    expect(ev.ok && ev.value && parseDeviceInfo(ev.value.value)).toMatchObject({ ok: true, value: { version: v, wantsMtuSet: true, mtuHint: 23 } });
  });

  it('§7.2/§7.4/§7.6 replies', () => {
    expect(parseOtaReply(bytes('03ff1302140000000005'))).toEqual({ ok: true, value: { allowed: true, grant: { supportsResume: true, packetsPerLoop: 255, packageBytes: 19, retryPeriodSec: 2, rebootTimeSec: 20, resumeOffset: 0, intervalMs: 5 } } });
    expect(parseOtaReply(bytes('0003'))).toEqual({ ok: true, value: { allowed: false, reason: 3 } });
    expect(parseDataReply(bytes('0700000070'))).toEqual({ ok: true, value: { nextSeq: 7, receivedBytes: 112 } });
    expect(parseCheckResult(bytes('80'))).toEqual({ ok: true, value: { passed: true } });
    expect(parseCheckResult(bytes('00'))).toMatchObject({ ok: true, value: { passed: false, reason: 'crc' } });
    expect(parseCheckResult(bytes('02'))).toMatchObject({ ok: true, value: { passed: false, reason: 'file-rejected' } });
  });

  it('garbage yields tagged errors, never throws', () => {
    const r = new EventReassembler();
    for (const g of ['', '0a', '0a0009dead', '0a8001ff', '09000a03', '0bffff']) expect(() => r.push(bytes(g))).not.toThrow();
    expect(r.push(bytes('0a0009dead')).ok).toBe(false);
    expect(r.push(bytes('0a8001ff')).ok).toBe(false); // middle slice without a first
    expect(parseOtaReply(bytes('0100')).ok).toBe(false);
    expect(parseDeviceInfo(bytes('0280172130')).ok).toBe(false);
  });

  it('§2 advertising round trip', () => {
    const md = encodeLlsyncManufacturerData({ protocolVersion: 2, bindState: 'unbound', mac: '11:22:33:44:55:66', productId: 'HARNESSPID' });
    expect(hex(md)).toBe('e7fe20112233445566' + Buffer.from('HARNESSPID').toString('hex'));
    expect(decodeLlsyncManufacturerData(md)).toEqual({ ok: true, value: { bindState: 'unbound', protocolVersion: 2, mac: '11:22:33:44:55:66', productId: 'HARNESSPID' } });
  });
});
