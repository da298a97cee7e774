/// <reference lib="dom" />
// Grid benchmark page (built only by test/bench/grid.bench.ts, never shipped in the app): mounts
// the real App, stores and BatchGrid with an in-page bridge that plays a batch of N units — a
// snapshot, then one coalesced delta every 100 ms carrying every job (10 updates/s per unit, the
// engine's throttle) — and measures frame cost. Results land in window.__gridBench.
import { createPinia } from 'pinia';
import { createApp, nextTick } from 'vue';
import type { BatchCounts, BatchEvent, BatchView, JobState, JobView, ResultCode } from '../../../main/contract/dto.js';
import { STATION_METHODS, type StationBridge, type StationInfo } from '../../../main/contract/ipc.js';
import App from '../../../renderer/App.vue';
import { installBridge } from '../../../renderer/bridge.js';
import { useBatchStore } from '../../../renderer/stores/batch.js';
import { useUiStore } from '../../../renderer/stores/ui.js';
import '../../../renderer/styles.css';

const params = new URLSearchParams(window.location.search);
const UNITS = Number(params.get('units') ?? 500);
const DELTA_INTERVAL_MS = Number(params.get('intervalMs') ?? 100);
const WARMUP_MS = Number(params.get('warmupMs') ?? 1500);
const PHASE_MS = Number(params.get('phaseMs') ?? 10000);
const SCROLL_PX_PER_FRAME = 24;
const SPARE_TICKS = 20;
const BATCH_ID = 'BENCH';
const IMAGE_BYTES = 256 * 1024;
// Per-unit lifecycle in ticks (one tick = one delta): connect, ~6 s transfer, verify, activate,
// confirm, then a final verdict shown for a while before the next attempt restarts the cycle.
const CYCLE_TICKS = 80;
const TRANSFER_FIRST_TICK = 3;
const TRANSFER_TICKS = 60;
const FAIL_EVERY_N_UNITS = 7;
const SENT = { crc32: '1c291ca3', md5: '9e107d9d372bb6826bd81d3542a419d6' };

export interface PhaseStats {
  deltas: number;
  /** Main-thread cost of one delta: parse + store + Vue patch, then style/layout/paint of its frame. */
  updateFrameMsP50: number;
  updateFrameMsP95: number;
  updateFrameMsMax: number;
  /** Of which script (JSON.parse, store, Vue patch), and each part; render = style, layout, paint of the frame. */
  scriptMsP95: number;
  parseMsP95: number;
  storeMsP95: number;
  patchMsP95: number;
  renderMsP95: number;
  /** requestAnimationFrame intervals (vsync-paced, ~16.7 ms when no frame is dropped). */
  rafIntervalMsP50: number;
  rafIntervalMsP95: number;
  droppedFramePct: number;
  renderedTilesMax: number;
}

export interface GridBenchResult {
  units: number;
  deltaIntervalMs: number;
  updatesPerSecPerUnit: number;
  jobUpdatesPerSec: number;
  firstRenderMs: number;
  navToFirstRenderMs: number;
  renderedTiles: number;
  domNodes: number;
  static: PhaseStats;
  scrolling: PhaseStats;
  longTasks: number;
  longTaskMsMax: number;
  appliedEvents: number;
  userAgent: string;
}

declare global {
  interface Window {
    __gridBench?: { done: boolean; result?: GridBenchResult; error?: string };
  }
}

const RESULT_CODES: ResultCode[] = ['ok', 'timeout', 'disconnected', 'crc_mismatch', 'md5_mismatch', 'version_rejected', 'version_mismatch', 'file_invalid', 'signature_invalid', 'no_space', 'policy_blocked', 'device_error', 'cancelled', 'station_error'];

function jobAt(i: number, tick: number): JobView {
  const t = tick + i * 7;
  const p = t % CYCLE_TICKS;
  const attempts = Math.floor(t / CYCLE_TICKS) + 1;
  const fails = i % FAIL_EVERY_N_UNITS === 3;
  const transferred = Math.min(TRANSFER_TICKS, Math.max(0, p - TRANSFER_FIRST_TICK + 1));
  let state: JobState;
  if (p === 0) state = 'connecting';
  else if (p < TRANSFER_FIRST_TICK) state = 'negotiating';
  else if (p < TRANSFER_FIRST_TICK + TRANSFER_TICKS) state = 'transferring';
  else if (p === TRANSFER_FIRST_TICK + TRANSFER_TICKS) state = 'verifying';
  else if (p === TRANSFER_FIRST_TICK + TRANSFER_TICKS + 1) state = 'activating';
  else if (p === TRANSFER_FIRST_TICK + TRANSFER_TICKS + 2) state = 'confirming';
  else state = fails ? 'failed' : 'passed';
  const final = state === 'passed' || state === 'failed';
  const verified = final || state === 'activating' || state === 'confirming';
  return {
    jobId: `${BATCH_ID}-${String(i).padStart(4, '0')}`,
    batchId: BATCH_ID,
    unit: { unitId: `sim:llsync-ota:${i}`, transport: 'sim', protocol: 'llsync-ota', address: `AA:BB:CC:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, name: `unit #${i}`, serialNumber: `SN${String(100000 + i)}` },
    state,
    progressBytes: Math.floor((transferred / TRANSFER_TICKS) * IMAGE_BYTES),
    totalBytes: IMAGE_BYTES,
    attempts,
    sent: SENT,
    confirmed: verified ? { crc32: fails ? 'deadbeef' : SENT.crc32 } : {},
    resumable: true,
    ...(state === 'transferring' ? { rateBytesPerSec: 4200 + ((i * 37 + tick * 11) % 900) } : {}),
    ...(state === 'failed' ? { result: 'crc_mismatch' as const, errorCode: 'PROTOCOL_CRC_MISMATCH' } : {}),
    ...(state === 'passed' ? { result: 'ok' as const } : {}),
  };
}

function countsOf(jobs: JobView[]): BatchCounts {
  const c: BatchCounts = { total: jobs.length, queued: 0, running: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 };
  for (const j of jobs) {
    if (j.state === 'passed' || j.state === 'failed' || j.state === 'queued') c[j.state]++;
    else c.running++;
  }
  return c;
}

function batchView(jobs: JobView[]): BatchView {
  return {
    batchId: BATCH_ID,
    state: 'running',
    operator: 'bench',
    stationId: 'bench-station',
    packageInfo: { id: 'pkg', sourcePath: 'app.bin', format: 'bin', components: [{ component: 'app', version: '2.0.0', kind: 'full', sizeBytes: IMAGE_BYTES, crc32: SENT.crc32, md5: SENT.md5, sha256: '', fileName: 'app.bin' }], signature: 'none', loadedAt: new Date().toISOString() },
    plan: { packageId: 'pkg', units: [], versionGate: { skipIfAtTarget: true }, policy: {}, retry: { maxAttempts: 3, backoffMs: 300, backoffMaxMs: 5000 }, concurrency: { global: 500, perBleAdapter: 6 } },
    createdAt: new Date().toISOString(),
    counts: countsOf(jobs),
  };
}

/** The in-page station: answers the screens' calls and pushes the batch's events (as JSON text, parsed on arrival like the WebSocket client). */
function createBenchBridge(onSubscribe: (fn: (e: BatchEvent) => void) => void): StationBridge {
  const ok = <T>(value: T) => Promise.resolve({ ok: true as const, value });
  const refuse = () => Promise.resolve({ ok: false as const, error: { code: 'STATION_BENCH', result: 'station_error' as const, message: 'not available on the bench page', operatorText: { en: 'bench page', 'zh-CN': '基准测试页' }, retryable: false } });
  const info: StationInfo = {
    stationId: 'bench-station', operator: 'bench', language: 'en', browserMode: true, protocols: ['llsync-ota'], simProtocols: ['llsync-ota'], simBehaviours: ['accept'],
    resultText: Object.fromEntries(RESULT_CODES.map((r) => [r, { en: `result ${r}`, 'zh-CN': `结果 ${r}` }])) as StationInfo['resultText'],
    interruptedBatchIds: [],
  };
  const settings = { stationId: 'bench-station', operator: 'bench', language: 'en' as const, bleAdapterLimit: 6, globalConcurrency: 500, serveport: 0 };
  // Every method the page does not exercise is refused (engineer, scanner, audit…): the bench measures the grid.
  const refuseRest = Object.fromEntries(STATION_METHODS.map((m) => [m, () => refuse()])) as unknown as StationBridge;
  return {
    ...refuseRest,
    stationInfo: () => ok(info),
    errorTexts: (req) => ok(Object.fromEntries(req.codes.map((c) => [c, { en: `${c}: retry the unit`, 'zh-CN': `${c}：请重试` }]))),
    importPackage: () => refuse(),
    listPackages: () => ok([]),
    resolveTargets: () => ok([]),
    scanUnits: () => ok({ serial: [], ble: { state: 'poweredOff' } }),
    createBatch: () => refuse(),
    startBatch: () => ok(null),
    pauseBatch: () => ok(null),
    resumeBatch: () => ok(null),
    cancelBatch: () => ok(null),
    cancelJob: () => ok(false),
    retryJob: () => ok(false),
    listBatches: () => ok([]),
    getBatch: () => refuse(),
    jobDetail: () => ok({ transitions: [], trace: [] }),
    searchJobs: () => ok([]),
    exportReport: () => ok({ fileName: 'x', mime: 'text/plain', content: '' }),
    getSettings: () => ok(settings),
    setSettings: () => ok(settings),
    recoverUnit: () => refuse(),
    rmaStatus: () => refuse(),
    listRmaJobs: () => ok([]),
    rmaDetail: () => refuse(),
    onBatchEvent(_batchId, fn) {
      onSubscribe(fn);
      return () => undefined;
    },
  };
}

/** Resolves after the next frame's rendering (style, layout, paint) ran: a message posted from rAF is handled after the frame. */
function afterNextFrame(): Promise<{ rafAt: number; doneAt: number }> {
  return new Promise((resolve) => {
    requestAnimationFrame(() => {
      const rafAt = performance.now();
      const ch = new MessageChannel();
      ch.port1.onmessage = () => resolve({ rafAt, doneAt: performance.now() });
      ch.port2.postMessage(null);
    });
  });
}

const pct = (xs: number[], p: number): number => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (x: number) => Math.round(x * 100) / 100;

async function run(): Promise<GridBenchResult> {
  let push: ((e: BatchEvent) => void) | null = null;
  const pinia = createPinia();
  installBridge(createBenchBridge((fn) => (push = fn)));
  const app = createApp(App).use(pinia);
  useUiStore(pinia).go('batch');
  const store = useBatchStore(pinia);
  store.open(BATCH_ID);
  app.mount('#app');
  await nextTick();
  const deliver = (json: string) => push?.(JSON.parse(json) as BatchEvent);

  // The station's side of the wire is prepared up front (as JSON text, as the WebSocket carries
  // it), so generating the data does not load the page's main thread during the measurement.
  const totalTicks = Math.ceil((WARMUP_MS + 2 * PHASE_MS) / DELTA_INTERVAL_MS) + SPARE_TICKS;
  const deltas = Array.from({ length: totalTicks }, (_, k) => {
    const jobs = Array.from({ length: UNITS }, (_, i) => jobAt(i, k + 1));
    return JSON.stringify({ type: 'delta', batchId: BATCH_ID, rev: k + 2, batch: batchView(jobs), jobs } satisfies BatchEvent);
  });

  // Time to first render: the snapshot arrives → the first frame with the tiles painted.
  let tick = 0;
  const rev = 1;
  const jobs0 = Array.from({ length: UNITS }, (_, i) => jobAt(i, 0));
  const snapshotJson = JSON.stringify({ type: 'snapshot', batchId: BATCH_ID, rev, batch: batchView(jobs0), jobs: jobs0 } satisfies BatchEvent);
  const snapAt = performance.now();
  deliver(snapshotJson);
  await nextTick();
  const first = await afterNextFrame();
  const grid = document.querySelector<HTMLElement>('[data-test="batch-grid"]');
  const renderedTiles = document.querySelectorAll('[data-test="unit-cell"]').length;
  if (!grid || !renderedTiles) throw new Error('the grid did not render any tile');

  // rAF intervals and long tasks over the whole run.
  let phase: 'warmup' | 'static' | 'scrolling' | 'done' = 'warmup';
  const raf: Record<'static' | 'scrolling', number[]> = { static: [], scrolling: [] };
  const update: Record<'static' | 'scrolling', { frameMs: number; scriptMs: number; parseMs: number; storeMs: number; patchMs: number; renderMs: number }[]> = { static: [], scrolling: [] };
  const tilesMax = { static: 0, scrolling: 0 };
  let longTasks = 0;
  let longTaskMsMax = 0;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (phase === 'warmup') continue;
        longTasks++;
        longTaskMsMax = Math.max(longTaskMsMax, e.duration);
      }
    }).observe({ type: 'longtask', buffered: false });
  } catch {
    // longtask entries are Chromium-only; the frame numbers stand on their own
  }
  let lastRaf = 0;
  let scrollDir = 1;
  const loop = (ts: number) => {
    if (phase === 'done') return;
    if ((phase === 'static' || phase === 'scrolling') && lastRaf) raf[phase].push(ts - lastRaf);
    lastRaf = ts;
    if (phase === 'scrolling') {
      // An operator scrolling through the grid while every unit updates: new rows mount each frame.
      if (grid.scrollTop + grid.clientHeight >= grid.scrollHeight - 1) scrollDir = -1;
      else if (grid.scrollTop <= 0) scrollDir = 1;
      grid.scrollTop += scrollDir * SCROLL_PX_PER_FRAME;
    }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);

  const timer = setInterval(() => {
    const json = deltas[tick++];
    if (json === undefined) return;
    const p = phase;
    // The mark lets the bench find this update's tasks in a Chromium trace (CPU time per update).
    performance.mark(`gridbench:${p}`);
    const t0 = performance.now();
    const event = JSON.parse(json) as BatchEvent;
    const parsedAt = performance.now();
    push?.(event);
    const storedAt = performance.now();
    void nextTick().then(async () => {
      const patchedAt = performance.now();
      const f = await afterNextFrame();
      if (p === 'static' || p === 'scrolling') {
        const scriptMs = patchedAt - t0;
        update[p].push({ frameMs: scriptMs + (f.doneAt - f.rafAt), scriptMs, parseMs: parsedAt - t0, storeMs: storedAt - parsedAt, patchMs: patchedAt - storedAt, renderMs: f.doneAt - f.rafAt });
        tilesMax[p] = Math.max(tilesMax[p], Number(grid.dataset.rendered ?? 0));
      }
    });
  }, DELTA_INTERVAL_MS);

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(WARMUP_MS);
  phase = 'static';
  await sleep(PHASE_MS);
  phase = 'scrolling';
  await sleep(PHASE_MS);
  phase = 'done';
  clearInterval(timer);
  await sleep(2 * DELTA_INTERVAL_MS);

  const stats = (k: 'static' | 'scrolling'): PhaseStats => {
    const frames = update[k].map((u) => u.frameMs);
    const medianRaf = pct(raf[k], 50);
    return {
      deltas: frames.length,
      updateFrameMsP50: round(pct(frames, 50)),
      updateFrameMsP95: round(pct(frames, 95)),
      updateFrameMsMax: round(Math.max(0, ...frames)),
      scriptMsP95: round(pct(update[k].map((u) => u.scriptMs), 95)),
      parseMsP95: round(pct(update[k].map((u) => u.parseMs), 95)),
      storeMsP95: round(pct(update[k].map((u) => u.storeMs), 95)),
      patchMsP95: round(pct(update[k].map((u) => u.patchMs), 95)),
      renderMsP95: round(pct(update[k].map((u) => u.renderMs), 95)),
      rafIntervalMsP50: round(medianRaf),
      rafIntervalMsP95: round(pct(raf[k], 95)),
      // A frame counts as dropped when its interval is over 1.5 vsync periods.
      droppedFramePct: round((100 * raf[k].filter((d) => d > 1.5 * medianRaf).length) / Math.max(1, raf[k].length)),
      renderedTilesMax: tilesMax[k],
    };
  };
  return {
    units: UNITS,
    deltaIntervalMs: DELTA_INTERVAL_MS,
    updatesPerSecPerUnit: 1000 / DELTA_INTERVAL_MS,
    jobUpdatesPerSec: (UNITS * 1000) / DELTA_INTERVAL_MS,
    firstRenderMs: round(first.doneAt - snapAt),
    navToFirstRenderMs: round(first.doneAt),
    renderedTiles,
    domNodes: document.getElementsByTagName('*').length,
    static: stats('static'),
    scrolling: stats('scrolling'),
    longTasks,
    longTaskMsMax: round(longTaskMsMax),
    appliedEvents: store.appliedEvents,
    userAgent: navigator.userAgent,
  };
}

window.__gridBench = { done: false };
run().then(
  (result) => (window.__gridBench = { done: true, result }),
  (err: unknown) => (window.__gridBench = { done: true, error: String(err instanceof Error ? err.stack : err) }),
);
