/**
 * Desktop-only effects the renderer may not do itself: the save dialog for report export (the
 * renderer never sends a path) and HTML → PDF through a hidden, sandboxed window's printToPDF.
 */
import fs from 'node:fs/promises';

export interface DialogLike {
  showSaveDialog(opts: { defaultPath: string; filters: { name: string; extensions: string[] }[] }): Promise<{ canceled: boolean; filePath?: string }>;
}

export function createSaveFile(dialog: DialogLike, defaultDir: string): (suggestedName: string, data: string | Uint8Array) => Promise<string | null> {
  return async (suggestedName, data) => {
    const ext = suggestedName.split('.').pop() ?? '';
    const r = await dialog.showSaveDialog({ defaultPath: `${defaultDir}/${suggestedName}`, filters: [{ name: ext.toUpperCase(), extensions: [ext] }] });
    if (r.canceled || !r.filePath) return null;
    await fs.writeFile(r.filePath, data);
    return r.filePath;
  };
}

export interface PdfWindowLike {
  loadURL(url: string): Promise<void>;
  webContents: { printToPDF(opts: { printBackground: boolean; pageSize: 'A4' }): Promise<Uint8Array> };
  destroy(): void;
}

export function createHtmlToPdf(newHiddenWindow: () => PdfWindowLike): (html: string) => Promise<Uint8Array> {
  return async (html) => {
    const win = newHiddenWindow();
    try {
      await win.loadURL(`data:text/html;charset=utf-8;base64,${Buffer.from(html).toString('base64')}`);
      return new Uint8Array(await win.webContents.printToPDF({ printBackground: true, pageSize: 'A4' }));
    } finally {
      win.destroy();
    }
  };
}
