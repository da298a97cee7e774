/**
 * Entry of the engine host process. Picks its channel from where it runs: an Electron utility
 * process (process.parentPort), a forked child (IPC), or a worker thread (no serial units there:
 * serialport's poller is not worker-safe). The desktop build bundles this file to
 * out/main/engine-host.js; plain Node runs it from source. A parent that goes away closes the engine.
 */
import { parentPort } from 'node:worker_threads';
import { startEngineHost } from './engine-host.js';
import { portOfElectronParent, portOfProcess, portOfWorker, type HostPort } from './host-port.js';

const electronParent = (process as unknown as { parentPort?: Parameters<typeof portOfElectronParent>[0] }).parentPort;
let port: HostPort;
let exit: () => void;
if (electronParent) {
  port = portOfElectronParent(electronParent);
  exit = () => process.exit(0);
} else if (parentPort) {
  const p = parentPort;
  port = portOfWorker(p);
  // Ends this worker thread only; everything the engine opened is closed by now.
  exit = () => p.close();
} else {
  port = portOfProcess(process);
  // Let the 'closed' frame flush, then leave; a handle that lingers does not keep us alive.
  exit = () => {
    if (process.connected) process.disconnect();
    setTimeout(() => process.exit(0), 2000).unref();
  };
}
const shutdown = startEngineHost(port, exit);
// The parent died or dropped the channel: journal in-flight units as interrupted and leave.
if (!electronParent && !parentPort) {
  process.on('disconnect', () => shutdown());
  // Ctrl-C reaches the whole process group: the parent decides when the engine closes.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => shutdown());
}
