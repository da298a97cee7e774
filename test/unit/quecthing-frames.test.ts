/**
 * QuecThing AT codec (quecthing-sota.md §1–§5): line splitting, command forms, parameters, URC
 * and data-reply framing, the read clamp, and the MCU-side reply parser over split chunks.
 */
import { describe, expect, it } from 'vitest';
import {
  ModuleReplyParser,
  ascii,
  clampRead,
  downloadStartData,
  latin1,
  paramInt,
  paramString,
  parseCommand,
  parseUrc,
  pieceData,
  planData,
  readReply,
  splitLines,
  urc,
} from '../../main/engine/protocol/quecthing-sota/frames.js';

describe('splitLines', () => {
  it('accepts CR, LF and CR LF, ignores empty lines, keeps the unterminated rest', () => {
    const r = splitLines(new Uint8Array(0), ascii('AT\rATE0\nAT+QIOTREG=1\r\n\r\nAT+QIOT'));
    expect(r.lines).toEqual(['AT', 'ATE0', 'AT+QIOTREG=1']);
    expect(latin1(r.rest)).toBe('AT+QIOT');
    const r2 = splitLines(r.rest, ascii('OTAREQ\r\n'));
    expect(r2.lines).toEqual(['AT+QIOTOTAREQ']);
    expect(r2.rest.length).toBe(0);
  });
  it('drops an over-long line instead of growing without bound', () => {
    const r = splitLines(new Uint8Array(0), new Uint8Array(2000).fill(0x41), 1024);
    expect(r.lines).toEqual([]);
    expect(r.droppedBytes).toBe(2000);
    expect(r.rest.length).toBe(0);
  });
});

describe('parseCommand', () => {
  it('recognises the four forms, case-insensitively', () => {
    expect(parseCommand('at+qiotupdate=?')).toMatchObject({ ok: true, cmd: { name: '+QIOTUPDATE', form: 'test' } });
    expect(parseCommand('AT+QIOTMCUVER?')).toMatchObject({ ok: true, cmd: { name: '+QIOTMCUVER', form: 'read' } });
    expect(parseCommand('AT+QIOTOTAREQ')).toMatchObject({ ok: true, cmd: { name: '+QIOTOTAREQ', form: 'exec', params: [] } });
    expect(parseCommand('ATE0')).toMatchObject({ ok: true, cmd: { name: 'E0', form: 'exec' } });
    expect(parseCommand('AT')).toMatchObject({ ok: true, cmd: { name: '', form: 'exec' } });
  });
  it('parses quoted strings (with commas) and integers', () => {
    const r = parseCommand('AT+QIOTMCUVER="MCU_A","2.4.0,rc1"');
    expect(r.ok && r.cmd.params).toEqual([{ kind: 'string', value: 'MCU_A' }, { kind: 'string', value: '2.4.0,rc1' }]);
    const rd = parseCommand('AT+QIOTOTARD=65536, 1024');
    expect(rd.ok && rd.cmd.params).toEqual([{ kind: 'int', value: 65536 }, { kind: 'int', value: 1024 }]);
  });
  it('tags non-AT lines and syntax errors', () => {
    expect(parseCommand('ROM boot v1.2')).toMatchObject({ ok: false, reason: 'not-at' });
    expect(parseCommand('AT+QIOTMCUVER="MCU_A')).toMatchObject({ ok: false, reason: 'syntax' });
  });
  it('reads a quoted integer or an unquoted string leniently, flagged', () => {
    expect(paramInt({ kind: 'string', value: '12' })).toEqual({ value: 12, lenient: true });
    expect(paramInt({ kind: 'raw', value: 'x' })).toBeNull();
    expect(paramString({ kind: 'raw', value: 'MCU_A' })).toEqual({ value: 'MCU_A', lenient: true });
  });
});

describe('module output', () => {
  it('builds the §3 event data lines', () => {
    expect(urc(7, 10700, planData({ component: 'MCU_A', sourceVersion: '', targetVersion: '2.4.0', batteryLimitPct: 0, minSignalDbm: 0, useSpaceBytes: 203776 }))).toBe(
      '\r\n+QIOTEVT: 7,10700,"MCU_A","","2.4.0",0,0,203776\r\n',
    );
    expect(downloadStartData({ component: 'MCU_A', sizeBytes: 70000, md5: 'ABCDEF0123456789ABCDEF0123456789', crc32Hex: 'ffffffff' })).toBe('"MCU_A",70000,"abcdef0123456789abcdef0123456789",4294967295');
    expect(downloadStartData({ component: 'c', sizeBytes: 1, md5: '00', crc32Hex: '0000000a', sha256: 'AB' })).toBe('"c",1,"00",10,"ab"');
    expect(urc(7, 10703, pieceData({ component: 'MCU_A', sizeBytes: 70000, pieceStart: 65536, pieceLength: 4464 }))).toBe('\r\n+QIOTEVT: 7,10703,"MCU_A",70000,65536,4464\r\n');
    expect(urc(7, 10702)).toBe('\r\n+QIOTEVT: 7,10702\r\n');
    expect(parseUrc('+QIOTEVT: 7,10703,"MCU_A",70000,65536,4464')).toEqual({
      type: 7, code: 10703,
      fields: [{ kind: 'string', value: 'MCU_A' }, { kind: 'int', value: 70000 }, { kind: 'int', value: 65536 }, { kind: 'int', value: 4464 }],
    });
  });
  it('frames a read reply as header, raw bytes (CR/LF/NUL/0x1A unescaped), trailer, OK', () => {
    const data = Uint8Array.of(0x0d, 0x0a, 0x00, 0x1a, 0x4f, 0x4b);
    expect(latin1(readReply(69632, data))).toBe('\r\n+QIOTOTARD: 69632,6\r\n\r\n\x00\x1aOK\r\n\r\nOK\r\n');
  });
  it('clamps reads to maxRead and the piece end; illegal reads are null', () => {
    expect(clampRead(0, 1024, 1024, 0, 65536)).toBe(1024);
    expect(clampRead(65536 - 305, 1024, 1024, 0, 65536)).toBe(305);
    expect(clampRead(100, 4096, 1024, 0, 65536)).toBe(1024);
    expect(clampRead(65536, 10, 1024, 0, 65536)).toBeNull();
    expect(clampRead(10, 0, 1024, 0, 65536)).toBeNull();
    expect(clampRead(5, 10, 1024, 10, 100)).toBeNull();
  });
});

describe('ModuleReplyParser (the MCU side)', () => {
  it('reads exactly n raw bytes after the header even when chunks split anywhere', () => {
    const payload = Uint8Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? 0x0d : i % 3 === 1 ? 0x0a : i & 0xff));
    const wire = new Uint8Array([...ascii('\r\n+QIOTEVT: 7,10702\r\n'), ...readReply(4096, payload), ...ascii('\r\n+QIOTEVT: 7,10704\r\n')]);
    for (const step of [1, 2, 7, 64, wire.length]) {
      const p = new ModuleReplyParser();
      const out = [];
      for (let i = 0; i < wire.length; i += step) out.push(...p.feed(wire.subarray(i, i + step)));
      const data = out.find((r) => r.kind === 'data');
      expect(data, `step ${step}`).toEqual({ kind: 'data', start: 4096, bytes: payload });
      expect(out.filter((r) => r.kind === 'line').map((r) => (r.kind === 'line' ? r.text : ''))).toEqual(['+QIOTEVT: 7,10702', '+QIOTOTARD: 4096,300', 'OK', '+QIOTEVT: 7,10704']);
    }
  });
});
