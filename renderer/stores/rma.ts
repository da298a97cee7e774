/// <reference lib="dom" />
// RMA recovery (issues 4 §4 and 6): the technician's form (port, golden package, ticket, name),
// the running recovery's steps (polled from the station) and its job's live progress (the batch
// events), the finished job's RMA record (full raw trace, report row) and past RMA jobs by ticket.
import { defineStore } from 'pinia';
import { computed, reactive, ref, shallowRef } from 'vue';
import type { ErrorView, JobView, ProtocolId } from '../../main/contract/dto.js';
import type { RmaDetailView, RmaRequest, RmaRunView, ScanResult } from '../../main/contract/ipc.js';
import { bridge } from '../bridge.js';

/** How often the steps of a running recovery are fetched (a handful of steps per second at most). */
export const RMA_POLL_MS = 300;
export const DEFAULT_RMA_BAUD = 115200;

export interface RmaForm {
  port: string;
  baudRate: number;
  packageId: string;
  ticket: string;
  technician: string;
  /** '' = let the station probe the port. */
  protocol: ProtocolId | '';
}

export type RmaFormField = 'port' | 'packageId' | 'ticket' | 'technician' | 'baudRate';

/** Which fields keep the form from starting (pure); the keys are i18n message ids under rma.invalid. */
export function rmaFormProblems(f: RmaForm): Partial<Record<RmaFormField, string>> {
  const out: Partial<Record<RmaFormField, string>> = {};
  if (!f.port.trim()) out.port = 'portRequired';
  if (!f.packageId) out.packageId = 'packageRequired';
  if (!f.ticket.trim()) out.ticket = 'ticketRequired';
  if (!f.technician.trim()) out.technician = 'technicianRequired';
  if (!Number.isInteger(f.baudRate) || f.baudRate < 300) out.baudRate = 'baudInvalid';
  return out;
}

/** The request the form makes (pure). */
export function rmaRequestOf(f: RmaForm): RmaRequest {
  return {
    port: f.port.trim(),
    baudRate: f.baudRate,
    packageId: f.packageId,
    ticket: f.ticket.trim(),
    technician: f.technician.trim(),
    ...(f.protocol ? { protocol: f.protocol } : {}),
  };
}

export const useRmaStore = defineStore('rma', () => {
  const form = reactive<RmaForm>({ port: '', baudRate: DEFAULT_RMA_BAUD, packageId: '', ticket: '', technician: '', protocol: '' });
  const ports = shallowRef<ScanResult['serial']>([]);
  const scanning = ref(false);
  const run = shallowRef<RmaRunView | null>(null);
  /** The recovery's job as the batch events show it (progress bar). */
  const liveJob = shallowRef<JobView | null>(null);
  const detail = shallowRef<RmaDetailView | null>(null);
  const error = ref<ErrorView | null>(null);
  const history = shallowRef<JobView[]>([]);
  const historyQuery = ref('');
  /** Set by the first start attempt, so the form shows what is missing only after the technician tried. */
  const attempted = ref(false);
  let timer: ReturnType<typeof setTimeout> | null = null;
  let offBatch: (() => void) | null = null;

  const problems = computed(() => rmaFormProblems(form));
  const canStart = computed(() => Object.keys(problems.value).length === 0 && run.value?.state !== 'running');
  const running = computed(() => run.value?.state === 'running');
  const job = computed(() => run.value?.job ?? liveJob.value);

  async function scanPorts(): Promise<void> {
    scanning.value = true;
    try {
      const r = await bridge().scanUnits({});
      if (r.ok) ports.value = r.value.serial;
      else error.value = r.error;
    } finally {
      scanning.value = false;
    }
  }

  function stopFollowing(): void {
    if (timer) clearTimeout(timer);
    timer = null;
    offBatch?.();
    offBatch = null;
  }

  function follow(batchId: string, jobId: string | undefined): void {
    offBatch = bridge().onBatchEvent(batchId, (e) => {
      const j = e.jobs.find((x) => x.jobId === jobId) ?? (jobId ? undefined : e.jobs[0]);
      if (j) liveJob.value = j;
    });
  }

  function apply(v: RmaRunView): void {
    run.value = v;
    if (v.batchId && !offBatch && v.state === 'running') follow(v.batchId, v.jobId);
    if (v.state !== 'running') {
      stopFollowing();
      if (v.error) error.value = v.error;
      if (v.jobId) void openDetail(v.jobId);
      historyQuery.value = v.ticket;
      void searchHistory();
    }
  }

  async function poll(): Promise<void> {
    timer = null;
    const id = run.value?.recoveryId;
    if (!id || run.value?.state !== 'running') return;
    const r = await bridge().rmaStatus({ recoveryId: id });
    if (run.value?.recoveryId !== id) return; // a newer recovery replaced this one meanwhile
    if (!r.ok) {
      error.value = r.error;
      stopFollowing();
      return;
    }
    apply(r.value);
    if (r.value.state === 'running') timer = setTimeout(() => void poll(), RMA_POLL_MS);
  }

  async function start(): Promise<boolean> {
    attempted.value = true;
    if (!canStart.value) return false;
    stopFollowing();
    error.value = null;
    detail.value = null;
    liveJob.value = null;
    const r = await bridge().recoverUnit(rmaRequestOf(form));
    if (!r.ok) {
      error.value = r.error;
      return false;
    }
    attempted.value = false;
    apply(r.value);
    if (r.value.state === 'running') timer = setTimeout(() => void poll(), RMA_POLL_MS);
    return true;
  }

  async function openDetail(jobId: string): Promise<void> {
    const r = await bridge().rmaDetail({ jobId });
    if (r.ok) detail.value = r.value;
    else error.value = r.error;
  }

  async function searchHistory(): Promise<void> {
    const q = historyQuery.value.trim();
    const r = await bridge().listRmaJobs(q ? { ticket: q } : {});
    if (r.ok) history.value = r.value;
    else error.value = r.error;
  }

  function reset(): void {
    stopFollowing();
    run.value = null;
    liveJob.value = null;
    detail.value = null;
    error.value = null;
    attempted.value = false;
  }

  return { form, ports, scanning, run, liveJob, job, detail, error, history, historyQuery, attempted, problems, canStart, running, scanPorts, start, poll, openDetail, searchHistory, reset, stopFollowing };
});
