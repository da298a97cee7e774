/// <reference lib="dom" />
// The one place that touches window.station: the preload's bridge in the desktop app, or the
// WebSocket client in browser mode. Stores call bridge(); tests install a fake one. Also owns
// the link state (connected or not) that the connection store shows and resyncs on.
import type { StationBridge, StationMethod } from '../main/contract/ipc.js';
import { METHODS, createWsBridge } from './ws-bridge.js';

declare global {
  interface Window {
    station?: StationBridge;
  }
}

let current: StationBridge | null = null;
let wrapped: StationBridge | null = null;
let engineerToken: string | null = null;
const linkListeners = new Set<(connected: boolean) => void>();

export function installBridge(b: StationBridge): void {
  current = b;
  wrapped = null;
}

/** The engineer session (issue 13 §4): sent with every call while set; the station checks it. */
export function setEngineerToken(token: string | null): void {
  engineerToken = token;
}

function withToken(inner: StationBridge): StationBridge {
  const out: Record<string, unknown> = { onBatchEvent: inner.onBatchEvent.bind(inner) };
  // The renderer takes only types from contract/: the method list is ws-bridge's, checked against the type.
  for (const m of Object.keys(METHODS) as StationMethod[]) {
    const fn = inner[m as StationMethod] as ((r: unknown) => unknown) | undefined;
    // A bridge without the method (an older station, a test page) answers with an error, never throws.
    out[m] = typeof fn === 'function'
      ? (req: unknown) => fn.call(inner, engineerToken ? { ...(req as object), engineerToken } : req)
      : () => Promise.resolve({ ok: false, error: { code: 'CONFIG_INVALID', result: 'station_error', message: `the station does not offer ${m}`, operatorText: { en: 'This station does not offer this function.', 'zh-CN': '本工位不提供此功能。' }, retryable: false } });
  }
  return out as StationBridge;
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
  if (current) return (wrapped ??= withToken(current));
  if (window.station) current = window.station;
  else {
    const token = new URLSearchParams(window.location.search).get('token') ?? '';
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    current = createWsBridge(`${scheme}://${window.location.host}/ws?token=${encodeURIComponent(token)}`, (s) => reportLink(s.connected));
  }
  return (wrapped ??= withToken(current));
}
