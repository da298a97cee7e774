/**
 * Station settings: one schema, stored with `conf` (the store electron-store wraps) by the CLI,
 * `flashline serve` and the desktop app's engine host alike, so all read the same file.
 * Must not import electron or electron-store (the desktop's engine host runs without them).
 */
import Conf from 'conf';
import type { StationSettingsView } from '../../contract/ipc.js';

/** The settings the UI shows and edits are exactly what is stored. */
export type StationSettings = StationSettingsView;

export const SETTINGS_SCHEMA = {
  stationId: { type: 'string', minLength: 1, maxLength: 64, default: 'station-1' },
  operator: { type: 'string', minLength: 1, maxLength: 64, default: 'operator' },
  language: { type: 'string', enum: ['en', 'zh-CN'], default: 'en' },
  bleAdapterLimit: { type: 'integer', minimum: 1, maximum: 20, default: 6 },
  globalConcurrency: { type: 'integer', minimum: 1, maximum: 1000, default: 64 },
  serveport: { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
} as const;

export function openSettings(dataDir: string): Conf<StationSettings> {
  return new Conf<StationSettings>({ projectName: 'flashline', cwd: dataDir, configName: 'settings', schema: SETTINGS_SCHEMA as never });
}
