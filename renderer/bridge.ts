/// <reference lib="dom" />
// The one place that touches window.station: the preload's bridge in the desktop app, or the
// WebSocket client in browser mode. Stores call bridge(); tests install a fake one.
import type { StationBridge } from '../main/contract/ipc.js';
import { createWsBridge } from './ws-bridge.js';

declare global {
  interface Window {
    station?: StationBridge;
  }
}

let current: StationBridge | null = null;

export function installBridge(b: StationBridge): void {
  current = b;
}

export function bridge(): StationBridge {
  if (current) return current;
  if (window.station) current = window.station;
  else {
    const token = new URLSearchParams(window.location.search).get('token') ?? '';
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    current = createWsBridge(`${scheme}://${window.location.host}/ws?token=${encodeURIComponent(token)}`);
  }
  return current;
}
