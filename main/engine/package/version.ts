/**
 * Firmware version strings as devices validate them: 1–32 bytes of ASCII letters, digits, '.',
 * '-' and '_'. Pure; no semver ordering (devices compare versions for equality only).
 */
const VERSION_RE = /^[A-Za-z0-9._-]{1,32}$/;

/** Every allowed character is one byte, so the character count is the byte count. */
export function isValidVersion(v: unknown): v is string {
  return typeof v === 'string' && VERSION_RE.test(v);
}
