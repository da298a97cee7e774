import { describe, expect, it } from 'vitest';
import { parseTarget, parseTargets } from '../../main/engine/targets.js';
import { StationError } from '../../main/engine/errors.js';

describe('target syntax', () => {
  it('parses serial with and without baud, keeping paths that contain colons', () => {
    expect(parseTarget('serial:/dev/ttyUSB0:ymodem')[0]).toMatchObject({ transport: 'serial', address: '/dev/ttyUSB0', baudRate: 115200, protocol: 'ymodem' });
    expect(parseTarget('serial:/dev/ttyACM1@921600:ymodem')[0]).toMatchObject({ address: '/dev/ttyACM1', baudRate: 921600 });
    expect(parseTarget('serial:/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0-port0:quecthing-sota')[0]).toMatchObject({ address: '/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0-port0', protocol: 'quecthing-sota' });
  });
  it('parses ble MACs and mqtt product/device', () => {
    expect(parseTarget('ble:AA:BB:CC:DD:EE:FF:llsync-ota')[0]).toMatchObject({ transport: 'ble', address: 'aa:bb:cc:dd:ee:ff', protocol: 'llsync-ota' });
    expect(parseTarget('mqtt:PROD123/dev_01:mqtt-ota-tencent')[0]).toMatchObject({ transport: 'net', address: 'PROD123/dev_01' });
  });
  it('expands sim targets with unique ids across several targets', () => {
    const units = parseTargets(['sim:ymodem:3', 'sim:ymodem:2:crc_failure', 'sim:llsync-ota:2']);
    expect(units.map((u) => u.unitId)).toEqual(['sim:ymodem:1', 'sim:ymodem:2', 'sim:ymodem:3', 'sim:ymodem:4', 'sim:ymodem:5', 'sim:llsync-ota:1', 'sim:llsync-ota:2']);
    expect(units[3]!.sim?.behaviour).toBe('crc_failure');
    expect(new Set(units.map((u) => u.serialNumber)).size).toBe(units.length);
  });
  it.each([
    ['nonsense'],
    ['sim:ymodem:0'],
    ['sim:ymodem:x'],
    ['sim:bogus:2'],
    ['sim:ymodem:2:explode'],
    ['serial:/dev/ttyUSB0:xmodem'],
    ['serial::ymodem'],
    ['ble:bad id!:llsync-ota'],
    ['mqtt:nodevice:mqtt-ota-aliyun'],
    ['usb:1:ymodem'],
  ])('rejects %s with CONFIG_INVALID', (t) => {
    expect(() => parseTarget(t)).toThrow(StationError);
    try {
      parseTarget(t);
    } catch (e) {
      expect((e as StationError).code).toBe('CONFIG_INVALID');
    }
  });
  it('rejects a unit listed twice', () => {
    expect(() => parseTargets(['serial:/dev/a:ymodem', 'serial:/dev/a@9600:ymodem'])).toThrow(/twice/);
  });
});

describe('sim behaviours per protocol', () => {
  it('a knob the virtual device does not implement is a problem, not a silent accept', async () => {
    const { simBehaviourProblem } = await import('../../main/engine/targets.js');
    expect(simBehaviourProblem({ protocol: 'mqtt-ota-tencent', sim: { behaviour: 'refuse_version', initialVersion: '1.0.0' } })).toMatch(/not implemented by the mqtt-ota-tencent virtual device/);
    expect(simBehaviourProblem({ protocol: 'mqtt-ota-aliyun', sim: { behaviour: 'disconnect', initialVersion: '1.0.0' } })).toBeNull();
    expect(simBehaviourProblem({ protocol: 'ymodem', sim: { behaviour: 'brick', initialVersion: '1.0.0' } })).toBeNull();
    expect(simBehaviourProblem({ protocol: 'ymodem', sim: { behaviour: 'garbage', initialVersion: '1.0.0' } })).toMatch(/not implemented/);
  });
});
