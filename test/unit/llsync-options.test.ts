/**
 * The llsync-ota product profile: every invalid option is CONFIG_INVALID naming the option; the
 * PSK CSV (`unit,psk` lines, header and # comments allowed) merges into the per-unit table.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StationError } from '../../main/engine/errors.js';
import { LLSYNC_DEFAULTS, pskFor, resolveLlsyncOptions, unitPskFor } from '../../main/engine/protocol/llsync-ota/options.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-llopts-'));

function configError(raw: Record<string, unknown>): StationError {
  try {
    resolveLlsyncOptions(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(StationError);
    return e as StationError;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

describe('llsync-ota options', () => {
  it('defaults are the spec defaults', () => {
    const o = resolveLlsyncOptions({});
    expect(o).toMatchObject({ localPsk: '00000000', replyTimeoutMs: 10_000, dataReplyTimeoutFactor: 5, mtuResult: 'after-sync', recoverStaleResume: true, rebootMarginMs: 5000 });
    expect(o.pskByUnit).toEqual({});
  });

  it.each([
    [{ mtuResult: 'sometimes' }, 'mtuResult'],
    [{ replyTimeoutMs: -1 }, 'replyTimeoutMs'],
    [{ replyTimeoutMs: '10s' }, 'replyTimeoutMs'],
    [{ recoverStaleResume: 'yes' }, 'recoverStaleResume'],
    [{ localPsk: 'zzzzzzzz' }, 'localPsk'],
    [{ localPsk: '123' }, 'localPsk'],
    [{ maxRetransmitRounds: 0 }, 'maxRetransmitRounds'],
    [{ productId: 'MUCH-TOO-LONG-PRODUCT' }, 'productId'],
    [{ pskByUnit: { 'sim:llsync-ota:1': 'nothex!!' } }, 'pskByUnit'],
    [{ pskCsvPath: path.join(dir, 'missing.csv') }, 'pskCsvPath'],
  ])('%j → CONFIG_INVALID naming %s', (raw, name) => {
    const e = configError(raw);
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(name);
  });

  it('a bad PSK inside the CSV names the unit', () => {
    const csv = path.join(dir, 'bad.csv');
    fs.writeFileSync(csv, 'unit,psk\nSN-1,0102030g\n');
    const e = configError({ pskCsvPath: csv });
    expect(e.message).toMatch(/SN-1/);
  });

  it('the CSV merges into pskByUnit (header, comments, CRLF, spaces); lookups fall back to localPsk', () => {
    const csv = path.join(dir, 'psk.csv');
    fs.writeFileSync(csv, 'unit,psk\r\n# line 3 units\r\nSN-0001, a1b2c3d4\r\nC0:11:5C:00:00:07,0badf00d\r\n\r\n');
    const o = resolveLlsyncOptions({ pskCsvPath: csv, pskByUnit: { 'sim:llsync-ota:9': '99999999' } });
    expect(o.pskByUnit).toEqual({ 'SN-0001': 'a1b2c3d4', 'C0:11:5C:00:00:07': '0badf00d', 'sim:llsync-ota:9': '99999999' });
    expect(pskFor(o, [undefined, 'SN-0001'])).toBe('a1b2c3d4');
    // A MAC matches whatever separators and case the list used.
    expect(unitPskFor(o, ['c0115c000007'])).toBe('0badf00d');
    expect(unitPskFor(o, ['nobody'])).toBeUndefined();
    expect(pskFor(o, ['nobody'])).toBe(LLSYNC_DEFAULTS.localPsk);
  });

  it('a digits-only PSK given on the command line (parsed as a number) keeps its leading zeros', () => {
    expect(resolveLlsyncOptions({ localPsk: 1234 }).localPsk).toBe('00001234');
    expect(resolveLlsyncOptions({ localPsk: 0 }).localPsk).toBe('00000000');
  });
});
