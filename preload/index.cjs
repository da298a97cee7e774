// Preload (sandboxed: only `electron` may be required): exposes window.station, one function
// per station method (the list mirrors STATION_METHODS in main/contract/ipc.ts; a unit test
// checks they match) and onBatchEvent, whose return value unsubscribes. No channel name is ever
// taken from the renderer, and nothing else from Node reaches it.
'use strict';
const { contextBridge, ipcRenderer } = require('electron');

const METHODS = [
  'stationInfo', 'errorTexts', 'importPackage', 'listPackages', 'resolveTargets', 'scanUnits',
  'createBatch', 'startBatch', 'pauseBatch', 'resumeBatch', 'cancelBatch', 'cancelJob', 'retryJob',
  'listBatches', 'getBatch', 'jobDetail', 'searchJobs', 'exportReport', 'getSettings', 'setSettings',
  'recoverUnit', 'rmaStatus', 'listRmaJobs', 'rmaDetail',
  'listScanMappings', 'setScanMappings', 'roleStatus', 'unlockEngineer', 'lockEngineer', 'setEngineerSecret', 'setStopAfterFailures', 'listAudit',
  'listProfiles', 'saveProfile', 'deleteProfile',
];
const PREFIX = 'station:';
const BATCH_EVENT = 'station:batch-event';
const WATCH = 'station:watch';
const UNWATCH = 'station:unwatch';

const bridge = {};
for (const method of METHODS) {
  const channel = PREFIX + method;
  bridge[method] = (req) => ipcRenderer.invoke(channel, req === undefined ? {} : req);
}

const watchers = new Map(); // batchId → Set(fn)
ipcRenderer.on(BATCH_EVENT, (_event, e) => {
  const set = e && typeof e.batchId === 'string' ? watchers.get(e.batchId) : undefined;
  if (set) for (const fn of [...set]) fn(e); // a copy: a watcher may resubscribe while called
});
bridge.onBatchEvent = (batchId, fn) => {
  if (typeof batchId !== 'string' || typeof fn !== 'function') throw new TypeError('onBatchEvent(batchId: string, fn: function)');
  let set = watchers.get(batchId);
  if (!set) {
    set = new Set();
    watchers.set(batchId, set);
  }
  set.add(fn);
  void ipcRenderer.invoke(WATCH, batchId);
  return () => {
    set.delete(fn);
    if (set.size === 0 && watchers.get(batchId) === set) {
      watchers.delete(batchId);
      void ipcRenderer.invoke(UNWATCH, batchId);
    }
  };
};

contextBridge.exposeInMainWorld('station', Object.freeze(bridge));
module.exports = { METHODS };
