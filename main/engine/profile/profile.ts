/**
 * Product profiles (issue 9 §9): checking a profile (id, protocol, every option against the
 * protocol's schema, timers and limits in range, a success policy the protocol can have) and
 * building a batch's effective profile per protocol — every option written out, every timer
 * set — which the batch journals so resume and retry run with exactly the same settings. Pure.
 */
import type { ProductProfile, ProtocolId } from '../../contract/dto.js';
import { StationError } from '../errors.js';
import { DEFAULT_TIMERS } from './builtin.js';
import { checkOptions, defaultOptions, requireProtocol } from './option-check.js';

export type ProfileTimers = NonNullable<ProductProfile['timers']>;
export type TimerName = keyof ProfileTimers;

/** Allowed range of every profile timer (ms). */
export const TIMER_RANGES: Record<TimerName, { min: number; max: number; meaning: string }> = {
  connectTimeoutMs: { min: 100, max: 600_000, meaning: 'open the link to the unit (scan + connect, port open, device online)' },
  rebootTimeoutMs: { min: 100, max: 24 * 3_600_000, meaning: 'from the device’s verdict to the new version read back (the reboot window)' },
  stallTimeoutMs: { min: 100, max: 3_600_000, meaning: 'no progress from the device for this long fails the attempt' },
  announceWindowMs: { min: 0, max: 3_600_000, meaning: 'wait after registration for the unit’s version announcement' },
};

export const LIMIT_RANGES = {
  maxImageBytes: { min: 1, max: 1 << 30 },
  maxFileNameChars: { min: 1, max: 1024 },
} as const;

/**
 * Which protocol option a profile timer sets (so the session's own timer and the station's agree).
 * A timer a protocol cannot apply is refused: nothing is silently ignored.
 */
const TIMER_OPTION: Record<ProtocolId, Partial<Record<TimerName, string | null>>> = {
  ymodem: { connectTimeoutMs: null, rebootTimeoutMs: 'rebootTimeoutMs' },
  'quecthing-sota': { connectTimeoutMs: null, rebootTimeoutMs: 'updateWindowMs', stallTimeoutMs: 'readIdleTimeoutMs', announceWindowMs: 'announceWindowMs' },
  'llsync-ota': { connectTimeoutMs: null, rebootTimeoutMs: null },
  'mqtt-ota-tencent': { connectTimeoutMs: null, rebootTimeoutMs: 'rebootTimeoutMs', stallTimeoutMs: 'stallTimeoutMs' },
  'mqtt-ota-aliyun': { connectTimeoutMs: null, rebootTimeoutMs: 'rebootTimeoutMs', stallTimeoutMs: 'stallTimeoutMs' },
};

type SuccessPolicy = NonNullable<ProductProfile['successPolicy']>;
const SUCCESS_POLICIES: Record<ProtocolId, readonly SuccessPolicy[]> = {
  ymodem: ['loader-verdict', 'version-after-reboot'],
  'quecthing-sota': ['version-after-reboot'],
  'llsync-ota': ['version-after-reboot'],
  'mqtt-ota-tencent': ['version-after-reboot', 'done-is-success'],
  // Aliyun has no "done" message (vendor-behaviour.md).
  'mqtt-ota-aliyun': ['version-after-reboot'],
};

/** Limits a protocol can enforce: the image size for all, the file name only where one is sent. */
const LIMITS: Record<ProtocolId, readonly string[]> = {
  ymodem: ['maxImageBytes', 'maxFileNameChars'],
  'quecthing-sota': ['maxImageBytes'],
  'llsync-ota': ['maxImageBytes'],
  'mqtt-ota-tencent': ['maxImageBytes'],
  'mqtt-ota-aliyun': ['maxImageBytes'],
};

const ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function bad(where: string, why: string): StationError {
  return new StationError('CONFIG_INVALID', `${where}: ${why}`);
}

/** Check a profile from a file, the UI or the journal. Returns a clean copy. */
export function checkProfile(raw: unknown, opts: { builtIn?: boolean } = {}): ProductProfile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('profile', 'must be a JSON object');
  const r = raw as Record<string, unknown>;
  const known = ['id', 'name', 'builtIn', 'protocol', 'options', 'component', 'successPolicy', 'timers', 'limits', 'description'];
  for (const k of Object.keys(r)) if (!known.includes(k)) throw bad('profile', `unknown field "${k}" (fields: ${known.join(', ')})`);
  if (typeof r.id !== 'string' || !ID_RE.test(r.id)) throw bad('profile id', 'must be 1–64 characters of a-z 0-9 . _ - starting with a letter or digit');
  const where = `profile ${r.id}`;
  if (r.name !== undefined && (typeof r.name !== 'string' || r.name.length > 200)) throw bad(where, 'name must be a string of up to 200 characters');
  if (typeof r.protocol !== 'string') throw bad(where, 'protocol is required');
  const protocol = requireProtocol(r.protocol, where);
  const options = checkOptions(protocol, r.options ?? {}, where);
  const p: ProductProfile = { id: r.id, name: (r.name as string | undefined) ?? r.id, builtIn: !!opts.builtIn, protocol, options };
  if (r.description !== undefined) {
    if (typeof r.description !== 'string') throw bad(where, 'description must be a string');
    p.description = r.description;
  }
  if (r.component !== undefined) {
    if (typeof r.component !== 'string' || r.component.length < 1 || r.component.length > 64) throw bad(where, 'component must be 1–64 characters');
    p.component = r.component;
  }
  if (r.successPolicy !== undefined) {
    const allowed = SUCCESS_POLICIES[protocol];
    if (typeof r.successPolicy !== 'string' || !allowed.includes(r.successPolicy as SuccessPolicy)) {
      throw bad(where, `successPolicy "${String(r.successPolicy)}" is not possible with ${protocol} (possible: ${allowed.join(', ')})`);
    }
    p.successPolicy = r.successPolicy as SuccessPolicy;
  }
  if (r.timers !== undefined) p.timers = checkTimers(protocol, r.timers, where);
  if (r.limits !== undefined) p.limits = checkLimits(protocol, r.limits, where);
  checkPolicyAgainstOptions(p, where);
  return p;
}

function checkTimers(protocol: ProtocolId, raw: unknown, where: string): ProfileTimers {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(where, 'timers must be an object');
  const out: ProfileTimers = {};
  for (const [k, v] of Object.entries(raw)) {
    const range = TIMER_RANGES[k as TimerName];
    if (!range) throw bad(where, `unknown timer "${k}" (timers: ${Object.keys(TIMER_RANGES).join(', ')})`);
    if (!(k in TIMER_OPTION[protocol])) throw bad(where, `timer ${k} cannot be applied to ${protocol} units`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(where, `timer ${k} must be a number of ms`);
    if (v < range.min || v > range.max) throw bad(where, `timer ${k} = ${v} ms is out of range ${range.min}..${range.max} ms`);
    out[k as TimerName] = v;
  }
  return out;
}

function checkLimits(protocol: ProtocolId, raw: unknown, where: string): NonNullable<ProductProfile['limits']> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(where, 'limits must be an object');
  const out: NonNullable<ProductProfile['limits']> = {};
  for (const [k, v] of Object.entries(raw)) {
    const range = LIMIT_RANGES[k as keyof typeof LIMIT_RANGES];
    if (!range) throw bad(where, `unknown limit "${k}" (limits: ${Object.keys(LIMIT_RANGES).join(', ')})`);
    if (!LIMITS[protocol].includes(k)) throw bad(where, `limit ${k} cannot be checked for ${protocol} units`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) throw bad(where, `limit ${k} must be an integer ${range.min}..${range.max}`);
    out[k as keyof typeof LIMIT_RANGES] = v;
  }
  return out;
}

/** A success policy that contradicts the profile's own options is refused. */
function checkPolicyAgainstOptions(p: ProductProfile, where: string): void {
  const sp = p.successPolicy;
  const o = p.options;
  if (p.protocol === 'mqtt-ota-tencent' && sp && o.successPolicy !== undefined && (o.successPolicy === 'done') !== (sp === 'done-is-success')) {
    throw bad(where, `successPolicy ${sp} contradicts option successPolicy=${String(o.successPolicy)}`);
  }
  if (p.protocol === 'ymodem' && sp === 'version-after-reboot' && o.confirm === 'none') {
    throw bad(where, 'successPolicy version-after-reboot needs a way to read the version (option confirm is none)');
  }
}

/** The defaults a batch uses for a protocol when no profile is named. */
export function defaultProfile(protocol: ProtocolId): ProductProfile {
  return { id: `${protocol}-defaults`, name: `${protocol} defaults`, builtIn: true, protocol, options: {} };
}

export interface EffectiveInputs {
  /** The named profile, or the protocol's defaults. */
  profile: ProductProfile;
  /** Options given for this batch (`--opt`), over the profile's. */
  overrides?: Record<string, unknown>;
  /** Station-level timers (engine options) used where the profile sets none. */
  stationTimers?: { connectTimeoutMs?: number; rebootTimeoutMs?: number };
}

/**
 * The full effective profile: every schema option written out (defaults < profile < overrides),
 * the profile's timers pushed into the protocol options they govern, every runner timer set.
 */
export function effectiveProfile(inp: EffectiveInputs): ProductProfile {
  const p = inp.profile;
  const protocol = p.protocol;
  const timers: ProfileTimers = { ...p.timers };
  const options: Record<string, unknown> = { ...defaultOptions(protocol), ...p.options };
  const overrides = inp.overrides ?? {};
  for (const [t, key] of Object.entries(TIMER_OPTION[protocol]) as [TimerName, string | null][]) {
    const v = timers[t];
    if (key && v !== undefined && !(key in p.options)) options[key] = v;
  }
  if (p.successPolicy && protocol === 'mqtt-ota-tencent' && !('successPolicy' in p.options)) options.successPolicy = p.successPolicy === 'done-is-success' ? 'done' : 'version';
  if (p.component && protocol === 'quecthing-sota' && !('component' in p.options)) options.component = p.component;
  Object.assign(options, overrides);
  // An override of an option a timer governs moves the timer with it (the session enforces the option).
  for (const [t, key] of Object.entries(TIMER_OPTION[protocol]) as [TimerName, string | null][]) {
    if (key && key in overrides && typeof overrides[key] === 'number' && t in TIMER_RANGES) timers[t] = overrides[key] as number;
  }
  timers.connectTimeoutMs ??= inp.stationTimers?.connectTimeoutMs ?? DEFAULT_TIMERS[protocol].connectTimeoutMs;
  if (timers.rebootTimeoutMs === undefined) {
    const key = TIMER_OPTION[protocol].rebootTimeoutMs;
    const fromOption = key ? options[key] : undefined;
    timers.rebootTimeoutMs = inp.stationTimers?.rebootTimeoutMs ?? (typeof fromOption === 'number' ? fromOption : DEFAULT_TIMERS[protocol].rebootTimeoutMs);
  }
  for (const [k, v] of Object.entries(timers)) {
    const r = TIMER_RANGES[k as TimerName];
    if (typeof v !== 'number' || v < r.min || v > r.max) throw bad(`profile ${p.id}`, `timer ${k} = ${v} ms is out of range ${r.min}..${r.max} ms`);
  }
  return { ...p, options, timers };
}
