/// <reference lib="dom" />
// Report export (CSV, JSON, HTML, PDF): the station renders; in the desktop app main opens the
// save dialog, in browser mode the store hands the content to a download.
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { ErrorView } from '../../main/contract/dto.js';
import type { ExportedReport, ReportFormat } from '../../main/contract/ipc.js';
import { bridge } from '../bridge.js';
import { useStationStore } from './station.js';

export type Download = (fileName: string, mime: string, content: string) => void;

export function browserDownload(fileName: string, mime: string, content: string): void {
  const url = URL.createObjectURL(new Blob([content], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const useReportsStore = defineStore('reports', () => {
  const last = ref<ExportedReport | null>(null);
  const error = ref<ErrorView | null>(null);
  const busy = ref(false);
  let download: Download = browserDownload;

  function setDownloader(d: Download): void {
    download = d;
  }

  async function exportReport(batchId: string, format: ReportFormat): Promise<ExportedReport | null> {
    busy.value = true;
    const r = await bridge().exportReport({ batchId, format, lang: useStationStore().lang });
    busy.value = false;
    if (!r.ok) {
      error.value = r.error;
      return null;
    }
    error.value = null;
    last.value = r.value;
    if (r.value.content !== undefined) download(r.value.fileName, r.value.mime, r.value.content);
    return r.value;
  }
  return { last, error, busy, setDownloader, exportReport };
});
