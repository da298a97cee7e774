import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSettings } from '../../main/engine/settings/settings.js';

describe('station settings (conf, same schema as electron-store)', () => {
  it('has defaults, persists changes to the data folder, and rejects invalid values', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-settings-'));
    const s = openSettings(dir);
    expect(s.get('stationId')).toBe('station-1');
    expect(s.get('bleAdapterLimit')).toBe(6);
    s.set('operator', '王工');
    s.set('language', 'zh-CN');
    expect(openSettings(dir).get('operator')).toBe('王工');
    expect(fs.existsSync(path.join(dir, 'settings.json'))).toBe(true);
    expect(() => s.set('bleAdapterLimit', 0)).toThrow();
    expect(() => s.set('language', 'fr' as never)).toThrow();
  });
});
