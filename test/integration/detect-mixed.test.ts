/**
 * Protocol auto-detection on a mixed bench: over real PTYs a YMODEM unit with a live application
 * console, a bricked YMODEM unit (only its bootloader's `C`), a QuecThing MCU polling AT, and a
 * silent unit; an LLSync advertisement; a per-port override; then an `auto` target flashed by
 * the CLI after detection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceMemory } from '../../main/engine/device/device-memory.js';
import { VirtualYmodemUnit } from '../../main/engine/device/ymodem-unit.js';
import { VirtualQuecthingMcu } from '../../main/engine/device/quecthing-mcu.js';
import { buildSimImage } from '../../main/engine/device/app-descriptor.js';
import { classifySerialText, detectFromAdvertisement, resolveAutoTargets, type ProbeResult } from '../../main/engine/detect/detect.js';
import type { VirtualDevice } from '../../main/engine/device/virtual-device.js';
import type { FlashSummary } from '../../main/contract/dto.js';
import { createPtyPair, describeWithTools, openDevicePort, tempDir } from '../helpers/pty.js';
import { lastJson, runCli } from '../helpers/cli.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function unitOnPty(make: ((m: DeviceMemory) => VirtualDevice) | null): Promise<string> {
  const pty = await createPtyPair(tempDir('flashline-detect-'));
  cleanups.push(() => pty.close());
  const port = await openDevicePort(pty.devicePath);
  cleanups.push(() => port.close());
  if (make) {
    const dev = make(new DeviceMemory({ version: '1.0.0', serialNumber: 'D' }));
    dev.attach(port);
    cleanups.push(() => dev.dispose());
  }
  return pty.hostPath;
}

const LLSYNC_ADV = { localName: 'LLSYNC', serviceUuids: ['ffe0'], manufacturerData: Uint8Array.from([0xe7, 0xfe, 0x21, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, ...Buffer.from('HARNESSPID')]) };

describe('detect: pure classification', () => {
  it('tells console, bootloader, AT and nothing apart; ignores the (C) in a banner', () => {
    expect(classifySerialText('VER 1.2.3\r\n')).toMatchObject({ protocol: 'ymodem', version: '1.2.3' });
    expect(classifySerialText('CCC')).toMatchObject({ protocol: 'ymodem', bootloaderOnly: true });
    expect(classifySerialText('AT\r\n')).toMatchObject({ protocol: 'quecthing-sota' });
    expect(classifySerialText('(C) COPYRIGHT 2024 ACCESS\r\n')).toBeNull();
    expect(detectFromAdvertisement(LLSYNC_ADV)).toMatchObject({ protocol: 'llsync-ota' });
    expect(detectFromAdvertisement({ serviceUuids: ['180d'] }).protocol).toBeNull();
  });
});

describeWithTools(['socat'], 'detect: a mixed set of virtual units over real PTYs', () => {
  it('resolves each auto target to its protocol; a silent unit → DETECT_UNKNOWN; an override skips the probe', async () => {
    const app = await unitOnPty((m) => new VirtualYmodemUnit(m, { cIntervalMs: 100 }));
    const bricked = await unitOnPty((m) => new VirtualYmodemUnit(m, { behaviour: 'brick', cIntervalMs: 100 }));
    const mcu = await unitOnPty((m) => new VirtualQuecthingMcu(m, { bootMs: 10 }));
    const silent = await unitOnPty(null);
    const seen: Record<string, ProbeResult> = {};
    const probe = { listenMs: 2500, replyMs: 600 };
    const resolved = await resolveAutoTargets(
      [`serial:${app}:auto`, `serial:${bricked}@115200:auto`, `serial:${mcu}:auto`, 'ble:aa:bb:cc:dd:ee:ff:auto', 'sim:ymodem:2'],
      { probe, advertisements: { 'aa:bb:cc:dd:ee:ff': LLSYNC_ADV }, onResolved: (t, r) => (seen[t] = r) },
    );
    expect(resolved).toEqual([`serial:${app}:ymodem`, `serial:${bricked}@115200:ymodem`, `serial:${mcu}:quecthing-sota`, 'ble:aa:bb:cc:dd:ee:ff:llsync-ota', 'sim:ymodem:2']);
    expect(seen[`serial:${app}:auto`]).toMatchObject({ version: '1.0.0' });
    expect(seen[`serial:${bricked}@115200:auto`]).toMatchObject({ bootloaderOnly: true });
    const err = await resolveAutoTargets([`serial:${silent}:auto`], { probe: { listenMs: 300, replyMs: 300 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DETECT_UNKNOWN' });
    expect(await resolveAutoTargets([`serial:${silent}:auto`], { overrides: { [silent]: 'ymodem' } })).toEqual([`serial:${silent}:ymodem`]);
  });

  it('flashline flash with an auto serial target: detected as quecthing-sota and upgraded', async () => {
    const dir = tempDir('flashline-detect-cli-');
    const pty = await createPtyPair(fs.mkdtempSync(path.join(dir, 'p-')));
    cleanups.push(() => pty.close());
    const port = await openDevicePort(pty.devicePath);
    cleanups.push(() => port.close());
    const memory = new DeviceMemory({ version: '1.0.0', serialNumber: 'D' });
    const dev = new VirtualQuecthingMcu(memory, { bootMs: 10 });
    dev.attach(port);
    cleanups.push(() => dev.dispose());
    const pkg = path.join(dir, 'mcu.bin');
    fs.writeFileSync(pkg, buildSimImage(6000, '3.1.0'));
    const r = await runCli(['flash', '--package', pkg, '--version', '3.1.0', '--target', `serial:${pty.hostPath}:auto`, '--opt', 'quecthing-sota.downloadGapMs=20', '--json', '--data-dir', dir]);
    expect(r.stderr).toContain('quecthing-sota');
    expect(lastJson<FlashSummary>(r.stdout)).toMatchObject({ total: 1, passed: 1, units: [{ protocol: 'quecthing-sota', result: 'ok' }] });
    expect(memory.state.version).toBe('3.1.0');
  });
});
