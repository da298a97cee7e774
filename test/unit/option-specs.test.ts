/**
 * Issue 9 §9: every protocol's option schema describes exactly the options its resolver accepts
 * (same keys, defaults the resolver takes), `--opt` is parsed by type and checked (unknown
 * protocol/key, wrong type, out of range → CONFIG_INVALID; digit-only strings stay strings), and
 * product profiles are checked (timers and limits in range, success policies a protocol can have).
 */
import { describe, expect, it } from 'vitest';
import { PROTOCOL_IDS, type ProtocolId } from '../../main/contract/dto.js';
import { LLSYNC_DEFAULTS, resolveLlsyncOptions } from '../../main/engine/protocol/llsync-ota/options.js';
import { YMODEM_DEFAULTS, resolveYmodemOptions } from '../../main/engine/protocol/ymodem/options.js';
import { QUECTHING_DEFAULTS, resolveQuecthingOptions } from '../../main/engine/protocol/quecthing-sota/options.js';
import { MQTT_OTA_DEFAULTS, resolveMqttOtaOptions } from '../../main/engine/protocol/mqtt-ota/options.js';
import { optionSpecsOf } from '../../main/engine/protocol/registry.js';
import { BUILTIN_PROFILES, checkProfile, defaultOptions, effectiveProfile, parseOptLines } from '../../main/engine/profile/index.js';
import { parseProtocolOptions } from '../../main/cli/cli.js';
import { StationError } from '../../main/engine/errors.js';

function expectStationError(fn: () => unknown, code: string, message: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(StationError);
  expect((err as StationError).code).toBe(code);
  expect((err as StationError).message).toMatch(message);
}

const RESOLVERS: Record<ProtocolId, { defaults: Record<string, unknown>; resolve: (r: Record<string, unknown>) => unknown; notOptions?: string[] }> = {
  'llsync-ota': { defaults: LLSYNC_DEFAULTS as unknown as Record<string, unknown>, resolve: resolveLlsyncOptions, notOptions: ['unixTimeSec'] },
  ymodem: { defaults: YMODEM_DEFAULTS as unknown as Record<string, unknown>, resolve: resolveYmodemOptions },
  'quecthing-sota': { defaults: QUECTHING_DEFAULTS as unknown as Record<string, unknown>, resolve: resolveQuecthingOptions },
  'mqtt-ota-tencent': { defaults: MQTT_OTA_DEFAULTS as unknown as Record<string, unknown>, resolve: resolveMqttOtaOptions },
  'mqtt-ota-aliyun': { defaults: MQTT_OTA_DEFAULTS as unknown as Record<string, unknown>, resolve: resolveMqttOtaOptions },
};

describe('option schemas', () => {
  for (const protocol of PROTOCOL_IDS) {
    it(`${protocol}: one spec per resolver option, defaults equal, each with a meaning`, () => {
      const r = RESOLVERS[protocol];
      const specs = optionSpecsOf(protocol);
      const keys = Object.keys(r.defaults).filter((k) => !r.notOptions?.includes(k)).sort();
      expect(specs.map((s) => s.key).sort()).toEqual(keys);
      for (const s of specs) {
        expect(s.meaning.length, s.key).toBeGreaterThan(10);
        const d = r.defaults[s.key];
        expect(d instanceof RegExp ? d.source : d, s.key).toEqual(s.default);
      }
      // The schema's defaults, written out as a batch journals them, resolve unchanged.
      expect(() => r.resolve(defaultOptions(protocol))).not.toThrow();
    });
  }
});

describe('--opt parsing', () => {
  it('parses by the option type; a digit-only string stays a string', () => {
    expect(parseProtocolOptions(['llsync-ota.localPsk=00001234', 'ymodem.blockSize=128', 'ymodem.verdict=false', 'ymodem.fileName=12345', 'ymodem.flashBytes=null', 'ymodem.versionQuery=ver\\r\\n'])).toEqual({
      'llsync-ota': { localPsk: '00001234' },
      ymodem: { blockSize: 128, verdict: false, fileName: '12345', flashBytes: null, versionQuery: 'ver\r\n' },
    });
    expect(parseOptLines(['mqtt-ota-tencent.module=42'])).toEqual({ 'mqtt-ota-tencent': { module: '42' } });
  });

  it('refuses unknown protocols and keys, wrong types and values out of range', () => {
    expectStationError(() => parseProtocolOptions(['ymodem.bogus=1']), 'CONFIG_INVALID', /no option "bogus"/);
    expectStationError(() => parseProtocolOptions(['zmodem.blockSize=1']), 'CONFIG_INVALID', /unknown protocol "zmodem"/);
    expectStationError(() => parseProtocolOptions(['ymodem.blockSize=512']), 'CONFIG_INVALID', /one of 1024, 128/);
    expectStationError(() => parseProtocolOptions(['ymodem.verdict=yes']), 'CONFIG_INVALID', /true or false/);
    expectStationError(() => parseProtocolOptions(['llsync-ota.replyTimeoutMs=ten']), 'CONFIG_INVALID', /must be a number/);
    expectStationError(() => parseProtocolOptions(['llsync-ota.replyTimeoutMs=5']), 'CONFIG_INVALID', /below the minimum 100 ms/);
    expectStationError(() => parseProtocolOptions(['llsync-ota.mtuResult=sometimes']), 'CONFIG_INVALID', /after-sync, always, never/);
    expectStationError(() => parseProtocolOptions(['llsync-ota.localPsk']), 'CONFIG_INVALID', /PROTOCOL\.KEY=VALUE/);
  });
});

describe('product profiles', () => {
  it('the built-in profiles check and name every family', () => {
    expect(BUILTIN_PROFILES.map((p) => p.id)).toEqual(['st-iap-ymodem', 'lrzsz-receiver', 'tencent-c-sdk', 'aliyun-iotkit-3', 'quectel-mcu', 'llsync-sdk']);
    for (const p of BUILTIN_PROFILES) expect(checkProfile(p, { builtIn: true })).toEqual(p);
  });

  it('refuses bad profiles clearly', () => {
    const base = { id: 'line-7', protocol: 'llsync-ota', options: {} };
    expectStationError(() => checkProfile({ ...base, options: { nope: 1 } }), 'CONFIG_INVALID', /no option "nope"/);
    expectStationError(() => checkProfile({ ...base, protocol: 'bogus' }), 'CONFIG_INVALID', /unknown protocol/);
    expectStationError(() => checkProfile({ ...base, timers: { rebootTimeoutMs: 10 } }), 'CONFIG_INVALID', /out of range 100\.\.86400000/);
    expectStationError(() => checkProfile({ ...base, timers: { connectTimeoutMs: 10_000_000 } }), 'CONFIG_INVALID', /out of range/);
    expectStationError(() => checkProfile({ ...base, timers: { announceWindowMs: 1000 } }), 'CONFIG_INVALID', /cannot be applied to llsync-ota/);
    expectStationError(() => checkProfile({ ...base, limits: { maxFileNameChars: 63 } }), 'CONFIG_INVALID', /cannot be checked for llsync-ota/);
    expectStationError(() => checkProfile({ ...base, protocol: 'mqtt-ota-aliyun', successPolicy: 'done-is-success' }), 'CONFIG_INVALID', /not possible with mqtt-ota-aliyun/);
    expectStationError(() => checkProfile({ ...base, id: 'Bad Id' }), 'CONFIG_INVALID', /profile id/);
    expectStationError(() => checkProfile({ ...base, colour: 'red' }), 'CONFIG_INVALID', /unknown field "colour"/);
  });

  it('the effective profile writes out every option and sets every timer, overrides winning', () => {
    const p = checkProfile({ id: 'tc', protocol: 'mqtt-ota-tencent', successPolicy: 'done-is-success', timers: { rebootTimeoutMs: 400_000 }, options: {} });
    const e = effectiveProfile({ profile: p, overrides: { stallTimeoutMs: 5000 } });
    expect(Object.keys(e.options).sort()).toEqual(optionSpecsOf('mqtt-ota-tencent').map((s) => s.key).sort());
    expect(e.options).toMatchObject({ successPolicy: 'done', rebootTimeoutMs: 400_000, stallTimeoutMs: 5000 });
    expect(e.timers).toMatchObject({ rebootTimeoutMs: 400_000, stallTimeoutMs: 5000, connectTimeoutMs: 15_000 });
    // No profile timer: the protocol option is the window (no 60 s cap over a 300 s T_reboot).
    const d = effectiveProfile({ profile: { id: 'x', name: 'x', builtIn: false, protocol: 'mqtt-ota-aliyun', options: {} } });
    expect(d.timers?.rebootTimeoutMs).toBe(300_000);
  });
});
