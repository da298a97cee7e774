/**
 * Checks protocol options against the protocol's schema (issue 9 §9): unknown protocols and
 * keys, wrong types and out-of-range values are CONFIG_INVALID. Parses `--opt` text by the
 * option's type, so a string option keeps a digit-only value as a string. Pure.
 */
import type { OptionSpec, ProtocolId } from '../../contract/dto.js';
import { PROTOCOL_IDS } from '../../contract/dto.js';
import { StationError } from '../errors.js';
import { optionSpecsOf } from '../protocol/registry.js';

export type ProtocolOptions = Partial<Record<ProtocolId, Record<string, unknown>>>;

export function isProtocolId(s: string): s is ProtocolId {
  return (PROTOCOL_IDS as readonly string[]).includes(s);
}

export function requireProtocol(s: string, where: string): ProtocolId {
  if (!isProtocolId(s)) throw new StationError('CONFIG_INVALID', `${where}: unknown protocol "${s}" (one of ${PROTOCOL_IDS.join(', ')})`);
  return s;
}

export function specOf(protocol: ProtocolId, key: string, where: string): OptionSpec {
  const spec = optionSpecsOf(protocol).find((s) => s.key === key);
  if (!spec) {
    throw new StationError('CONFIG_INVALID', `${where}: ${protocol} has no option "${key}" (see \`flashline options ${protocol}\`)`);
  }
  return spec;
}

/** Every option of a protocol at its default (JSON values; patterns as strings). */
export function defaultOptions(protocol: ProtocolId): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of optionSpecsOf(protocol)) out[s.key] = structuredClone(s.default);
  return out;
}

/** `--opt` text → a value of the option's type (`\r`, `\n` escapes in strings). */
export function parseOptionText(protocol: ProtocolId, key: string, text: string, where = `--opt ${protocol}.${key}`): unknown {
  const spec = specOf(protocol, key, where);
  const str = () => text.replace(/\\r/g, '\r').replace(/\\n/g, '\n');
  let v: unknown;
  switch (spec.type) {
    case 'number':
      v = text.trim() === '' ? NaN : Number(text);
      break;
    case 'number|null':
      v = text === 'null' ? null : text.trim() === '' ? NaN : Number(text);
      break;
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw bad(where, `must be true or false, got "${text}"`);
      v = text === 'true';
      break;
    case 'string|null':
      v = text === 'null' ? null : str();
      break;
    case 'object':
      try {
        v = JSON.parse(text);
      } catch {
        throw bad(where, 'must be a JSON object');
      }
      break;
    default:
      v = str();
  }
  return checkOptionValue(protocol, key, v, where);
}

/** Check one value against its spec; returns the value (never coerces a wrong type). */
export function checkOptionValue(protocol: ProtocolId, key: string, v: unknown, where = `${protocol}.${key}`): unknown {
  const spec = specOf(protocol, key, where);
  const nullable = spec.type === 'string|null' || spec.type === 'number|null';
  if (v === null) {
    if (nullable) return null;
    throw bad(where, `must not be null (${describeType(spec)})`);
  }
  switch (spec.type) {
    case 'number':
    case 'number|null': {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(where, `must be a number${rangeText(spec)}, got ${JSON.stringify(v)}`);
      if (spec.min !== undefined && v < spec.min) throw bad(where, `${v} is below the minimum ${spec.min}${spec.unit ? ` ${spec.unit}` : ''}`);
      if (spec.max !== undefined && v > spec.max) throw bad(where, `${v} is above the maximum ${spec.max}${spec.unit ? ` ${spec.unit}` : ''}`);
      if (spec.values && !spec.values.includes(String(v))) throw bad(where, `must be one of ${spec.values.join(', ')}, got ${v}`);
      return v;
    }
    case 'boolean':
      if (typeof v !== 'boolean') throw bad(where, `must be true or false, got ${JSON.stringify(v)}`);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !spec.values?.includes(v)) throw bad(where, `must be one of ${spec.values?.join(', ')}, got ${JSON.stringify(v)}`);
      return v;
    case 'string':
    case 'string|null':
      if (typeof v !== 'string') throw bad(where, `must be a string${nullable ? ' or null' : ''}, got ${JSON.stringify(v)}`);
      return v;
    case 'object':
      if (typeof v !== 'object' || Array.isArray(v)) throw bad(where, 'must be an object');
      return v;
  }
}

/** A whole options record for one protocol: every key known, every value checked. */
export function checkOptions(protocol: ProtocolId, raw: unknown, where: string): Record<string, unknown> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(where, 'options must be an object');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = checkOptionValue(protocol, k, v, `${where} ${protocol}.${k}`);
  return out;
}

/** `--opt PROTOCOL.KEY=VALUE` lines → options per protocol, every one checked. */
export function parseOptLines(lines: readonly string[] = []): ProtocolOptions {
  const out: ProtocolOptions = {};
  for (const line of lines) {
    const m = /^([A-Za-z0-9-]+)\.([A-Za-z0-9_]+)=(.*)$/s.exec(line);
    if (!m) throw new StationError('CONFIG_INVALID', `--opt "${line}": expected PROTOCOL.KEY=VALUE`);
    const protocol = requireProtocol(m[1]!, `--opt "${line}"`);
    (out[protocol] ??= {})[m[2]!] = parseOptionText(protocol, m[2]!, m[3]!, `--opt ${protocol}.${m[2]}`);
  }
  return out;
}

export function describeType(s: OptionSpec): string {
  if (s.type === 'enum') return `one of ${s.values?.join(' | ')}`;
  if (s.values) return `${s.type}: ${s.values.join(' | ')}`;
  return `${s.type}${rangeText(s)}`;
}

function rangeText(s: OptionSpec): string {
  if (s.min === undefined && s.max === undefined) return '';
  return ` ${s.min ?? '…'}..${s.max ?? '…'}`;
}

function bad(where: string, why: string): StationError {
  return new StationError('CONFIG_INVALID', `${where}: ${why}`);
}
