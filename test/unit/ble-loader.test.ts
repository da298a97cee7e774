import { afterEach, describe, expect, it } from 'vitest';
import { bleAdapterState, resetNobleForTests } from '../../main/engine/transport/ble/noble-loader.js';

afterEach(() => resetNobleForTests());

describe('noble is loaded lazily', () => {
  it('a machine without Bluetooth (noble throws while loading) is a clear no-adapter state', () => {
    const s = bleAdapterState(() => {
      const e = new Error('socket: Address family not supported by protocol') as NodeJS.ErrnoException;
      e.code = 'EAFNOSUPPORT';
      throw e;
    });
    expect(s).toEqual({ state: 'no-adapter', reason: expect.stringMatching(/No Bluetooth adapter \(EAFNOSUPPORT/) });
  });
  it('reports the adapter state when noble loads', () => {
    expect(bleAdapterState(() => ({ state: 'poweredOff', on: () => undefined }))).toEqual({ state: 'poweredOff' });
  });
  it('the real @abandonware/noble on this machine does not crash the station', () => {
    const s = bleAdapterState();
    expect(typeof s.state).toBe('string');
  });
});
