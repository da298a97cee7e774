/**
 * A scripted protocol for runner tests: a tiny resumable "device" that keeps an acknowledged
 * offset across links and can be told to fail at chosen steps. It exercises the job runner's
 * retry/resume/gate logic without any real dialect; the real dialects have their own tests.
 */
import type { HashView, JobView, UnitRef } from '../../main/contract/dto.js';
import { StationError, type StationErrorCode } from '../../main/engine/errors.js';
import type { DeviceIdentity, ProtocolDriver, ProtocolSession, SessionContext } from '../../main/engine/protocol/types.js';
import type { Link, Transport } from '../../main/engine/transport/types.js';
import { TraceRing } from '../../main/engine/transport/trace.js';
import { crc32Hex } from '../../main/engine/codec/crc32.js';

export interface ScriptedDevice {
  version: string;
  stored: number; // bytes the device has kept (its resume offset)
  battery?: number;
  /** Fail when stored passes this offset (once per entry). */
  dropAt: number[];
  failVerifyTimes: number;
  rebootVersion?: string; // default: the image's version
  opens: number;
  resumeOffers: number[];
  failOpenTimes: number;
  chunk: number;
}

export function scriptedDevice(p: Partial<ScriptedDevice> = {}): ScriptedDevice {
  return { version: '1.0.0', stored: 0, dropAt: [], failVerifyTimes: 0, opens: 0, resumeOffers: [], failOpenTimes: 0, chunk: 1000, ...p };
}

function fakeLink(unit: UnitRef): Link {
  return {
    kind: 'sim',
    unitId: unit.unitId,
    mtuBytes: 1000,
    trace: new TraceRing(),
    isOpen: true,
    write: async () => undefined,
    onData: () => () => undefined,
    onLost: () => () => undefined,
    close: async () => undefined,
  };
}

export function scriptedTransport(devices: Map<string, ScriptedDevice>): Transport {
  return {
    kind: 'sim',
    resourceOf: (u) => `sim:${u.address}`,
    open: async (u) => {
      const d = devices.get(u.unitId)!;
      d.opens++;
      if (d.failOpenTimes > 0) {
        d.failOpenTimes--;
        throw new StationError('TRANSPORT_NOT_FOUND', 'unit not answering');
      }
      return fakeLink(u);
    },
  };
}

export function scriptedDriver(devices: Map<string, ScriptedDevice>, resumable = true): ProtocolDriver {
  return {
    id: 'llsync-ota',
    resumable,
    reconnectForConfirm: true,
    createSession(ctx: SessionContext): ProtocolSession {
      const d = devices.get(ctx.unit.unitId)!;
      const size = ctx.image.bytes.length;
      return {
        identify: async (): Promise<DeviceIdentity> => ({ version: d.version, batteryPct: d.battery }),
        negotiate: async () => {
          const at = resumable ? d.stored : 0;
          d.resumeOffers.push(at);
          return { resumeAtBytes: at, chunkBytes: d.chunk };
        },
        transfer: async (from, onAck, signal) => {
          d.stored = from;
          while (d.stored < size) {
            if (signal.aborted) throw signal.reason;
            const next = Math.min(size, d.stored + d.chunk);
            const drop = d.dropAt.findIndex((x) => x > d.stored && x <= next);
            if (drop >= 0) {
              d.stored = d.dropAt[drop]!;
              d.dropAt.splice(drop, 1);
              throw new StationError('TRANSPORT_LOST', 'link dropped', { ackedBytes: d.stored });
            }
            d.stored = next;
            onAck(d.stored);
            await new Promise((r) => setImmediate(r));
          }
        },
        verify: async (): Promise<HashView> => {
          if (d.failVerifyTimes > 0) {
            d.failVerifyTimes--;
            d.stored = 0;
            return { crc32: 'deadbeef' };
          }
          return { crc32: crc32Hex(ctx.image.bytes) };
        },
        activate: async () => {
          d.version = d.rebootVersion ?? ctx.image.info.version;
          d.stored = 0;
        },
        confirm: async () => d.version,
      };
    },
  };
}

export type FailCode = StationErrorCode;
export type { JobView };
