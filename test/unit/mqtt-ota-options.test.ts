/**
 * mqtt-ota product options: one schema (OptionSpec) per option; unknown keys, out-of-range values
 * and a success policy the dialect cannot have are refused (CONFIG_INVALID), never ignored.
 */
import { describe, expect, it } from 'vitest';
import { MQTT_OTA_DEFAULTS, MQTT_OTA_OPTION_SPECS, resolveMqttOtaOptions } from '../../main/engine/protocol/mqtt-ota/options.js';
import { mqttSimSetup, MQTT_SIM_BEHAVIOURS } from '../../main/engine/device/mqtt-sim-units.js';
import { simBehavioursOf } from '../../main/engine/targets.js';
import { expectStationError } from '../helpers/station-error.js';

describe('mqtt-ota options', () => {
  it('defaults come from the schema; every option has a type, a default and a meaning', () => {
    expect(resolveMqttOtaOptions({})).toEqual(MQTT_OTA_DEFAULTS);
    for (const s of MQTT_OTA_OPTION_SPECS) {
      expect(s.meaning.length).toBeGreaterThan(20);
      if (s.type === 'number') expect(s.unit).toBe('ms');
    }
  });

  it('refuses unknown keys, bad types, out-of-range timers', async () => {
    expect(() => resolveMqttOtaOptions({ stalTimeoutMs: 5 })).toThrow(/unknown option/);
    expect(() => resolveMqttOtaOptions({ stallTimeoutMs: 0 })).toThrow(/stallTimeoutMs/);
    expect(() => resolveMqttOtaOptions({ rebootTimeoutMs: 86_400_001 })).toThrow(/rebootTimeoutMs/);
    expect(() => resolveMqttOtaOptions({ urlPortAllowed: 'yes' })).toThrow(/urlPortAllowed/);
    expect(() => resolveMqttOtaOptions({ module: '' })).toThrow(/module/);
    const err = await expectStationError(Promise.resolve().then(() => resolveMqttOtaOptions({ successPolicy: 'sometimes' })));
    expect(err.code).toBe('CONFIG_INVALID');
  });

  it('the done policy is refused for Aliyun (no done in that dialect); aliases map to the two policies', () => {
    expect(() => resolveMqttOtaOptions({ successPolicy: 'done' }, 'aliyun')).toThrow(/Aliyun units have no "done"/);
    expect(() => resolveMqttOtaOptions({ successPolicy: 'done-is-success' }, 'aliyun')).toThrow(/no "done"/);
    expect(resolveMqttOtaOptions({ successPolicy: 'done-is-success' }, 'tencent').successPolicy).toBe('done');
    expect(resolveMqttOtaOptions({ successPolicy: 'version-after-reboot' }, 'aliyun').successPolicy).toBe('version');
  });

  it('every networked sim behaviour maps to a device profile or fault, and targets accept exactly the implemented ones', () => {
    for (const b of MQTT_SIM_BEHAVIOURS) expect(mqttSimSetup(b)).not.toEqual(mqttSimSetup('accept'));
    expect(mqttSimSetup('tencent_sample').profile).toBe('tencent-sample');
    expect(mqttSimSetup('psk_wrong_key')).toMatchObject({ psk: true, faults: { pskWrongKey: true } });
    expect(simBehavioursOf('mqtt-ota-tencent')).toEqual(expect.arrayContaining(['tencent_sample', 'power_cut_at_end', 'psk_wrong_key']));
    expect(simBehavioursOf('mqtt-ota-aliyun')).not.toContain('tencent_sample');
    expect(simBehavioursOf('ymodem')).not.toContain('power_cut');
  });
});
