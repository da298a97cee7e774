/**
 * Entry of the engine host thread or process. Picks its channel from where it runs: an Electron
 * utility process (process.parentPort), a node:worker_threads worker, or a forked child (IPC).
 * The desktop build bundles this file to out/main/engine-host.js; plain Node runs it from source.
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
  exit = () => process.disconnect?.();
}
startEngineHost(port, exit);
