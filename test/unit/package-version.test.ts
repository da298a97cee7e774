import { describe, expect, it } from 'vitest';
import { isValidVersion } from '../../main/engine/package/version.js';

describe('isValidVersion (device rule: 1–32 bytes of a-zA-Z0-9 . - _)', () => {
  it.each(['1', '2.0.0', 'v1.2.3-rc_1', 'A'.repeat(32), '0.0.0-build.20240101'])('accepts %j', (v) => {
    expect(isValidVersion(v)).toBe(true);
  });
  it.each([
    ['empty', ''],
    ['33 bytes', 'A'.repeat(33)],
    ['space', '1.0 beta'],
    ['unicode', 'v1.0-β'],
    ['full-width digit', '１.0'],
    ['slash', '1/2'],
    ['newline', '1.0\n'],
    ['plus (semver build)', '1.0.0+abc'],
  ])('rejects %s', (_name, v) => {
    expect(isValidVersion(v)).toBe(false);
  });
  it('rejects non-strings', () => {
    expect(isValidVersion(1)).toBe(false);
    expect(isValidVersion(undefined)).toBe(false);
  });
});
