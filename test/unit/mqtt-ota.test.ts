/**
 * mqtt-ota pure parts: the spec's signature vectors (§4.4, §7.3), the credential CSV and ACL,
 * Range rules (§3.5), the message codec, device-code mapping, the DNS codec (+ a live lookup),
 * and a replay of the real SDKs' conformance traces (test/fixtures/traces/mqtt).
 */
import { describe, expect, it } from 'vitest';
import dns from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  aliyunPassword,
  CredentialStore,
  maySubscribe,
  mayPublish,
  mayReceive,
  parseCredentialCsv,
  tencentPassword,
  topicMatches,
  verifyConnect,
} from '../../main/engine/transport/net/auth.js';
import { parseRange } from '../../main/engine/transport/net/firmware-server.js';
import { DnsResponder, respond } from '../../main/engine/transport/net/dns-responder.js';
import { mapAliyunStep, mapTencentCode, parseUplink, tencentPush, aliyunPush } from '../../main/engine/protocol/mqtt-ota/messages.js';
import { resolveMqttOtaOptions } from '../../main/engine/protocol/mqtt-ota/options.js';

describe('signatures (spec worked examples)', () => {
  const user = 'ABCDEFGHIJdev001;21010406;aB3x9;9223372036854775807';
  it('Tencent §4.4: HMAC keyed with the decoded secret, sha1 and sha256, 32-bit expiry; the base64-text key must not verify', () => {
    expect(tencentPassword(user, 'MTIzNDU2Nzg5MGFiY2RlZg==', 'hmacsha1')).toBe('6e367496121008418819d078edc576187860ac30;hmacsha1');
    expect(tencentPassword(user, 'MTIzNDU2Nzg5MGFiY2RlZg==', 'hmacsha256')).toBe('e4b604bbb21ff8cb626c90ec92ef3ac3866b5ae2794163a8aab056e1727a9d28;hmacsha256');
    expect(tencentPassword('ABCDEFGHIJdev001;21010406;aB3x9;2147483647', 'MTIzNDU2Nzg5MGFiY2RlZg==')).toBe('7560898d4f3f13a8450904f0def770250b911a1b;hmacsha1');
    expect(tencentPassword('ABCDEFGHIJdev001;21010406;uHBrT;9223372036854775807', 'CZSoBfbfOpgneiktynoV0A==')).toBe('658519eefdc250a7f8176a313b4a9ef8fbcb208a;hmacsha1');
    const store = new CredentialStore();
    store.add({ dialect: 'tencent', product: 'ABCDEFGHIJ', device: 'dev001', secret: 'MTIzNDU2Nzg5MGFiY2RlZg==' });
    expect(verifyConnect(store, 'ABCDEFGHIJdev001', user, '6E367496121008418819D078EDC576187860AC30;hmacsha1').ok).toBe(true);
    expect(verifyConnect(store, 'ABCDEFGHIJdev001', user, 'c565782c184a5df4a593bbc1290a99b7431fae02;hmacsha1').ok).toBe(false);
    expect(verifyConnect(store, 'ABCDEFGHIJdev002', user, '6e367496121008418819d078edc576187860ac30;hmacsha1').ok).toBe(false);
    // PSK sockets: no password, the identity must equal the client id
    expect(verifyConnect(store, 'ABCDEFGHIJdev001', user, undefined, 'ABCDEFGHIJdev001').ok).toBe(true);
    expect(verifyConnect(store, 'ABCDEFGHIJdev001', user, undefined, 'ABCDEFGHIJdev009').ok).toBe(false);
  });

  it('Aliyun §7.3: secret as text, sorted parameters, with and without timestamp, sha1', () => {
    const cid = 'a1b2c3d4e5F.dev001|timestamp=2524608000000,_v=sdk-c-3.0.1,securemode=3,signmethod=hmacsha256,lan=C,gw=0,ext=0|';
    const secret = '0123456789abcdef0123456789abcdef';
    expect(aliyunPassword(cid, 'a1b2c3d4e5F', 'dev001', secret)).toBe('83CF1F09E796BE2EE05074A450E53AAFABE67284F0F9B4A141D7A52E8FED5BCC');
    expect(aliyunPassword(cid.replace('hmacsha256', 'hmacsha1'), 'a1b2c3d4e5F', 'dev001', secret)).toBe('88E7B4F75CC033AC0F23040D9171A40246DC1FF7');
    expect(aliyunPassword('a1b2c3d4e5F.dev001|securemode=3,signmethod=hmacsha256|', 'a1b2c3d4e5F', 'dev001', secret)).toBe('5A113723D3ED5EDA6639EC5E5B499F7AC0F9FC4BD8587A9C5BB3B3FCA58E8372');
    const store = new CredentialStore();
    store.add({ dialect: 'aliyun', product: 'a1b2c3d4e5F', device: 'dev001', secret });
    expect(verifyConnect(store, cid, 'dev001&a1b2c3d4e5F', '83cf1f09e796be2ee05074a450e53aafabe67284f0f9b4a141d7a52e8fed5bcc').ok).toBe(true);
    expect(verifyConnect(store, cid, 'dev001&a1b2c3d4e5F', '5A113723D3ED5EDA6639EC5E5B499F7AC0F9FC4BD8587A9C5BB3B3FCA58E8372').ok).toBe(false);
  });
});

describe('credentials and ACL', () => {
  it('parses the credential CSV and reports the bad line', () => {
    const ok = parseCredentialCsv('dialect,product,device,secret\n# line 3\ntencent,ABCDEFGHIJ,dev001,MTIzNDU2Nzg5MGFiY2RlZg==\naliyun,a1b2c3d4e5F,dev001,abc\n');
    expect(ok).toMatchObject({ ok: true, credentials: [{ dialect: 'tencent', device: 'dev001' }, { dialect: 'aliyun', secret: 'abc' }] });
    expect(parseCredentialCsv('tencent,A,B\n')).toMatchObject({ ok: false, line: 1 });
    expect(parseCredentialCsv('dialect,product,device,secret\nazure,A,B,C\n')).toMatchObject({ ok: false, line: 2 });
  });

  it('own topics only; wildcards only when they cover an own OTA topic; `+`/`#` never match `$` topics', () => {
    const t = { dialect: 'tencent' as const, product: 'P', device: 'd1', secret: 'x' };
    const a = { dialect: 'aliyun' as const, product: 'K', device: 'd1', secret: 'x' };
    expect(mayPublish(t, '$ota/report/P/d1').ok).toBe(true);
    expect(mayPublish(t, '$ota/report/P/d2').ok).toBe(false);
    expect(maySubscribe(t, '$ota/update/P/d2').ok).toBe(false);
    expect(maySubscribe(t, '#').ok).toBe(false);
    expect(maySubscribe(a, '/ota/device/upgrade/+/+').ok).toBe(true); // Aliyun 4.x (§2.5)
    expect(mayReceive(a, '/ota/device/upgrade/K/d2')).toBe(false);
    expect(topicMatches('#', '$ota/update/P/d1')).toBe(false);
    expect(topicMatches('$ota/+/P/+', '$ota/update/P/d1')).toBe(true);
    expect(topicMatches('/sys/+/+/thing/ota/firmware/get', '/sys/K/d1/thing/ota/firmware/get')).toBe(true);
  });
});

describe('Range (§3.5)', () => {
  it('clamps the Tencent end = size, takes open ends, answers an empty 206 at the end, never ignores Range', () => {
    expect(parseRange(undefined, 100)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=0-100', 100)).toEqual({ kind: 'partial', start: 0, endInclusive: 99 });
    expect(parseRange('bytes=40-', 100)).toEqual({ kind: 'partial', start: 40, endInclusive: 99 });
    expect(parseRange('bytes=10-19', 100)).toEqual({ kind: 'partial', start: 10, endInclusive: 19 });
    expect(parseRange('bytes=100-100', 100)).toEqual({ kind: 'empty', start: 100 });
    expect(parseRange('bytes=-5', 100).kind).toBe('invalid');
    expect(parseRange('bytes=0-1,5-6', 100).kind).toBe('invalid');
  });
});

describe('messages and codes', () => {
  it('parses numbers given as strings and maps every device code', () => {
    expect(parseUplink('tencent', '$ota/report/P/d', '{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"53","result_code":"0","result_msg":""},"version":"2.0.0"}}')).toEqual({ kind: 'progress', state: 'downloading', percent: 53, version: '2.0.0' });
    expect(parseUplink('tencent', '$ota/report/P/d', '{"type":"report_progress","report":{"progress":{"state":"fail","result_code":-4,"result_msg":"time_out"},"version":"2.0.0"}}')).toMatchObject({ kind: 'fail', code: -4 });
    expect(parseUplink('aliyun', '/ota/device/progress/K/d', '{"id":18,"params":{"step":"-3","desc":""}}')).toMatchObject({ kind: 'step', step: -3 });
    expect(parseUplink('aliyun', '/sys/K/d/thing/ota/firmware/get', '{"id":19,"params":{}}')).toEqual({ kind: 'pull', id: 19, module: undefined });
    expect([-1, -2, -3, -4, -5].map((c) => mapTencentCode(c).code)).toEqual(['NET_DOWNLOAD_STALLED', 'NET_FILE_NOT_FOUND', 'NET_URL_EXPIRED', 'PROTOCOL_MD5_MISMATCH', 'DEVICE_ERROR']);
    expect([-1, -2, -3, -4].map((c) => mapAliyunStep(c).code)).toEqual(['DEVICE_ERROR', 'NET_DOWNLOAD_FAILED', 'PROTOCOL_MD5_MISMATCH', 'DEVICE_FLASH_WRITE_FAILED']);
    const push = { version: '2.0.0', url: 'http://192.168.10.2/f/x.bin', md5: 'CF3B32DC0932F254F45E37F4CBEB89B3', sizeBytes: 102400 };
    expect(tencentPush(push)).toBe('{"type":"update_firmware","version":"2.0.0","url":"http://192.168.10.2/f/x.bin","md5sum":"cf3b32dc0932f254f45e37f4cbeb89b3","file_size":102400}');
    expect(JSON.parse(aliyunPush(push, 7))).toMatchObject({ message: 'success', data: { size: 102400, md5: push.md5.toLowerCase(), sign: push.md5.toLowerCase(), signMethod: 'Md5' } });
    expect(() => resolveMqttOtaOptions({ successPolicy: 'maybe' })).toThrow(/successPolicy/);
  });
});

describe('DNS responder (§10)', () => {
  function query(name: string, qtype = 1): Uint8Array {
    const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
    return Uint8Array.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, qtype, 0, 1]);
  }
  it('answers configured cloud names with the station address and refuses the rest', async () => {
    const opts = { answer: '192.168.10.2', names: ['*.iotcloud.tencentdevices.com'] };
    const a = respond(query('ABCDEFGHIJ.iotcloud.tencentdevices.com'), opts)!;
    expect([a[3]! & 0xf, a[7]]).toEqual([0, 1]);
    expect([...a.subarray(a.length - 4)]).toEqual([192, 168, 10, 2]);
    expect(respond(query('example.com'), opts)![3]! & 0xf).toBe(5);
    const r = new DnsResponder({ host: '127.0.0.1', port: 0, answer: '127.0.0.9', names: ['*.iot-as-mqtt.cn-shanghai.aliyuncs.com'] });
    await r.start();
    try {
      const resolver = new dns.promises.Resolver();
      resolver.setServers([`127.0.0.1:${r.port}`]);
      expect(await resolver.resolve4('a1MZxOdcBnO.iot-as-mqtt.cn-shanghai.aliyuncs.com')).toEqual(['127.0.0.9']);
      await expect(resolver.resolve4('example.com')).rejects.toMatchObject({ code: 'EREFUSED' });
    } finally {
      await r.stop();
    }
  });
});

// Recorded data inside the repository; never skipped: a missing folder fails the suite.
const TRACES = fileURLToPath(new URL('../fixtures/traces/mqtt/', import.meta.url));
const traceFiles = fs.readdirSync(TRACES).filter((f) => f.endsWith('.jsonl')).sort();
if (traceFiles.length === 0) throw new Error(`no MQTT conformance traces in ${TRACES}`);

describe('conformance: replay of the real SDKs’ traces', () => {
  for (const file of traceFiles) {
    it(file, () => {
      const lines = fs.readFileSync(path.join(TRACES, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const h = lines[0]!;
      const dialect = h.dialect as 'tencent' | 'aliyun';
      const product = (h.productId ?? h.productKey) as string;
      const store = new CredentialStore();
      store.add({ dialect, product, device: h.deviceName as string, secret: h.deviceSecret as string });
      const recs = lines.slice(1);
      const connect = recs.find((r) => r.type === 'CONNECT')!;
      // The station accepts the real SDK's CONNECT (password computed, not compared to the trace).
      expect(verifyConnect(store, connect.clientId as string, connect.username as string, connect.password as string)).toMatchObject({ ok: true });
      expect(verifyConnect(store, connect.clientId as string, connect.username as string, 'f'.repeat(40) + ';hmacsha1').ok).toBe(false);
      const kinds: string[] = [];
      for (const r of recs.filter((x) => x.type === 'PUBLISH' && x.dir === 'dev>station')) {
        const up = parseUplink(dialect, r.topic as string, r.payload as string);
        if ((r.topic as string).includes('/ota/') || (r.topic as string).startsWith('$ota/')) expect(up.kind).not.toBe('other');
        kinds.push(up.kind === 'progress' ? (up as { state: string }).state : up.kind === 'fail' ? `fail${(up as { code: number }).code}` : up.kind);
      }
      for (const r of recs.filter((x) => x.type === 'request')) {
        const range = parseRange((r.range as string | null) ?? undefined, h.imageSize as number);
        if (r.range === null) expect(range.kind).toBe('full');
        else expect(range.kind).toBe('partial');
      }
      if (file.startsWith('tencent-full')) expect(kinds).toEqual(['version', 'downloading', 'downloading', 'downloading', 'done']);
      if (file.startsWith('tencent-md5')) {
        expect(kinds).toContain('fail-4');
        expect(mapTencentCode(-4).code).toBe('PROTOCOL_MD5_MISMATCH');
      }
      if (file.startsWith('tencent-resume')) {
        expect(kinds.filter((k) => k === 'version')).toHaveLength(2);
        expect(kinds).toContain('fail-5');
        const second = recs.filter((x) => x.type === 'request')[1]!;
        expect(parseRange(second.range as string, h.imageSize as number)).toEqual({ kind: 'partial', start: 39992, endInclusive: 102399 });
      }
      // Aliyun v3: deviceinfo/update (not OTA), then the inform before subscribing, then step 0 (§8.2).
      if (file.startsWith('aliyun-full')) expect(kinds).toEqual(['other', 'version', 'step']);
    });
  }
});
