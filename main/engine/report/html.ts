/**
 * HTML form of a report: one self-contained, printable page (inline CSS, no scripts, no external
 * resources, a CSP that forbids both) with the report JSON embedded for verification. Rendering
 * is deterministic, so the verifier can re-render the embedded data and compare the visible page
 * (line endings aside). Shows what the signature and chains prove in both en and zh-CN.
 */
import type { Lang } from '../../contract/dto.js';
import { RESULT_COUNT_KEYS } from './model.js';
import type { HashVerdict, Report, SealedRow } from './model.js';

export const EMBED_ID = 'flashline-report';

const LABELS = {
  en: {
    title: 'Firmware upgrade report', batch: 'Batch', state: 'Batch state', package: 'Package', files: 'Files',
    sha256: 'SHA-256', signature: 'Package signature', station: 'Station', operator: 'Operator', started: 'Started',
    ended: 'Ended', duration: 'Duration', generated: 'Generated', total: 'Total', passed: 'Passed', failed: 'Failed',
    skipped: 'Skipped', cancelled: 'Cancelled', interrupted: 'Interrupted', unfinished: 'Unfinished', results: 'Results',
    integrity: 'Integrity', unit: 'Unit', address: 'Address', link: 'Transport / protocol', version: 'Version before → after (target)',
    size: 'Size (bytes)', crc32: 'CRC32 sent / confirmed', md5: 'MD5 sent / confirmed', result: 'Result', code: 'Code',
    message: 'What to do', attempts: 'Tries', confirmedBy: 'Confirmed by the device', causes: 'Attempt causes', proof: 'What this report proves', journal: 'Journal head', start: 'Start', rowHash: 'Row hash', technician: 'technician', trace: 'full raw trace',
    signed: (rows: number, head: string, key: string) => `SHA-256 hash chain over ${rows} rows (head ${head}), signed with station key ${key} (Ed25519).`,
    chainOnly: (rows: number, head: string) => `SHA-256 hash chain over ${rows} rows (head ${head}). Chain-only: not signed, so an edited row is detected but a rewrite of the whole file is not.`,
    authoritative: 'The data embedded in this file is authoritative; verify it with “flashline verify-report”.',
  },
  'zh-CN': {
    title: '固件升级报告', batch: '批次', state: '批次状态', package: '固件包', files: '文件', sha256: 'SHA-256',
    signature: '固件包签名', station: '工位', operator: '操作员', started: '开始', ended: '结束', duration: '耗时',
    generated: '生成时间', total: '总数', passed: '成功', failed: '失败', skipped: '跳过', cancelled: '取消',
    interrupted: '中断', unfinished: '未完成', results: '结果', integrity: '完整性', unit: '设备', address: '地址',
    link: '传输 / 协议', version: '版本 升级前 → 升级后（目标）', size: '大小（字节）', crc32: 'CRC32 发送 / 设备确认',
    md5: 'MD5 发送 / 设备确认', result: '结果', code: '代码', message: '处理建议', attempts: '次数', confirmedBy: '设备确认依据', causes: '各次失败原因', proof: '本报告证明什么', journal: '日志链头', start: '开始',
    rowHash: '行哈希', technician: '技术员', trace: '完整原始协议日志',
    signed: (rows: number, head: string, key: string) => `SHA-256 哈希链覆盖 ${rows} 行（链头 ${head}），已用工位密钥 ${key}（Ed25519）签名。`,
    chainOnly: (rows: number, head: string) => `SHA-256 哈希链覆盖 ${rows} 行（链头 ${head}）。仅哈希链、未签名：可发现单行被改动，但无法发现整份文件被重写。`,
    authoritative: '以本文件内嵌的数据为准；请用 “flashline verify-report” 校验。',
  },
} as const;

const CSS = `
*{box-sizing:border-box}body{font:14px/1.4 system-ui,"Segoe UI","Microsoft YaHei","PingFang SC",sans-serif;color:#1b1f24;margin:24px}
h1{font-size:22px;margin:0 0 4px}.sub{color:#57606a;margin:0 0 16px}
dl.meta{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:4px 16px;margin:0 0 16px}
dl.meta dt{color:#57606a}dl.meta dd{margin:0;word-break:break-all}
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 12px}.tile{border:1px solid #d0d7de;border-radius:6px;padding:6px 12px;min-width:96px}
.tile b{display:block;font-size:24px}.tile.pass b{color:#1a7f37}.tile.fail b{color:#cf222e}
.results,.integrity{margin:0 0 12px;color:#57606a}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{border:1px solid #d0d7de;padding:3px 5px;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr.passed td.res{color:#1a7f37;font-weight:600}tr.failed td.res{color:#cf222e;font-weight:600}
.mono{font-family:ui-monospace,Consolas,monospace;font-size:11px;word-break:break-all}.alt{color:#57606a;font-size:11px}
.proof{margin:0 0 12px;padding:6px 10px;border-left:3px solid #d0d7de;color:#1b1f24}.proof p{margin:2px 0}
.rma{margin-top:2px;color:#8250df}.mark{font-weight:700}.match{color:#1a7f37}.mismatch{color:#cf222e}.unconfirmed{color:#9a6700}
@page{size:A4 landscape;margin:10mm}
@media print{body{margin:0;font-size:11px}thead{display:table-header-group}tr{break-inside:avoid}*{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
`;

export function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe inside <script>: no `<`, `>` or `&` can end the element or start a comment. */
function embedJson(report: Report): string {
  return JSON.stringify(report).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function hashCell(sent: string, confirmed: string, verdict: HashVerdict): string {
  if (!sent) return '';
  const mark = { match: '✓', mismatch: '✗', unconfirmed: '?', '': '' }[verdict];
  return `<span class="mark ${verdict}" title="${verdict}">${mark}</span> <span class="mono">${escapeHtml(sent)}<br>${escapeHtml(confirmed || '—')}</span>`;
}

function formatMs(ms: number | null): string {
  if (ms === null) return '';
  const s = Math.round(ms / 100) / 10;
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** An RMA job's ticket, technician and where its full raw trace is kept (issue 4 §4). */
function rmaHtml(r: SealedRow, lang: Lang): string {
  if (!r.rma_ticket) return '';
  const L = LABELS[lang];
  return (
    `<div class="rma">RMA <b>${escapeHtml(r.rma_ticket)}</b>${r.technician ? ` · ${escapeHtml(L.technician)} ${escapeHtml(r.technician)}` : ''}</div>` +
    (r.trace_ref ? `<div class="alt">${escapeHtml(L.trace)}: <span class="mono">${escapeHtml(r.trace_ref)}</span></div>` : '')
  );
}

function rowHtml(r: SealedRow, lang: Lang): string {
  const [msg, alt] = lang === 'zh-CN' ? [r.message_zh, r.message_en] : [r.message_en, r.message_zh];
  const unit = [r.serial_number && `<b>${escapeHtml(r.serial_number)}</b>`, r.unit_name && escapeHtml(r.unit_name), `<span class="mono">${escapeHtml(r.unit_id)}</span>`]
    .filter(Boolean)
    .join('<br>') + rmaHtml(r, lang);
  return (
    `<tr class="${escapeHtml(r.state)}">` +
    `<td>${escapeHtml(r.row)}</td><td>${unit}</td><td class="mono">${escapeHtml(r.address)}</td>` +
    `<td>${escapeHtml(r.transport)} / ${escapeHtml(r.protocol)}</td>` +
    `<td>${escapeHtml(r.version_before || '—')} → ${escapeHtml(r.version_after || '—')} (${escapeHtml(r.target_version)})</td>` +
    `<td>${escapeHtml(r.size_bytes)}</td>` +
    `<td>${hashCell(r.sent_crc32, r.confirmed_crc32, r.crc32_verdict)}</td>` +
    `<td>${hashCell(r.sent_md5, r.confirmed_md5, r.md5_verdict)}</td>` +
    `<td class="res">${escapeHtml(r.result || r.state)}</td>` +
    `<td class="mono">${escapeHtml(r.error_code)}${r.device_code ? `<br>${escapeHtml(r.device_code)}` : ''}</td>` +
    `<td>${escapeHtml(msg)}${alt ? `<div class="alt">${escapeHtml(alt)}</div>` : ''}${r.detail ? `<div class="alt">${escapeHtml(r.detail)}</div>` : ''}</td>` +
    `<td class="mono">${escapeHtml(r.confirmed_by ?? '')}</td>` +
    `<td>${escapeHtml(r.attempts)}${r.attempt_causes ? `<div class="alt">${escapeHtml(r.attempt_causes)}</div>` : ''}</td><td class="mono">${escapeHtml(r.started_at)}</td><td>${formatMs(r.duration_ms)}</td>` +
    `<td class="mono" title="${escapeHtml(r.row_hash)}">${escapeHtml(r.row_hash.slice(0, 12))}</td></tr>`
  );
}

export function renderHtml(report: Report): string {
  const s = report.summary;
  const lang: Lang = s.lang === 'zh-CN' ? 'zh-CN' : 'en';
  const L = LABELS[lang];
  const meta: [string, string][] = [
    [L.batch, s.batch_id], [L.state, s.batch_state], [L.package, `${s.package_id} — ${s.package_components}`],
    [L.files, s.package_files], [L.sha256, s.package_sha256], [L.signature, s.package_signature],
    [L.station, s.station_id], [L.operator, s.operator], [L.started, s.started_at], [L.ended, s.ended_at],
    [L.duration, formatMs(s.duration_ms)], [L.generated, s.generated_at],
    ...(s.journal_head ? [[L.journal, s.journal_head] as [string, string]] : []),
  ];
  const tiles: [string, number, string][] = [
    [L.total, s.total, ''], [L.passed, s.passed, 'pass'], [L.failed, s.failed, 'fail'], [L.skipped, s.skipped, ''],
    [L.cancelled, s.cancelled, ''], [L.interrupted, s.interrupted, ''], [L.unfinished, s.unfinished, ''],
  ];
  const results = RESULT_COUNT_KEYS.filter((k) => s[k] > 0)
    .map((k) => `${escapeHtml(k.slice('result_'.length))}: ${escapeHtml(s[k])}`)
    .join(' · ');
  const head = s.chain_head.slice(0, 16);
  const integrity = s.signature ? L.signed(s.row_count, head, s.signing_key_id) : L.chainOnly(s.row_count, head);
  const columns = [
    '#', L.unit, L.address, L.link, L.version, L.size, L.crc32, L.md5, L.result, L.code, L.message, L.confirmedBy, `${L.attempts} / ${L.causes}`, L.start, L.duration, L.rowHash,
  ];
  // Both languages, whatever the page language: the customer may read either (issue 10 §4).
  const proof = s.proof_en || s.proof_zh
    ? `<div class="proof"><b>${escapeHtml(LABELS.en.proof)} · ${escapeHtml(LABELS['zh-CN'].proof)}</b><p lang="en">${escapeHtml(s.proof_en)}</p><p lang="zh-CN">${escapeHtml(s.proof_zh)}</p></div>`
    : '';
  return [
    '<!doctype html>',
    `<html lang="${lang}"><head><meta charset="utf-8">`,
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(`${L.title} — ${s.batch_id}`)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${L.title}</h1><p class="sub">${escapeHtml(`${L.batch} ${s.batch_id} · ${L.station} ${s.station_id} · ${L.operator} ${s.operator}`)}</p>`,
    `<dl class="meta">${meta.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`,
    `<div class="tiles">${tiles.map(([k, n, cls]) => `<div class="tile ${cls}">${escapeHtml(k)}<b>${escapeHtml(n)}</b></div>`).join('')}</div>`,
    `<p class="results">${escapeHtml(L.results)}: ${results || '—'}</p>`,
    `<p class="integrity">${escapeHtml(L.integrity)}: ${escapeHtml(integrity)} ${escapeHtml(L.authoritative)}</p>`,
    proof,
    `<table><thead><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>`,
    ...report.rows.map((r) => rowHtml(r, lang)),
    '</tbody></table>',
    `<script type="application/json" id="${EMBED_ID}">${embedJson(report)}</script>`,
    '</body></html>',
    '',
  ].join('\n');
}

/** The embedded report JSON, or undefined when the page has none. */
export function extractEmbeddedJson(html: string): string | undefined {
  const m = new RegExp(`<script type="application/json" id="${EMBED_ID}">([\\s\\S]*?)</script>`).exec(html);
  return m?.[1];
}
