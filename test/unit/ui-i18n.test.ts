/**
 * Every user-visible string goes through i18n (issue 13 §5): en and zh-CN have the same keys and
 * no empty text, every t('…') key used in the renderer exists, and no .vue template carries raw
 * words in a text node or in a literal placeholder/title/aria-label (allowed: units and names
 * that read the same in both languages).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MESSAGES } from '../../renderer/i18n/messages.js';

const RENDERER = path.resolve(__dirname, '..', '..', 'renderer');
/** Text that is the same in every language: product names, units, hash names, the language names themselves. */
const ALLOWED = new Set(['Ctrl', 'Enter', 's', 's,', 'kB', 'CRC32', 'MD5', 'SHA-256', 'ms', 'English', '中文（简体）', 'Alt', 'RMA', 'ETA']);

function flatten(tree: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string') out.set(key, v);
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
  }
  return out;
}

function vueFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? vueFiles(path.join(dir, e.name)) : e.name.endsWith('.vue') ? [path.join(dir, e.name)] : []));
}

/** Raw words in a template (pure): text nodes and literal user-facing attributes, minus interpolations. */
export function rawWords(template: string): string[] {
  const found: string[] = [];
  for (const m of template.matchAll(/\s(?:placeholder|title|aria-label|alt)="([^"]*)"/g)) found.push(m[1]!);
  const text = template
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/\{\{[\s\S]*?\}\}/g, ' ')
    .replace(/<[^>"']*(?:"[^"]*"[^>"']*|'[^']*'[^>"']*)*>/g, '\n');
  for (const line of text.split('\n')) found.push(line);
  return found
    .map((s) => s.trim())
    .filter((s) => /[A-Za-z\u4e00-\u9fff]/.test(s))
    .flatMap((s) => s.split(/[\s·—:()/…+|]+/).filter((w) => /[A-Za-z\u4e00-\u9fff]/.test(w)))
    .filter((w) => !ALLOWED.has(w));
}

describe('i18n', () => {
  const en = flatten(MESSAGES.en);
  const zh = flatten(MESSAGES['zh-CN']);

  it('has the same keys in en and zh-CN, none empty, and zh-CN is actually translated', () => {
    expect([...zh.keys()].sort()).toEqual([...en.keys()].sort());
    for (const [k, v] of [...en, ...zh]) expect(v.trim(), k).not.toBe('');
    // Words an operator reads in Chinese: a zh-CN text without any CJK character must be a code or unit.
    const untranslated = [...zh].filter(([k, v]) => /[A-Za-z]{3,}/.test(v) && !/[\u4e00-\u9fff]/.test(v) && v === en.get(k) && !/^(kB\/s|English|CRC32 \/ MD5|PDF|\.\.\.|…)$/.test(v));
    expect(untranslated).toEqual([]);
  });

  it('knows every key the renderer asks for', () => {
    const files = [...vueFiles(RENDERER), ...fs.readdirSync(path.join(RENDERER, 'stores')).map((f) => path.join(RENDERER, 'stores', f))];
    const missing: string[] = [];
    for (const f of files) {
      const src = fs.readFileSync(f, 'utf8');
      for (const m of src.matchAll(/\bt\(\s*['"]([\w.-]+)['"]/g)) if (!en.has(m[1]!)) missing.push(`${path.basename(f)}: ${m[1]}`);
    }
    expect(missing).toEqual([]);
  });

  it('finds no raw words in any .vue template', () => {
    const raw: string[] = [];
    for (const f of vueFiles(RENDERER)) {
      const src = fs.readFileSync(f, 'utf8');
      const template = /<template>([\s\S]*)<\/template>/.exec(src)?.[1] ?? '';
      for (const w of rawWords(template)) raw.push(`${path.relative(RENDERER, f)}: ${w}`);
    }
    expect(raw).toEqual([]);
  });

  it('catches a raw word (the check itself can fail)', () => {
    expect(rawWords('<p>{{ t("x") }}</p><button>Start</button><input placeholder="Serial" />')).toEqual(['Serial', 'Start']);
    expect(rawWords('<span>{{ a }} · CRC32 {{ b }}</span>')).toEqual([]);
  });
});
