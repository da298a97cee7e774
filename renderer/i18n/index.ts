// t('a.b.c') over the station store's language; falls back to English, then to the key.
import { computed } from 'vue';
import type { Lang } from '../../main/contract/dto.js';
import { useStationStore } from '../stores/station.js';
import { MESSAGES } from './messages.js';

export function translate(lang: Lang, key: string, params: Record<string, string | number> = {}): string {
  const look = (tree: unknown): string | undefined => {
    let node: unknown = tree;
    for (const part of key.split('.')) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
    return typeof node === 'string' ? node : undefined;
  };
  const text = look(MESSAGES[lang]) ?? look(MESSAGES.en) ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k: string) => String(params[k] ?? `{${k}}`));
}

export function useI18n() {
  const station = useStationStore();
  const lang = computed(() => station.lang);
  return { lang, t: (key: string, params?: Record<string, string | number>) => translate(station.lang, key, params) };
}
