/// <reference lib="dom" />
// Firmware packages: import (file bytes → station), the loaded list, the last validation error.
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { ErrorView, PackageInfo } from '../../main/contract/dto.js';
import { bridge } from '../bridge.js';

export const usePackagesStore = defineStore('packages', () => {
  const list = ref<PackageInfo[]>([]);
  const importing = ref(false);
  const error = ref<ErrorView | null>(null);
  const selectedId = ref<string | null>(null);

  /** True once the station answered with its list (so "no packages" is the truth, not a failed load). */
  const loaded = ref(false);
  async function refresh(): Promise<void> {
    const r = await bridge().listPackages({});
    if (r.ok) {
      list.value = r.value;
      loaded.value = true;
      if (selectedId.value && !r.value.some((p) => p.id === selectedId.value)) selectedId.value = null;
      if (!selectedId.value && r.value[0]) selectedId.value = r.value[0].id;
    } else error.value = r.error;
  }

  /** A refused import that the operator may confirm (a version warning), kept to resend. */
  const pendingConfirm = ref<{ fileName: string; dataBase64: string; version?: string } | null>(null);
  async function importBytes(fileName: string, dataBase64: string, version?: string, confirm = false): Promise<PackageInfo | null> {
    importing.value = true;
    error.value = null;
    pendingConfirm.value = null;
    try {
      const r = await bridge().importPackage({ fileName, dataBase64, ...(version ? { version } : {}), ...(confirm ? { confirm: true } : {}) });
      if (!r.ok) {
        error.value = r.error;
        if (r.error.code === 'PACKAGE_VERSION_CONFLICT' || r.error.code === 'PACKAGE_SAME_IMAGE') pendingConfirm.value = { fileName, dataBase64, ...(version ? { version } : {}) };
        return null;
      }
      list.value = [r.value, ...list.value.filter((p) => p.id !== r.value.id)];
      selectedId.value = r.value.id;
      return r.value;
    } finally {
      importing.value = false;
    }
  }

  /** Import the refused package anyway, after the operator confirmed the warning. */
  async function confirmImport(): Promise<PackageInfo | null> {
    const p = pendingConfirm.value;
    if (!p) return null;
    return importBytes(p.fileName, p.dataBase64, p.version, true);
  }
  function dismissConfirm(): void {
    pendingConfirm.value = null;
    error.value = null;
  }
  return { list, importing, error, selectedId, loaded, pendingConfirm, refresh, importBytes, confirmImport, dismissConfirm };
});

/** File → base64 in the browser (no Node in the renderer). */
export function fileToBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(reader.error);
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.readAsDataURL(file);
  });
}

/** The name a package came with (zip/product file), without the station's content-hash prefix (pure). */
export function packageFileName(p: PackageInfo): string {
  const base = p.sourcePath.split(/[\\/]/).pop() ?? p.sourcePath;
  return base.replace(/^[0-9a-f]{12}-/, '');
}
