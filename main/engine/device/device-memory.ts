/**
 * A virtual device's persistent memory: the running image's version, a staging area the OTA
 * writes into, and the device's own resume record. Optionally backed by a folder so that the
 * device "survives" a station crash (the SIGKILL test) exactly as a real unit keeps its flash.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ResumeRecord {
  /** Bytes of the staged image the device has stored and will accept a resume from. */
  offset: number;
  size: number;
  crc32: string;
  version: string;
}

export interface DeviceMemoryState {
  version: string;
  serialNumber: string;
  bootCount: number;
  /** Set when the application is gone (only the bootloader answers). */
  appDead: boolean;
  resume: ResumeRecord | null;
  /** Free-form counters a device behaviour keeps across links (e.g. "failures so far"). */
  counters: Record<string, number>;
}

export class DeviceMemory {
  state: DeviceMemoryState;
  private staging: Uint8Array;
  private stagingFd: number | null = null;

  /** @param dir when given, state and staging flash persist there. */
  constructor(initial: Omit<DeviceMemoryState, 'bootCount' | 'resume' | 'counters' | 'appDead'> & Partial<DeviceMemoryState>, readonly flashBytes = 16 * 1024 * 1024, private readonly dir?: string) {
    this.state = { bootCount: 0, resume: null, counters: {}, appDead: false, ...initial };
    this.staging = new Uint8Array(0);
    if (dir) {
      fs.mkdirSync(dir, { recursive: true });
      const statePath = path.join(dir, 'state.json');
      if (fs.existsSync(statePath)) {
        this.state = { ...this.state, ...JSON.parse(fs.readFileSync(statePath, 'utf8')) };
        const stagingPath = path.join(dir, 'staging.bin');
        if (fs.existsSync(stagingPath)) this.staging = new Uint8Array(fs.readFileSync(stagingPath));
      } else {
        this.persistState();
      }
      this.stagingFd = fs.openSync(path.join(dir, 'staging.bin'), fs.existsSync(path.join(dir, 'staging.bin')) ? 'r+' : 'w+');
    }
  }

  /** Start a new staged image of `size` bytes (erases the staging area). */
  eraseStaging(size: number): void {
    this.staging = new Uint8Array(size);
    if (this.stagingFd !== null) fs.ftruncateSync(this.stagingFd, 0);
  }

  writeStaging(offset: number, data: Uint8Array): void {
    if (offset + data.length > this.staging.length) {
      const grown = new Uint8Array(Math.max(offset + data.length, this.staging.length * 2));
      grown.set(this.staging);
      this.staging = grown;
    }
    this.staging.set(data, offset);
    if (this.stagingFd !== null) fs.writeSync(this.stagingFd, data, 0, data.length, offset);
  }

  readStaging(length: number): Uint8Array {
    return this.staging.subarray(0, length);
  }

  /** Flip one bit in the staging area (a flash write fault). */
  corruptStaging(offset: number): void {
    if (offset < this.staging.length) {
      const b = this.staging[offset]! ^ 0x01;
      this.writeStaging(offset, Uint8Array.of(b));
    }
  }

  setResume(r: ResumeRecord | null): void {
    this.state.resume = r;
    this.persistState();
  }

  /** Install the staged image: it boots as `version` from now on. */
  install(version: string): void {
    this.state.version = version;
    this.state.resume = null;
    this.state.appDead = false;
    this.persistState();
  }

  bump(counter: string): number {
    this.state.counters[counter] = (this.state.counters[counter] ?? 0) + 1;
    this.persistState();
    return this.state.counters[counter]!;
  }

  boot(): void {
    this.state.bootCount += 1;
    this.persistState();
  }

  persistState(): void {
    if (!this.dir) return;
    const p = path.join(this.dir, 'state.json');
    fs.writeFileSync(p + '.tmp', JSON.stringify(this.state));
    fs.renameSync(p + '.tmp', p);
  }

  close(): void {
    if (this.stagingFd !== null) fs.closeSync(this.stagingFd);
    this.stagingFd = null;
  }
}
