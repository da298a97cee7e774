/**
 * The layering rules (STYLE.md §1, issue 12 §4) over the real import graph: every import,
 * export-from, dynamic import() and require() of main/, preload/ and renderer/ (the <script>
 * blocks of .vue files too), parsed with TypeScript's own parser.
 *  - protocols import only the link-interface module of transport/ (types.ts; byte-reader.ts is a
 *    pure reader over a Link), never a transport implementation;
 *  - transports import no protocol and no virtual unit (device/, sim/);
 *  - nothing but main/app/ and preload/ imports electron (or electron-store, which does);
 *  - the renderer takes only `import type` from main/contract/ and nothing else from main/;
 *  - contract/ and codec/ import nothing outside themselves.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

interface Edge {
  /** Repo-relative importing file and line. */
  from: string;
  line: number;
  /** The specifier as written. */
  spec: string;
  /** Repo-relative resolved target for relative specifiers; the package name otherwise. */
  to: string;
  typeOnly: boolean;
}

const ROOTS = ['main', 'preload', 'renderer'];

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (/\.(ts|mts|mjs|cjs|js|vue)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function resolveTarget(fromAbs: string, spec: string): string {
  if (!spec.startsWith('.')) return spec.startsWith('node:') ? spec : spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
  const abs = path.resolve(path.dirname(fromAbs), spec);
  // Sources import `.js` for `.ts` files (NodeNext); map back to what exists on disk.
  for (const cand of [abs, abs.replace(/\.js$/, '.ts'), abs.replace(/\.mjs$/, '.mts'), `${abs}.ts`, path.join(abs, 'index.ts')]) {
    if (fs.existsSync(cand) && fs.statSync(cand).isFile()) return path.relative(REPO, cand).split(path.sep).join('/');
  }
  return path.relative(REPO, abs).split(path.sep).join('/');
}

function edgesOf(fileAbs: string): Edge[] {
  let text = fs.readFileSync(fileAbs, 'utf8');
  let lineOffset = 0;
  if (fileAbs.endsWith('.vue')) {
    const m = /<script\b[^>]*>([\s\S]*?)<\/script>/.exec(text);
    if (!m) return [];
    lineOffset = text.slice(0, m.index + m[0].indexOf('>') + 1).split('\n').length - 1;
    text = m[1]!;
  }
  const sf = ts.createSourceFile(fileAbs, text, ts.ScriptTarget.Latest, true, fileAbs.endsWith('.vue') ? ts.ScriptKind.TS : undefined);
  const from = path.relative(REPO, fileAbs).split(path.sep).join('/');
  const edges: Edge[] = [];
  const add = (node: ts.Node, spec: string, typeOnly: boolean) => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 + lineOffset;
    edges.push({ from, line, spec, to: resolveTarget(fileAbs, spec), typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(node, node.moduleSpecifier.text, node.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isCallExpression(node) && node.arguments.length > 0 && ts.isStringLiteral(node.arguments[0]!)) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) add(node, (node.arguments[0] as ts.StringLiteral).text, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node, node.argument.literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return edges;
}

const EDGES: Edge[] = ROOTS.flatMap((r) => listFiles(path.join(REPO, r))).flatMap(edgesOf);
const show = (e: Edge) => `${e.from}:${e.line} → ${e.spec}`;

/** Link-interface modules a protocol may import from transport/. */
const LINK_INTERFACE = ['main/engine/transport/types.ts', 'main/engine/transport/byte-reader.ts'];


const under = (p: string, dir: string) => p.startsWith(dir + '/');

const E = 'main/engine';
/** Each engine folder, the module whose header speaks for it, and folders it must not import. */
const FOLDERS: { dir: string; main: string; forbid: string[] }[] = [
  { dir: `${E}/batch`, main: `${E}/batch/batch-run.ts`, forbid: [`${E}/transport`, `${E}/protocol`, `${E}/device`, 'electron'] },
  { dir: `${E}/codec`, main: `${E}/codec/crc32.ts`, forbid: [`${E}/errors.ts`, `${E}/transport`, `${E}/protocol`, 'main/contract'] },
  { dir: `${E}/detect`, main: `${E}/detect/detect.ts`, forbid: [`${E}/journal`, `${E}/job`, `${E}/batch`, 'electron'] },
  { dir: `${E}/device`, main: `${E}/device/virtual-device.ts`, forbid: [`${E}/job`, `${E}/batch`, `${E}/journal`, `${E}/pool`, 'electron'] },
  { dir: `${E}/job`, main: `${E}/job/runner.ts`, forbid: [`${E}/device`, `${E}/transport/ble`, `${E}/transport/serial`, `${E}/transport/net`, `${E}/transport/sim`, `${E}/journal`, 'electron'] },
  { dir: `${E}/journal`, main: `${E}/journal/journal.ts`, forbid: [`${E}/transport`, `${E}/protocol`, `${E}/device`, `${E}/job`, 'electron'] },
  { dir: `${E}/package`, main: `${E}/package/loader.ts`, forbid: [`${E}/transport`, `${E}/job`, `${E}/journal`, 'electron'] },
  { dir: `${E}/pool`, main: `${E}/pool/scheduler.ts`, forbid: [`${E}/transport`, `${E}/protocol`, `${E}/device`, `${E}/job`, `${E}/journal`] },
  { dir: `${E}/protocol`, main: `${E}/protocol/types.ts`, forbid: [`${E}/transport/ble`, `${E}/transport/serial`, `${E}/transport/net`, `${E}/transport/sim`, `${E}/device`, `${E}/journal`, 'electron'] },
  { dir: `${E}/report`, main: `${E}/report/index.ts`, forbid: [`${E}/journal`, `${E}/transport`, `${E}/protocol`, 'electron'] },
  { dir: `${E}/rma`, main: `${E}/rma/recover.ts`, forbid: [`${E}/protocol`, `${E}/device`, 'electron'] },
  { dir: `${E}/settings`, main: `${E}/settings/settings.ts`, forbid: ['electron', 'electron-store', `${E}/transport`] },
  { dir: `${E}/transport`, main: `${E}/transport/types.ts`, forbid: [`${E}/protocol`, `${E}/device`, `${E}/sim`, 'electron'] },
  { dir: `${E}/workers`, main: `${E}/workers/worker-pool.ts`, forbid: [`${E}/package`, `${E}/report`, 'electron'] },
  { dir: 'main/host', main: 'main/host/engine-host.ts', forbid: ['electron', 'main/app'] },
];

describe('import rules over the real import graph', () => {
  it('sees the graph (a broken parser must not pass every rule)', () => {
    expect(EDGES.length).toBeGreaterThan(300);
    expect(EDGES.some((e) => e.from === 'main/engine/engine.ts' && e.to === 'main/engine/protocol/registry.ts')).toBe(true);
    expect(EDGES.some((e) => e.from.startsWith('renderer/') && e.from.endsWith('.vue') && e.to.startsWith('main/contract/') && e.typeOnly)).toBe(true);
    expect(EDGES.some((e) => e.from === 'main/app/electron-main.ts' && e.to === 'electron')).toBe(true);
  });

  it('protocols import only the link-interface module from transport/', () => {
    const bad = EDGES.filter((e) => under(e.from, 'main/engine/protocol') && under(e.to, 'main/engine/transport') && !LINK_INTERFACE.includes(e.to));
    expect(bad.map(show)).toEqual([]);
  });

  it('transports import no protocol and no virtual unit', () => {
    const bad = EDGES.filter((e) => under(e.from, 'main/engine/transport') && (under(e.to, 'main/engine/protocol') || under(e.to, 'main/engine/device') || under(e.to, 'main/engine/sim')));
    expect(bad.map(show)).toEqual([]);
  });

  it('the link-interface module depends on nothing but contract, errors and the trace type', () => {
    const bad = EDGES.filter((e) => LINK_INTERFACE.includes(e.from) && !['main/contract/dto.ts', 'main/engine/errors.ts', 'main/engine/clock.ts', 'main/engine/transport/trace.ts', 'main/engine/transport/types.ts'].includes(e.to));
    expect(bad.map(show)).toEqual([]);
  });

  it('only main/app/ and preload/ import electron', () => {
    const bad = EDGES.filter((e) => (e.to === 'electron' || e.to === 'electron-store') && !under(e.from, 'main/app') && !under(e.from, 'preload'));
    expect(bad.map(show)).toEqual([]);
  });

  it('the renderer takes only `import type` from main/contract/ and nothing else from main/', () => {
    const bad = EDGES.filter((e) => under(e.from, 'renderer') && under(e.to, 'main') && !(under(e.to, 'main/contract') && e.typeOnly));
    expect(bad.map(show)).toEqual([]);
  });

  it('contract/ and codec/ import nothing outside themselves; preload only electron', () => {
    const bad = EDGES.filter(
      (e) =>
        (under(e.from, 'main/contract') && !under(e.to, 'main/contract')) ||
        (under(e.from, 'main/engine/codec') && !under(e.to, 'main/engine/codec')) ||
        (under(e.from, 'preload') && e.to !== 'electron'),
    );
    expect(bad.map(show)).toEqual([]);
  });

  it('each engine folder: its main module header says what it must not import, and the graph agrees', () => {
    for (const f of FOLDERS) {
      const text = fs.readFileSync(path.join(REPO, f.main), 'utf8');
      const header = /^(?:#!.*\n)?\s*\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? '';
      expect(header, `${f.main} header`).toMatch(/must not/i);
      const bad = EDGES.filter((e) => under(e.from, f.dir) && f.forbid.some((d) => e.to === d || under(e.to, d)));
      expect(bad.map(show), f.dir).toEqual([]);
    }
  });

});
