/**
 * The small contract every virtual unit meets: persistent memory plus a device-side byte port it
 * can be (re)attached to. The sim transport and the PTY helpers attach units; units own no links.
 * device/ is the virtual-unit home: real transports must not import it; it must not import jobs, batches, the journal or electron.
 */
import type { DevicePort } from '../transport/types.js';
import type { DeviceMemory } from './device-memory.js';

export interface VirtualDevice {
  readonly memory: DeviceMemory;
  /** Power-on behind a (new) port; a previous port is detached first. */
  attach(port: DevicePort): void;
  /** Stop all timers and detach; memory stays usable (the caller closes it). */
  dispose(): void;
}
