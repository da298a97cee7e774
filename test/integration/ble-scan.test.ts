/**
 * `flashline scan` over BLE: the real CLI scanning virtual LLSync peripherals through the real
 * noble (simulated bindings), the decoded advertisements (§2), bound units, and the no-adapter
 * state of this machine.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from '../helpers/cli.js';
import { parseTargets } from '../../main/engine/targets.js';
import { LLSYNC_SCAN_FILTER, describeSighting } from '../../main/engine/detect/ble-scan.js';
import { LlsyncSimDelegate, SIM_PRODUCT_ID, simMacFor, simUnitDir, writeBindRecord } from '../../main/engine/device/llsync-sim-delegate.js';
import { llsyncDeviceIdentity } from '../../main/engine/protocol/llsync-ota/advertising.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-blescan-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface ScanJson {
  serial: unknown[];
  ble: { state: string; reason?: string };
  bleSource: 'adapter' | 'sim';
  bleUnits: { id: string; address: string; name?: string; rssiDbm: number; bindState?: string; protocolVersion?: number; productId?: string; mac?: string }[];
}

describe('flashline scan: BLE sightings', () => {
  it('--sim 3 --json lists the 3 virtual LLSync units with decoded product id, bind state and RSSI', async () => {
    const r = await runCli(['scan', '--sim', '3', '--seconds', '1', '--json', '--data-dir', dir]);
    expect(r.code).toBe(0);
    const s = lastJson<ScanJson>(r.stdout);
    expect(s.bleSource).toBe('sim');
    expect(s.ble.state).toBe('poweredOn');
    expect(s.bleUnits).toHaveLength(3);
    const expectedMacs = parseTargets(['sim:llsync-ota:3']).map(simMacFor);
    expect(s.bleUnits.map((u) => u.address)).toEqual(expectedMacs);
    for (const u of s.bleUnits) {
      expect(u).toMatchObject({ productId: SIM_PRODUCT_ID, bindState: 'unbound', protocolVersion: 2 });
      // The MAC decoded from the manufacturer data is the one the peripheral connects with.
      expect(u.mac).toBe(u.address);
      expect(u.rssiDbm).toBeLessThan(0);
      expect(u.rssiDbm).toBeGreaterThan(-127);
    }
  }, 30_000);

  it('prints a human line per unit without --json, and rejects a bad --seconds', async () => {
    const r = await runCli(['scan', '--sim', '2', '--seconds', '0.5', '--data-dir', dir]);
    expect(r.code).toBe(0);
    const bleLines = r.stdout.split('\n').filter((l) => l.startsWith('ble c0:'));
    expect(bleLines).toHaveLength(2);
    expect(bleLines[0]).toMatch(/dBm\s+unbound, LLSync v2, product FLSIMLLSYN/);
    const bad = await runCli(['scan', '--seconds', 'soon', '--data-dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/CONFIG_INVALID.*--seconds/);
  }, 30_000);

  it('without --sim on a machine without Bluetooth: the no-adapter state and no units, never a crash', async () => {
    const r = await runCli(['scan', '--seconds', '0.5', '--json', '--data-dir', dir]);
    expect(r.code).toBe(0);
    const s = lastJson<ScanJson>(r.stdout);
    expect(s.bleSource).toBe('adapter');
    if (s.ble.state === 'no-adapter') {
      expect(s.ble.reason).toMatch(/No Bluetooth adapter/);
      expect(s.bleUnits).toEqual([]);
    } else {
      expect(Array.isArray(s.bleUnits)).toBe(true); // a real adapter: whatever is on the air
    }
  }, 30_000);

  it('a bound unit advertises its device identity and bind id instead of MAC and product (§2, §6.2)', async () => {
    const dataDir = fs.mkdtempSync(path.join(dir, 'bound-'));
    const [free, bound] = parseTargets(['sim:llsync-ota:2']);
    writeBindRecord(simUnitDir(dataDir, bound!.unitId), { localPsk: 'a1b2c3d4', bindId: '0102030405060708' });
    const delegate = new LlsyncSimDelegate({ dataDir });
    try {
      delegate.device(free!);
      const dev = delegate.device(bound!);
      const rows = (await delegate.ble.scan(500, LLSYNC_SCAN_FILTER)).map(describeSighting);
      const boundRow = rows.find((r) => r.address === dev.config.mac);
      expect(boundRow).toMatchObject({ bindState: 'bound', protocolVersion: 2, bindId: '0102030405060708', deviceIdentity: llsyncDeviceIdentity(SIM_PRODUCT_ID, dev.config.deviceName) });
      expect(boundRow?.productId).toBeUndefined();
      expect(rows.find((r) => r.address === simMacFor(free!))).toMatchObject({ bindState: 'unbound', productId: SIM_PRODUCT_ID });
    } finally {
      await delegate.dispose();
    }
  }, 30_000);
});
