/// <reference lib="dom" />
// The one place that touches window.station: the preload's bridge in the desktop app, or the
// WebSocket client in browser mode. Stores call bridge(); tests install a fake one. Also owns
// the link state (connected or not) that the connection store shows and resyncs on.
import type { StationBridge } from '../main/contract/ipc.js';
import { createWsBridge } from './ws-bridge.js';

declare global {
  interface Window {
    station?: StationBridge;
  }
}

let current: StationBridge | null = null;
const linkListeners = new Set<(connected: boolean) => void>();

export function installBridge(b: StationBridge): void {
  current = b;
}

/** Tells listeners the link to the station went up or down (the WebSocket client, or tests). */
export function reportLink(connected: boolean): void {
  for (const fn of [...linkListeners]) fn(connected);
}

/** Subscribes to link changes; returns the unsubscribe. The desktop IPC link never goes down. */
export function onLink(fn: (connected: boolean) => void): () => void {
  linkListeners.add(fn);
  return () => linkListeners.delete(fn);
}

export function bridge(): StationBridge {
  if (current) return current;
  if (window.station) current = window.station;
  else {
    const token = new URLSearchParams(window.location.search).get('token') ?? '';
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    current = createWsBridge(`${scheme}://${window.location.host}/ws?token=${encodeURIComponent(token)}`, (s) => reportLink(s.connected));
  }
  return current;
}
