/**
 * Operator and engineer (issue 13 §4): the engineer's PIN/password as a scrypt hash in the station
 * settings, short-lived engineer sessions handed out on unlock, and which API methods need one.
 * The API enforces this for every client (the UI only shows what is locked). Pure apart from
 * crypto and the clock.
 */
import crypto from 'node:crypto';
import type { StationMethod } from '../contract/ipc.js';

/** Methods only an engineer may call (when an engineer secret is set). */
export const ENGINEER_METHODS: ReadonlySet<StationMethod> = new Set<StationMethod>(['importPackage', 'setSettings', 'setScanMappings', 'setEngineerSecret', 'setStopAfterFailures', 'saveProfile', 'deleteProfile']);
/** Settings an operator may change without an engineer (their own screen language). */
export const OPERATOR_SETTINGS: ReadonlySet<string> = new Set(['language']);

export const SESSION_MS = 30 * 60_000;
const SCRYPT = { N: 16384, r: 8, p: 1, keyLen: 32 } as const;
export const MIN_SECRET = 4;
export const MAX_SECRET = 128;
/** Wrong secrets in a row before unlock refuses for LOCKOUT_MS. */
const MAX_FAILURES = 5;
const LOCKOUT_MS = 30_000;

export function hashSecret(secret: string, salt = crypto.randomBytes(16)): string {
  const hash = crypto.scryptSync(secret.normalize('NFC'), salt, SCRYPT.keyLen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('hex')}$${hash.toString('hex')}`;
}

/** Constant-time check of a secret against a stored hash; a malformed hash never matches. */
export function verifySecret(secret: string, stored: string): boolean {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([0-9a-f]{16,64})\$([0-9a-f]{32,128})$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const want = Buffer.from(m[5]!, 'hex');
  if (N > 1 << 20 || r > 32 || p > 16) return false;
  const got = crypto.scryptSync(secret.normalize('NFC'), Buffer.from(m[4]!, 'hex'), want.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return crypto.timingSafeEqual(got, want);
}

export class EngineerSessions {
  private readonly sessions = new Map<string, number>();
  private failures = 0;
  private lockedUntil = 0;
  constructor(private readonly now: () => number = Date.now) {}

  /** A new session token, valid SESSION_MS from its last use. */
  open(): string {
    const token = crypto.randomBytes(24).toString('base64url');
    this.sessions.set(token, this.now() + SESSION_MS);
    this.failures = 0;
    return token;
  }
  /** True (and extended) when the token is a live session. */
  check(token: unknown): boolean {
    if (typeof token !== 'string') return false;
    const until = this.sessions.get(token);
    if (until === undefined) return false;
    if (until < this.now()) {
      this.sessions.delete(token);
      return false;
    }
    this.sessions.set(token, this.now() + SESSION_MS);
    return true;
  }
  close(token: unknown): void {
    if (typeof token === 'string') this.sessions.delete(token);
  }
  closeAll(): void {
    this.sessions.clear();
  }
  /** Whether unlock attempts are refused right now (too many wrong secrets). */
  lockedOut(): boolean {
    return this.now() < this.lockedUntil;
  }
  failed(): void {
    if (++this.failures >= MAX_FAILURES) {
      this.lockedUntil = this.now() + LOCKOUT_MS;
      this.failures = 0;
    }
  }
}
