// t('a.b.c') over the station store's language; falls back to English, then to the key.
import { computed } from 'vue';
import type { Lang } from '../../main/contract/dto.js';
import { useStationStore } from '../stores/station.js';
import { MESSAGES } from './messages.js';

// Lookups without parameters are cached: every visible grid tile asks for its labels on each
// update (500 units × 10 updates/s, see test/bench/grid.bench.ts), and the tables never change.
const plainCache = new Map<string, string>();

export function translate(lang: Lang, key: string, params?: Record<string, string | number>): string {
  if (!params) {
    const cacheKey = `${lang}\u0000${key}`;
    let text = plainCache.get(cacheKey);
    if (text === undefined) {
      text = lookUp(lang, key, {});
      plainCache.set(cacheKey, text);
    }
    return text;
  }
  return lookUp(lang, key, params);
}

function lookUp(lang: Lang, key: string, params: Record<string, string | number>): string {
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
