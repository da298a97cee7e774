/**
 * Station settings: one schema, stored with `conf` (the store electron-store wraps) by the CLI,
 * `flashline serve` and the desktop app's engine host alike, so all read the same file.
 * Must not import electron or electron-store (the desktop's engine host runs without them).
 */
import Conf from 'conf';
import type { ScanMapping, StationSettingsView } from '../../contract/ipc.js';

/**
 * Kept beside the settings the UI edits, never sent as they are: barcode → product mappings
 * (issue 13 §3) and the engineer's secret (scrypt hash, issue 13 §4).
 */
export interface FloorSettings {
  scanMappings: ScanMapping[];
  /** `scrypt$N$r$p$saltHex$hashHex`, or '' when no engineer PIN/password is set yet. */
  engineerSecret: string;
  /** Stop-the-line threshold the engineer set: pause after this many failures in a row (0 = off). */
  stopAfterFailures: number;
}

/** The settings the UI shows and edits, plus the floor settings behind their own API methods. */
export type StationSettings = StationSettingsView & FloorSettings;

export const SETTINGS_SCHEMA = {
  stationId: { type: 'string', minLength: 1, maxLength: 64, default: 'station-1' },
  operator: { type: 'string', minLength: 1, maxLength: 64, default: 'operator' },
  language: { type: 'string', enum: ['en', 'zh-CN'], default: 'en' },
  bleAdapterLimit: { type: 'integer', minimum: 1, maximum: 20, default: 6 },
  globalConcurrency: { type: 'integer', minimum: 1, maximum: 1000, default: 64 },
  serveport: { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
  scanMappings: {
    type: 'array',
    maxItems: 500,
    default: [],
    items: { type: 'object', required: ['barcode', 'packageId'], properties: { barcode: { type: 'string', minLength: 1, maxLength: 128 }, packageId: { type: 'string', minLength: 1, maxLength: 256 }, profileId: { type: 'string', maxLength: 128 } } },
  },
  engineerSecret: { type: 'string', maxLength: 512, default: '' },
  stopAfterFailures: { type: 'integer', minimum: 0, maximum: 1000, default: 5 },
} as const;

export function openSettings(dataDir: string): Conf<StationSettings> {
  return new Conf<StationSettings>({ projectName: 'flashline', cwd: dataDir, configName: 'settings', schema: SETTINGS_SCHEMA as never });
}
