/**
 * `flashline serve` runs the local cloud for as long as the station runs when the line has
 * networked units configured (net-station.json): a unit that powers on before any batch is
 * accepted and listed, and SIGTERM releases the ports and marks the cloud stopped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CloudView } from '../../main/contract/dto.js';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { MqttVirtualDevice } from '../../main/engine/device/mqtt-device.js';
import { startCli } from '../helpers/cli.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until<T>(get: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('serve keeps the local cloud up', () => {
  it('with net-station.json, serve starts broker + firmware server before any batch; units check in; SIGTERM stops it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-serve-cloud-'));
    const secret = crypto.randomBytes(16).toString('hex');
    fs.writeFileSync(path.join(dir, 'net-station.json'), JSON.stringify({ host: '127.0.0.1', mqttPort: 0, httpPort: 0, urlPort: null }));
    fs.writeFileSync(path.join(dir, 'devices.csv'), `aliyun,a1MZxOdcBnO,early,${secret}\n`);
    const r = startCli(['serve', '--port', '0', '--json', '--data-dir', dir]);
    cleanups.push(() => void r.child.kill('SIGKILL'));
    const rosterFile = path.join(dir, 'cloud-roster.json');
    const read = () => (fs.existsSync(rosterFile) ? (JSON.parse(fs.readFileSync(rosterFile, 'utf8')) as { stoppedAt?: string; cloud: CloudView }) : undefined);
    // The renderer may need a build first: allow for it.
    const first = await until(() => (r.stdout().includes('"url"') ? read() : undefined), 170_000, `serve to start (stderr: ${r.stderr()})`);
    expect(first.cloud).toMatchObject({ running: true, units: [] });
    const dev = new MqttVirtualDevice({ dialect: 'aliyun', product: 'a1MZxOdcBnO', device: 'early', secret, brokerUrl: first.cloud.mqttUrl!, httpPort: first.cloud.httpPort!, memory: new DeviceMemory({ version: '1.0.0', serialNumber: 'early' }), profile: 'aliyun-example' });
    cleanups.push(() => dev.stop());
    await dev.start();
    expect(dev.connackCodes).toEqual([0]);
    const listed = await until(() => read()?.cloud.units.find((u) => u.version === '1.0.0'), 10_000, 'the unit in the roster');
    expect(listed).toMatchObject({ unitId: 'mqtt:a1MZxOdcBnO/early', protocol: 'mqtt-ota-aliyun', online: true });
    r.child.kill('SIGTERM');
    const { code } = await r.done;
    expect(code).toBe(0);
    expect(read()).toMatchObject({ stoppedAt: expect.any(String), cloud: { running: false } });
  }, 200_000);
});
