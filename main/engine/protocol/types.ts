/**
 * The host side of one OTA dialect, run over a Link. Pure: no serialport, noble, Electron or
 * database. The job runner calls the steps in order and owns retries, timing and journaling.
 * Protocols must not import transport implementations (only transport/types.ts), virtual units, the journal or electron.
 */
import type { HashView, PackageComponentInfo, ProtocolId, UnitRef } from '../../contract/dto.js';
import type { BleProtocolSpec, Link } from '../transport/types.js';
import type { Clock } from '../clock.js';

/** One component's image: metadata plus the one shared copy of its bytes. */
export interface FirmwareImage {
  info: PackageComponentInfo;
  bytes: Uint8Array;
}

export interface DeviceIdentity {
  version?: string;
  serialNumber?: string;
  batteryPct?: number;
  rssiDbm?: number;
}

export interface SessionContext {
  link: Link;
  image: FirmwareImage;
  unit: UnitRef;
  /** Per-product protocol options (profile); each driver documents and defaults its own. */
  options: Record<string, unknown>;
  clock: Clock;
  /** Human-readable protocol log line for the unit's trace. */
  log(text: string): void;
}

export interface ProtocolSession {
  /** Read what the device says about itself (version for the gate). May return {} when the dialect cannot tell. */
  identify(signal: AbortSignal): Promise<DeviceIdentity>;
  /** Open the OTA: the *device* reports where to resume and the chunk size. */
  negotiate(signal: AbortSignal): Promise<{ resumeAtBytes: number; chunkBytes: number }>;
  /** Send the image from `fromBytes`; call onAck with the total bytes the device acknowledged. */
  transfer(fromBytes: number, onAck: (ackedBytes: number) => void, signal: AbortSignal): Promise<void>;
  /** Finish the transfer and get the device's verdict; returns what the device confirmed. */
  verify(signal: AbortSignal): Promise<HashView>;
  /** Let the device write/boot the image. */
  activate(signal: AbortSignal): Promise<void>;
  /** After reboot: read the version back (on a fresh link when the driver needs a reconnect). */
  confirm(link: Link, signal: AbortSignal): Promise<string | undefined>;
  /** How long the unit may take to come back and confirm, when the device said so (e.g. LLSync reboot time); else the engine's rebootTimeoutMs. */
  readonly confirmTimeoutMs?: number;
}

/** Which plan policies a unit can be checked against (issue 9 §8): the station reads the value, or the device enforces the plan's limit. */
export interface PolicyChecks {
  battery: boolean;
  rssi: boolean;
  /** The device itself enforces the plan's limit through its protocol (the station passes it on), so no reading is needed. */
  deviceEnforces?: { battery?: boolean; rssi?: boolean };
}

export interface ProtocolDriver {
  readonly id: ProtocolId;
  /** Plan policies this driver can check with these options; absent = the registry's table. */
  canCheck?(options: Record<string, unknown>): PolicyChecks;
  /** True when the device keeps a resume offset across links (station may resume). */
  readonly resumable: boolean;
  /** True when confirm needs the link closed and opened again (BLE, network). */
  readonly reconnectForConfirm: boolean;
  /** BLE protocols: the pipe, scan filter and advert decoder the BLE transport opens links with. */
  readonly ble?: BleProtocolSpec;
  createSession(ctx: SessionContext): ProtocolSession;
}
