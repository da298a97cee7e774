// Preload (sandboxed): exposes the typed station bridge with contextBridge. The bridge's
// commands are added with the operator UI; nothing else from Node reaches the renderer.
const { contextBridge } = require('electron');

contextBridge.exposeInMainWorld('station', Object.freeze({ version: 1 }));
