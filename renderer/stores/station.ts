/// <reference lib="dom" />
// Station-wide state: identity, language, settings, and the operator texts of error codes
// (fetched once per code from the station's catalog). Owns every station/settings bridge call.
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { ErrorView, Lang } from '../../main/contract/dto.js';
import type { Result, StationInfo, StationSettingsView } from '../../main/contract/ipc.js';
import { bridge } from '../bridge.js';

/** Unwraps a Result, recording the error for the screen. */
export function unwrap<T>(r: Result<T>, onError: (e: ErrorView) => void): T | undefined {
  if (r.ok) return r.value;
  onError(r.error);
  return undefined;
}

export const useStationStore = defineStore('station', () => {
  const info = ref<StationInfo | null>(null);
  const lang = ref<Lang>('en');
  const settings = ref<StationSettingsView | null>(null);
  const errorTexts = ref<Record<string, { en: string; 'zh-CN': string }>>({});
  const lastError = ref<ErrorView | null>(null);
  const settingsSaved = ref(false);
  const asked = new Set<string>();

  async function load(): Promise<void> {
    const r = await bridge().stationInfo({});
    const v = unwrap(r, (e) => (lastError.value = e));
    if (v) {
      info.value = v;
      lang.value = v.language;
    }
  }

  function setLang(l: Lang): void {
    lang.value = l;
    document.documentElement.lang = l;
    void bridge().setSettings({ language: l });
  }

  /** Operator text of an error code in the current language (asks the station once per code). */
  function operatorText(code: string | undefined): string {
    if (!code) return '';
    const known = errorTexts.value[code];
    if (known) return known[lang.value];
    if (!asked.has(code)) {
      asked.add(code);
      void bridge()
        .errorTexts({ codes: [code] })
        .then((r) => {
          if (r.ok) errorTexts.value = { ...errorTexts.value, ...r.value };
        });
    }
    return '';
  }

  async function loadSettings(): Promise<void> {
    const v = unwrap(await bridge().getSettings({}), (e) => (lastError.value = e));
    if (v) settings.value = v;
  }

  async function saveSettings(values: Partial<StationSettingsView>): Promise<boolean> {
    settingsSaved.value = false;
    const v = unwrap(await bridge().setSettings(values), (e) => (lastError.value = e));
    if (!v) return false;
    settings.value = v;
    lang.value = v.language;
    if (info.value) info.value = { ...info.value, operator: v.operator };
    settingsSaved.value = true;
    return true;
  }

  return { info, lang, settings, errorTexts, lastError, settingsSaved, load, setLang, operatorText, loadSettings, saveSettings };
});
