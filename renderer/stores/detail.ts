// Unit detail for RMA work: the job's journaled transitions and its raw protocol trace.
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { ErrorView, TraceLine, TransitionView } from '../../main/contract/dto.js';
import { bridge } from '../bridge.js';
import { browserDownload } from './reports.js';

/** Printable ASCII of a hex string, dots elsewhere (pure). */
export function decodeHex(hex: string): string {
  let out = '';
  for (let i = 0; i + 1 < hex.length; i += 2) {
    const b = parseInt(hex.slice(i, i + 2), 16);
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  }
  return out;
}

/** Spaced hex bytes, for reading (pure). */
export function spacedHex(hex: string): string {
  return (hex.match(/../g) ?? []).join(' ');
}

/** The trace as text an engineer can paste into a ticket (pure). */
export function traceText(jobId: string, trace: { attempt: number; lines: TraceLine[] }[]): string {
  const out = [`# trace of ${jobId}`];
  for (const a of trace) {
    out.push(`## attempt ${a.attempt}`);
    for (const l of a.lines) out.push(`${String(l.tMs).padStart(7)} ms ${l.dir.padEnd(4)} ${l.hex ? spacedHex(l.hex) : ''}${l.text ? `  ${l.text}` : l.hex ? `  |${decodeHex(l.hex)}|` : ''}`);
  }
  return out.join('\n');
}

export const useDetailStore = defineStore('detail', () => {
  const jobId = ref<string | null>(null);
  const transitions = shallowRef<TransitionView[]>([]);
  const trace = shallowRef<{ attempt: number; lines: TraceLine[] }[]>([]);
  const loading = ref(false);
  const error = ref<ErrorView | null>(null);

  async function open(id: string): Promise<void> {
    jobId.value = id;
    await reload();
  }
  async function reload(): Promise<void> {
    if (!jobId.value) return;
    loading.value = true;
    const r = await bridge().jobDetail({ jobId: jobId.value });
    loading.value = false;
    if (r.ok) {
      transitions.value = r.value.transitions;
      trace.value = r.value.trace;
      error.value = null;
    } else error.value = r.error;
  }
  function close(): void {
    jobId.value = null;
    transitions.value = [];
    trace.value = [];
  }
  /** The unit's log (timeline and raw trace) as a text file, for "Export log" wherever a message asks for it. */
  async function exportLog(id: string, download: (fileName: string, mime: string, content: string) => void = browserDownload): Promise<boolean> {
    const r = await bridge().jobDetail({ jobId: id });
    if (!r.ok) {
      error.value = r.error;
      return false;
    }
    const lines = [`# log of ${id}`, '## timeline', ...r.value.transitions.map((t) => `${t.at} ${t.from} -> ${t.to} attempt ${t.attempt} bytes ${t.progressBytes}${t.result ? ` ${t.result}` : ''}${t.errorCode ? ` ${t.errorCode}` : ''}${t.message ? ` ${t.message}` : ''}`), traceText(id, r.value.trace)];
    download(`${id}.log.txt`, 'text/plain', lines.join('\n') + '\n');
    return true;
  }
  return { jobId, transitions, trace, loading, error, open, reload, close, exportLog };
});
