/**
 * Report export in the desktop app: the engine host (a utility process) renders the report and
 * returns its text; main, which owns dialogs and windows, prints HTML to PDF and opens the save
 * dialog (the renderer never sends a path). Wraps the relayed StationApi; everything else passes through.
 */
import type { ExportedReport, Result } from '../contract/ipc.js';
import type { StationApi } from '../server/api.js';
import { errorView, toStationError } from '../engine/errors.js';

export interface DesktopEffects {
  saveFile: (suggestedName: string, data: string | Uint8Array) => Promise<string | null>;
  htmlToPdf?: (html: string) => Promise<Uint8Array>;
}

export function withDesktopExport(api: StationApi, fx: DesktopEffects): StationApi {
  const exportReport = async (req: unknown): Promise<Result<ExportedReport>> => {
    const r = await api.handlers.exportReport(req);
    if (!r.ok || r.value.content === undefined) return r;
    try {
      const wantsPdf = (req as { format?: unknown } | null)?.format === 'pdf';
      const { content, ...rest } = r.value;
      const pdf = wantsPdf && fx.htmlToPdf ? await fx.htmlToPdf(content) : undefined;
      const out: ExportedReport = pdf ? { ...rest, fileName: rest.fileName.replace(/\.html$/, '.pdf'), mime: 'application/pdf' } : rest;
      out.savedPath = await fx.saveFile(out.fileName, pdf ?? content);
      return { ok: true, value: out };
    } catch (e) {
      return { ok: false, error: errorView(toStationError(e)) };
    }
  };
  return { ...api, handlers: { ...api.handlers, exportReport } };
}
