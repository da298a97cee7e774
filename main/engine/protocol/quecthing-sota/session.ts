/**
 * The station as the Quectel module (quecthing-sota.md): answers the MCU's AT commands, injects
 * the OTA URCs, serves the image through `AT+QIOTOTARD`, and decides pass/fail from the MCU's
 * version report the way the module does (§4 state machine, §6 verdict). The MCU drives; the
 * runner's steps wait for milestones. Talks only to a Link; takes time only from the clock.
 */
import type { HashView } from '../../../contract/dto.js';
import { abortError } from '../../clock.js';
import { StationError } from '../../errors.js';
import type { Link } from '../../transport/types.js';
import { takeProbeTraffic } from '../../detect/replay.js';
import type { DeviceIdentity, ProtocolSession, SessionContext } from '../types.js';
import {
  EVT_OTA,
  OTA_DOWNLOADING,
  OTA_DOWNLOAD_START,
  OTA_FAILED,
  OTA_PIECE_READY,
  OTA_PLAN,
  OTA_SUCCESS,
  OTA_UPDATING,
  REG_OK,
  ascii,
  clampRead,
  downloadStartData,
  finalResult,
  infoLine,
  paramInt,
  paramString,
  parseCommand,
  pieceData,
  planData,
  readReply,
  splitLines,
  urc,
  type AtCommand,
} from './frames.js';
import { resolveQuecthingOptions, type QuecthingSotaOptions } from './options.js';

/** §4: the SDK's status enum, as far as the station needs it. */
export type ModuleState = 'IDLE' | 'PLAN' | 'CONFIRMED' | 'DOWNLOAD_START' | 'DOWNLOADED' | 'UPDATING';

/** A bare image's component when nothing names one (package loader default): no MCU uses it. */
const GENERIC_COMPONENT = 'app';
/**
 * Module defaults for `AT+QIOTCFG="<item>"` queries of items the MCU has not set [inferred from the
 * AT manual's parameter defaults]: TSL mode off (transparent), buffer mode off, lifetime 120 s, …
 */
const CFG_DEFAULTS: Readonly<Record<string, string>> = {
  tsl: '0',
  buffer: '0',
  act: '1',
  lifetime: '120',
  session_mode: '0',
  txid_mode: '0',
  productinfo: '"",""',
  server: '1,"iot-south.quectel.com:1883"',
};
/** §2.1: component ≤ 32 chars, version ≤ 64 chars [sdk]. */
const MAX_COMPONENT_CHARS = 32;
const MAX_VERSION_CHARS = 64;
/** §2.2: registration events after AT+QIOTREG=1 / =0 [doc]. */
const EVT_REGISTERED = 2;
const EVT_SUBSCRIBED = 3;
const EVT_DEREGISTERED = 6;
/** §2.2: AT+QIOTSTATE? values [doc]. */
const STATE_READY = 8;
const STATE_INITIALISED = 1;
/** Noise lines logged per session before the log goes quiet (boot noise can be endless). */
const MAX_NOISE_LOGS = 5;
/** Past the update window, so this session's own SOTA_UPDATE_TIMEOUT (and its 10706) fires before the runner's cut. */
const CONFIRM_MARGIN_MS = 5000;

interface Verdict {
  ok: boolean;
  version: string;
}

/** A command's reply, the URCs it caused, and work that must queue behind both. */
type Reply = { text: string | Uint8Array; urcs?: string[]; after?: () => void };

export class QuecthingSotaSession implements ProtocolSession {
  readonly options: QuecthingSotaOptions;
  private link: Link;
  private pending: Uint8Array = new Uint8Array(0);
  private echo: boolean;
  private state: ModuleState = 'IDLE';
  private readonly versions = new Map<string, string>();
  private readonly cfg = new Map<string, string>();
  private versionBeforePlan: string | undefined;
  /** The component the MCU announced, when the plan names none. */
  private announcedComponent: string | null = null;
  /** When the announcement window opened (AT+QIOTREG=1 or the first OTA request). */
  private announceAnchor: number | null = null;
  private sawAt = false;
  private regMode = 0;
  private registered = false;
  private otaRequested = false;
  private wantSha = false;
  private planArmed = false;
  private planSent = false;
  private refused = false;
  private pieceStart = 0;
  private pieceLength = 0;
  private readonly served: Uint8Array;
  private servedBytes = 0;
  private lastReadAt = 0;
  private downloadErrors = 0;
  private gotUpdate3 = false;
  private updateStartedAt = 0;
  private trafficAfterUpdate = false;
  private verdict: Verdict | null = null;
  private failure: StationError | null = null;
  private lost: StationError | null = null;
  private noiseLogged = 0;
  private downloadGen = 0;
  private onAck: ((acked: number) => void) | null = null;
  private out: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<() => void>();
  private readonly offData: () => void;
  private readonly offLost: () => void;

  constructor(private readonly ctx: SessionContext) {
    this.options = resolveQuecthingOptions(ctx.options);
    this.echo = this.options.echo;
    this.link = ctx.link;
    this.served = new Uint8Array(ctx.image.bytes.length);
    this.offData = this.link.onData((c) => this.onData(c));
    this.offLost = this.link.onLost((e) => {
      this.lost = e;
      this.kick();
    });
    // Issue 9 §6: what the MCU sent while detection listened is answered now, never swallowed.
    const early = takeProbeTraffic(ctx.unit.address);
    if (early) {
      this.ctx.log(`answering ${early.length} bytes the MCU sent during protocol detection`);
      this.onData(early);
    }
  }

  /**
   * The plan's component (issue 9 §6): the profile's name, else a component the package names,
   * else the one the MCU announced — never the generic default no MCU uses.
   */
  get component(): string {
    return this.namedComponent() ?? this.announcedComponent ?? '';
  }

  /** The component the plan names: the profile's, else the package's unless it is the generic default of a bare image. */
  private namedComponent(): string | null {
    if (this.options.component !== null) return this.options.component;
    const c = this.ctx.image.info.component;
    return c !== GENERIC_COMPONENT ? c : null;
  }

  /** Module state, distinct bytes served, download errors: for tests and the RMA log. */
  get status(): { state: ModuleState; servedBytes: number; downloadErrors: number; echo: boolean } {
    return { state: this.state, servedBytes: this.servedBytes, downloadErrors: this.downloadErrors, echo: this.echo };
  }

  // ---- runner steps ------------------------------------------------------------------------

  /**
   * §6 "connecting/negotiating" (issue 9 §6): wait for the MCU's version announcement. MCUs like
   * Quectel's simulator register first and announce seconds later, so after registration (or an
   * OTA request) the station waits `announceWindowMs` before it plans without one. A component
   * other than the plan's fails at once.
   */
  async identify(signal: AbortSignal): Promise<DeviceIdentity> {
    return this.guard(signal, async () => {
      const o = this.options;
      const named = this.namedComponent();
      const t0 = this.ctx.clock.now();
      const deadline = () => (this.announceAnchor !== null ? Math.max(this.announceAnchor + o.announceWindowMs, t0) : t0 + o.identifyTimeoutMs);
      await this.waitFor(() => this.versions.size > 0, deadline, signal);
      if (!this.sawAt) throw new StationError('DEVICE_NOT_RESPONDING', `no AT traffic from the MCU within ${o.identifyTimeoutMs} ms`, this.detail());
      const announced = [...this.versions.keys()];
      if (named !== null) {
        const version = this.versions.get(named);
        if (version !== undefined) return { version };
        if (announced.length > 0) throw this.componentMismatch(named, announced);
        this.ctx.log(`the MCU announced no version within ${o.announceWindowMs} ms of registering: no version gate`);
        return {};
      }
      if (announced.length === 1) {
        this.announcedComponent = announced[0]!;
        if (!this.stateAtLeast('CONFIRMED')) this.versionBeforePlan = this.versions.get(this.announcedComponent);
        this.ctx.log(`plan component "${this.announcedComponent}" from the MCU's announcement`);
        return { version: this.versions.get(this.announcedComponent)! };
      }
      const why = announced.length > 1 ? `it announced several (${announced.map((c) => JSON.stringify(c)).join(', ')})` : `it announced none within ${o.announceWindowMs} ms of registering`;
      throw new StationError('SOTA_COMPONENT_UNKNOWN', `the plan names no component and the MCU's is unknown: ${why}; set the component in the product profile`, { ...this.detail(), deviceCode: announced.join(',') });
    });
  }

  private componentMismatch(planned: string, announced: string[]): StationError {
    return new StationError('SOTA_COMPONENT_UNKNOWN', `the MCU announced ${announced.map((c) => JSON.stringify(c)).join(', ')}, the plan is for "${planned}"`, { ...this.detail(), deviceCode: announced.join(',') });
  }

  /** §4: arm the plan, send 10700 on the trigger, wait for `=1` (confirm) or `=0` (refuse). */
  async negotiate(signal: AbortSignal): Promise<{ resumeAtBytes: number; chunkBytes: number }> {
    return this.guard(signal, async () => {
      const o = this.options;
      this.planArmed = true;
      if (this.triggerReady()) this.sendPlan();
      const t0 = this.ctx.clock.now();
      if (!(await this.waitFor(() => this.planSent, () => t0 + o.planTriggerTimeoutMs, signal))) {
        throw new StationError('PROTOCOL_TIMEOUT', `the MCU never asked for a plan (trigger "${o.planTrigger}") within ${o.planTriggerTimeoutMs} ms`, this.detail());
      }
      const t1 = this.ctx.clock.now();
      // An MCU that announces another component ignores our plan: fail at once, not after the reply timeout.
      const otherComponent = () => this.versions.size > 0 && !this.versions.has(this.component);
      const answered = await this.waitFor(() => this.refused || this.stateAtLeast('CONFIRMED') || otherComponent(), () => t1 + o.planReplyTimeoutMs, signal);
      if (otherComponent() && !this.stateAtLeast('CONFIRMED')) {
        this.fail(null);
        throw this.componentMismatch(this.component, [...this.versions.keys()]);
      }
      if (!answered) {
        this.fail(null);
        throw new StationError('PROTOCOL_TIMEOUT', `no AT+QIOTUPDATE=1/0 within ${o.planReplyTimeoutMs} ms of event ${OTA_PLAN}`, { ...this.detail(), deviceCode: String(OTA_FAILED) });
      }
      if (this.refused) throw this.refusal();
      return { resumeAtBytes: 0, chunkBytes: o.maxReadBytes };
    });
  }

  /** §4/§5: serve reads piece by piece until every byte was served, `=3` came, or the MCU reported. */
  async transfer(fromBytes: number, onAck: (ackedBytes: number) => void, signal: AbortSignal): Promise<void> {
    // The module always offers the image from piece 0; the MCU keeps its own running offset.
    if (fromBytes !== 0) this.ctx.log(`ignoring resume offset ${fromBytes}: the MCU reads from the pieces it is offered`);
    this.onAck = onAck;
    if (this.servedBytes > 0) onAck(this.servedBytes);
    await this.guard(signal, () => this.waitWhileReading(() => this.servedBytes === this.served.length || this.state === 'UPDATING' || this.verdict !== null, signal));
  }

  /** "verifying = `=3` / 10704": the MCU checks the MD5 itself; the station never sees that verdict. */
  async verify(signal: AbortSignal): Promise<HashView> {
    await this.guard(signal, () => this.waitWhileReading(() => this.state === 'UPDATING' || this.verdict !== null, signal));
    return {};
  }

  /** "activating = MCU flashing and rebooting": wait for its first traffic after 10704 (or the report). */
  async activate(signal: AbortSignal): Promise<void> {
    await this.guard(signal, async () => {
      if (!(await this.waitFor(() => this.trafficAfterUpdate || this.verdict !== null, () => this.updateDeadline(), signal))) this.updateTimeout();
    });
  }

  /**
   * §4/§6: the MCU has the whole update window from 10704 (20 min by default) to flash, reboot and
   * report; the engine's generic reboot timeout must not cut it short. Read by the runner after
   * activate(); before 10704 (no =3 sent) the window starts now.
   */
  get confirmTimeoutMs(): number {
    return Math.max(0, this.updateDeadline() - this.ctx.clock.now()) + CONFIRM_MARGIN_MS;
  }

  /** "confirming = the version report → 10705/10706"; returns the version the MCU reported. */
  async confirm(link: Link, signal: AbortSignal): Promise<string | undefined> {
    if (link !== this.link) this.ctx.log('confirm on a new link: the module state stays with this session');
    return this.guard(signal, async () => {
      if (!(await this.waitFor(() => this.verdict !== null, () => this.updateDeadline(), signal))) this.updateTimeout();
      // 10705/10706 must reach the MCU before the runner closes the port.
      await this.out;
      return this.verdict!.version;
    });
  }

  /** Stop listening (the runner closes the link itself). */
  dispose(): void {
    this.offData();
    this.offLost();
  }

  // ---- waiting ------------------------------------------------------------------------------

  private kick(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Wait until pred() holds (true) or the (re-evaluated) deadline passes (false). */
  private async waitFor(pred: () => boolean, deadline: () => number, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal.aborted) throw signal.reason ?? abortError();
      if (this.failure) throw this.failure;
      if (pred()) return true;
      if (this.lost) throw this.lost;
      const left = deadline() - this.ctx.clock.now();
      if (left <= 0) return false;
      const sleeper = new AbortController();
      const onAbort = () => sleeper.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      let wake: () => void = () => undefined;
      const kicked = new Promise<void>((r) => (wake = r));
      this.waiters.add(wake);
      try {
        await Promise.race([kicked, this.ctx.clock.sleep(left, sleeper.signal).catch(() => undefined)]);
      } finally {
        this.waiters.delete(wake);
        sleeper.abort();
        signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /** §4: 60 s without a read while DOWNLOADED → 10706 (each read re-arms the timer). */
  private async waitWhileReading(pred: () => boolean, signal: AbortSignal): Promise<void> {
    const o = this.options;
    const ok = await this.waitFor(pred, () => this.lastReadAt + o.readIdleTimeoutMs, signal);
    if (ok) return;
    this.fail(null);
    throw new StationError('SOTA_READ_TIMEOUT', `no AT+QIOTOTARD for ${o.readIdleTimeoutMs} ms (${this.servedBytes}/${this.served.length} bytes served)`, { ...this.detail(), deviceCode: String(OTA_FAILED), ackedBytes: this.servedBytes });
  }

  private updateDeadline(): number {
    return (this.updateStartedAt || this.ctx.clock.now()) + this.options.updateWindowMs;
  }

  private updateTimeout(): never {
    this.fail(null);
    throw new StationError('SOTA_UPDATE_TIMEOUT', `no version report within ${this.options.updateWindowMs} ms of event ${OTA_UPDATING}`, { ...this.detail(), deviceCode: String(OTA_FAILED) });
  }

  /**
   * Runs a step. An operator cancel sends 10706 so the MCU resets its OTA state (§6 cancelled)
   * and reports JOB_CANCELLED.
   */
  private async guard<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted) {
        if (this.state !== 'IDLE') {
          this.fail(null);
          await this.out.catch(() => undefined);
          this.ctx.log(`cancelled: sent event ${OTA_FAILED}`);
        }
        if (signal.reason instanceof StationError) throw signal.reason;
        throw new StationError('JOB_CANCELLED', 'cancelled by the operator', this.detail(), { cause: e });
      }
      await this.out; // a 10706 queued by the failure goes out before the runner closes the port
      throw e;
    }
  }

  /** Emit 10706 and go back to IDLE; `err` (when given) ends the job at the next wait. */
  private fail(err: StationError | null): void {
    if (this.state !== 'IDLE') this.enqueue([urc(EVT_OTA, OTA_FAILED)]);
    this.state = 'IDLE';
    this.planArmed = false;
    if (err && !this.failure) this.failure = err;
    this.kick();
  }

  private refusal(): StationError {
    const o = this.options;
    const info = this.ctx.image.info;
    const detail = { ...this.detail(), deviceCode: 'AT+QIOTUPDATE=0' };
    // §6: map the refusal by what explains it: a diff for another source version, else the plan's limits, else the version.
    if (info.kind === 'diff' && this.versionBeforePlan !== undefined && this.versionBeforePlan !== info.sourceVersion) {
      return new StationError('DEVICE_REJECTED_VERSION', `the MCU refused the diff from ${info.sourceVersion}: it runs ${this.versionBeforePlan}`, detail);
    }
    if (o.batteryLimitPct > 0 || o.minSignalDbm !== 0) {
      return new StationError('POLICY_BLOCKED', `the MCU refused the plan (battery limit ${o.batteryLimitPct} %, minimum signal ${o.minSignalDbm} dBm)`, detail);
    }
    return new StationError('DEVICE_REJECTED_VERSION', `the MCU refused version ${info.version}${this.versionBeforePlan ? ` (it runs ${this.versionBeforePlan})` : ''}`, detail);
  }

  private stateAtLeast(s: ModuleState): boolean {
    const order: ModuleState[] = ['IDLE', 'PLAN', 'CONFIRMED', 'DOWNLOAD_START', 'DOWNLOADED', 'UPDATING'];
    return order.indexOf(this.state) >= order.indexOf(s);
  }

  private detail(): { unitId: string } {
    return { unitId: this.ctx.unit.unitId };
  }

  // ---- output ---------------------------------------------------------------------------------

  /** Writes go out in order; URCs only after the final result that caused them (§1). */
  private enqueue(parts: (string | Uint8Array)[], delayMs = 0, then?: () => void): void {
    this.out = this.out
      .then(async () => {
        if (delayMs > 0) await this.ctx.clock.sleep(delayMs);
        for (const p of parts) {
          if (!this.link.isOpen) return;
          await this.link.write(typeof p === 'string' ? ascii(p) : p);
        }
        then?.();
      })
      .catch((e: unknown) => {
        this.ctx.log(`write failed: ${(e as Error).message}`);
      });
  }

  private reply(cmd: AtCommand, r: Reply, echo: boolean): void {
    const parts: (string | Uint8Array)[] = [];
    if (echo) parts.push(`${cmd.raw}\r`);
    parts.push(r.text);
    this.enqueue(parts);
    if (r.urcs?.length) this.enqueue(r.urcs, this.options.urcGapMs);
    r.after?.();
  }

  // ---- input ----------------------------------------------------------------------------------

  private onData(chunk: Uint8Array): void {
    const s = splitLines(this.pending, chunk);
    this.pending = s.rest;
    if (s.droppedBytes > 0) this.noise(`dropped ${s.droppedBytes} bytes of an over-long line`);
    for (const line of s.lines) this.onLine(line);
  }

  private noise(text: string): void {
    if (this.noiseLogged++ < MAX_NOISE_LOGS) this.ctx.log(`ignored: ${text}`);
  }

  private onLine(line: string): void {
    const p = parseCommand(line);
    if (!p.ok) {
      // §6: boot noise (non-AT bytes) is ignored; a malformed AT line gets ERROR.
      if (p.reason === 'not-at') return this.noise(`non-AT line ${JSON.stringify(p.detail)}`);
      this.sawAt = true;
      this.ctx.log(`malformed command ${JSON.stringify(line.slice(0, 60))}: ${p.detail}`);
      this.enqueue([finalResult(false)]);
      return;
    }
    this.sawAt = true;
    if (this.state === 'UPDATING') this.trafficAfterUpdate = true;
    // The module echoes as it receives, so ATE0 itself is still echoed.
    const echo = this.echo;
    const r = this.dispatch(p.cmd);
    this.reply(p.cmd, r, echo);
    this.kick();
  }

  private dispatch(cmd: AtCommand): Reply {
    const OK = finalResult(true);
    const ERR = finalResult(false);
    switch (cmd.name) {
      case '':
      case '&W':
      case 'V1':
        return { text: OK };
      case 'E0':
      case 'E1':
        this.echo = cmd.name === 'E1';
        return { text: OK };
      case '+CMEE':
      case '+QSCLK':
        return { text: cmd.form === 'write' ? OK : ERR };
      case '+CGATT':
        return { text: infoLine('+CGATT: 1') + OK };
      case '+CSQ':
        return { text: infoLine('+CSQ: 25,99') + OK };
      case '+CEREG':
        return { text: infoLine('+CEREG: 0,1') + OK };
      case '+CPIN':
        return { text: infoLine('+CPIN: READY') + OK };
      case '+CCLK':
        return { text: infoLine(`+CCLK: "${cclk(new Date())}"`) + OK };
      case '+QIOTCFG':
        return this.cmdCfg(cmd);
      case '+QIOTREG':
        return this.cmdReg(cmd);
      case '+QIOTSTATE':
        return { text: infoLine(`+QIOTSTATE: ${this.registered ? STATE_READY : STATE_INITIALISED}`) + OK };
      case '+QIOTMCUVER':
        return this.cmdMcuVer(cmd);
      case '+QIOTOTAREQ':
        return this.cmdOtaReq(cmd);
      case '+QIOTUPDATE':
        return this.cmdUpdate(cmd);
      case '+QIOTOTARD':
        return this.cmdRead(cmd);
      default:
        this.ctx.log(`unknown command ${JSON.stringify(cmd.raw.slice(0, 60))} → ${this.options.unknownCommand.toUpperCase()}`);
        return { text: this.options.unknownCommand === 'ok' ? OK : ERR };
    }
  }

  private cmdCfg(cmd: AtCommand): Reply {
    if (cmd.form !== 'write') return { text: finalResult(cmd.form === 'test') };
    const item = paramString(cmd.params[0]);
    if (!item) return { text: finalResult(false) };
    if (cmd.params.length === 1) {
      // Issue 9 §6: a query is answered with its +QIOTCFG: line before OK (MCUs wait for it).
      const stored = this.cfg.get(item.value) ?? CFG_DEFAULTS[item.value];
      if (stored === undefined) return { text: finalResult(false) };
      return { text: infoLine(`+QIOTCFG: "${item.value}",${stored}`) + finalResult(true) };
    }
    const values = cmd.params.slice(1).map((p) => (p.kind === 'string' ? `"${p.value}"` : String(p.value)));
    this.cfg.set(item.value, values.join(','));
    return { text: finalResult(true) };
  }

  private cmdReg(cmd: AtCommand): Reply {
    if (cmd.form === 'read') return { text: infoLine(`+QIOTREG: ${this.regMode}`) + finalResult(true) };
    if (cmd.form === 'test') return { text: infoLine('+QIOTREG: (0-1)') + finalResult(true) };
    const mode = paramInt(cmd.params[0]);
    if (!mode || (mode.value !== 0 && mode.value !== 1)) return { text: finalResult(false) };
    this.regMode = mode.value;
    if (mode.value === 0) {
      this.registered = false;
      return { text: finalResult(true), urcs: [urc(EVT_DEREGISTERED, REG_OK)] };
    }
    this.registered = true;
    this.announceAnchor ??= this.ctx.clock.now();
    const urcs = [urc(EVT_REGISTERED, REG_OK), urc(EVT_SUBSCRIBED, REG_OK)];
    if (this.options.planTrigger === 'registered' && this.planArmed && this.canPlan()) urcs.push(this.planUrc());
    return { text: finalResult(true), urcs };
  }

  private cmdMcuVer(cmd: AtCommand): Reply {
    const OK = finalResult(true);
    if (cmd.form === 'read') {
      const lines = [...this.versions].map(([c, v]) => infoLine(`+QIOTMCUVER: "${c}","${v}"`)).join('');
      return { text: lines + OK };
    }
    if (cmd.form !== 'write') return { text: finalResult(false) };
    const comp = paramString(cmd.params[0]);
    if (!comp || comp.value.length < 1 || comp.value.length > MAX_COMPONENT_CHARS || cmd.params.length > 2) return { text: finalResult(false) };
    if (comp.lenient) this.ctx.log(`warning: unquoted component ${comp.value} in ${cmd.raw}`);
    if (cmd.params.length === 1) {
      const v = this.versions.get(comp.value);
      return { text: v === undefined ? finalResult(false) : infoLine(`+QIOTMCUVER: "${comp.value}","${v}"`) + OK };
    }
    const ver = paramString(cmd.params[1]);
    if (!ver || ver.value.length > MAX_VERSION_CHARS) return { text: finalResult(false) };
    if (ver.value === '') this.versions.delete(comp.value); // Quectel's simulator deletes an entry this way [mcu]
    else this.versions.set(comp.value, ver.value);
    if (comp.value !== this.component || ver.value === '') return { text: OK };
    if (!this.stateAtLeast('CONFIRMED')) {
      this.versionBeforePlan = ver.value;
      return { text: OK };
    }
    return { text: OK, urcs: this.onVersionReport(ver.value) };
  }

  /** §4/§6: a report for the plan component in CONFIRMED … UPDATING ends the upgrade. */
  private onVersionReport(version: string): string[] {
    const o = this.options;
    const target = this.ctx.image.info.version;
    const beforeUpdate = this.state !== 'UPDATING';
    const allRead = this.servedBytes === this.served.length;
    // Issue 9 §6: after the reads, a report of the old version (or, before =3, of any other than
    // the target) means the MCU's MD5 check failed and it kept its firmware: end at once, retryable.
    if (version !== target && allRead && (beforeUpdate || version === this.versionBeforePlan)) {
      this.state = 'IDLE';
      this.planArmed = false;
      this.failure = new StationError('SOTA_MD5_FAILED', `the MCU reported ${version} after reading the whole image (target ${target}): its MD5 check failed, it kept its firmware`, { ...this.detail(), deviceCode: String(OTA_FAILED) });
      this.ctx.log(`version report ${version} after all reads: MD5 failure on the MCU, event ${OTA_FAILED}`);
      return [urc(EVT_OTA, OTA_FAILED)];
    }
    if (version !== target && beforeUpdate && o.tolerateOldVersionReport && version === this.versionBeforePlan) {
      this.ctx.log(`lenient: ignored a report of the old version ${version} before event ${OTA_UPDATING} (MCU re-announced at boot)`);
      return [];
    }
    this.state = 'IDLE';
    this.planArmed = false;
    if (version !== target) {
      this.verdict = { ok: false, version };
      this.ctx.log(`version report ${version} ≠ target ${target}: event ${OTA_FAILED}`);
      return [urc(EVT_OTA, OTA_FAILED)];
    }
    if (o.strictVerdict && (!this.gotUpdate3 || this.servedBytes < this.served.length)) {
      const why = !this.gotUpdate3 ? 'no AT+QIOTUPDATE=3 before the report' : `only ${this.servedBytes}/${this.served.length} bytes served`;
      this.failure = new StationError('SOTA_INCOMPLETE_READ', `strict verdict: the MCU reported ${version} but ${why}`, { ...this.detail(), deviceCode: String(OTA_FAILED) });
      return [urc(EVT_OTA, OTA_FAILED)];
    }
    this.verdict = { ok: true, version };
    this.ctx.log(`version report ${version} = target: event ${OTA_SUCCESS}`);
    return o.emitQind ? [urc(EVT_OTA, OTA_SUCCESS), infoLine('+QIND: "FOTA","END",0')] : [urc(EVT_OTA, OTA_SUCCESS)];
  }

  private cmdOtaReq(cmd: AtCommand): Reply {
    if (cmd.form === 'test') return { text: infoLine('+QIOTOTAREQ: (0,1)') + finalResult(true) };
    if (cmd.form === 'read') return { text: finalResult(false) };
    let info = 0;
    if (cmd.form === 'write') {
      const p = paramInt(cmd.params[0]);
      // §2.1: only 0/1; more than one parameter or a non-integer → ERROR.
      if (!p || cmd.params.length !== 1 || (p.value !== 0 && p.value !== 1)) return { text: finalResult(false) };
      info = p.value;
    }
    this.otaRequested = true;
    this.announceAnchor ??= this.ctx.clock.now();
    this.wantSha = info === 1;
    const urcs: string[] = [];
    if (this.options.planTrigger === 'request' && this.planArmed && this.canPlan()) urcs.push(this.planUrc());
    return { text: finalResult(true), urcs };
  }

  private cmdUpdate(cmd: AtCommand): Reply {
    const OK = finalResult(true);
    const ERR = finalResult(false);
    if (cmd.form === 'test') return { text: infoLine('+QIOTUPDATE: (0-3)') + OK };
    const a = cmd.form === 'write' ? paramInt(cmd.params[0]) : null;
    if (!a) return { text: ERR };
    const size = this.served.length;
    switch (a.value) {
      case 0:
        if (this.state !== 'PLAN') return { text: ERR };
        this.state = 'IDLE';
        this.refused = true;
        return { text: OK };
      case 1:
        if (this.state === 'CONFIRMED') return { text: OK }; // idempotent [sdk]
        if (this.state !== 'PLAN') return { text: ERR };
        this.state = 'CONFIRMED';
        return { text: OK, after: () => this.startDownload(true) };
      case 2:
        if (this.state !== 'DOWNLOADED' || this.pieceStart + this.pieceLength >= size) return { text: ERR };
        this.pieceStart += this.pieceLength;
        this.pieceLength = Math.min(this.pieceBytes(), size - this.pieceStart);
        this.state = 'DOWNLOAD_START';
        return { text: OK, after: () => this.startDownload(false) };
      case 3:
        if (this.state === 'UPDATING') return { text: OK };
        if (this.state !== 'DOWNLOADED' || this.pieceStart + this.pieceLength < size) return { text: ERR };
        this.gotUpdate3 = true;
        if (this.options.strictVerdict && this.servedBytes < size) {
          // Strict (§6): every byte must have been served before the MCU may update.
          this.state = 'IDLE';
          this.failure = new StationError('SOTA_INCOMPLETE_READ', `AT+QIOTUPDATE=3 after only ${this.servedBytes}/${size} bytes served`, { ...this.detail(), deviceCode: String(OTA_FAILED), ackedBytes: this.servedBytes });
          return { text: OK, urcs: [urc(EVT_OTA, OTA_FAILED)] };
        }
        this.state = 'UPDATING';
        this.updateStartedAt = this.ctx.clock.now();
        this.ctx.log(`AT+QIOTUPDATE=3 after ${this.servedBytes}/${size} bytes: event ${OTA_UPDATING}`);
        return { text: OK, urcs: [urc(EVT_OTA, OTA_UPDATING)] };
      default:
        return { text: ERR };
    }
  }

  private cmdRead(cmd: AtCommand): Reply {
    const o = this.options;
    if (cmd.form === 'test') return { text: infoLine(`+QIOTOTARD: ${this.pieceStart},(1-${o.maxReadBytes})`) + finalResult(true) };
    const s = paramInt(cmd.params[0]);
    const l = paramInt(cmd.params[1]);
    const n = this.state === 'DOWNLOADED' && s && l && cmd.params.length === 2 ? clampRead(s.value, l.value, o.maxReadBytes, this.pieceStart, this.pieceLength) : null;
    if (n === null || !s) {
      this.downloadErrors++;
      this.ctx.log(`read refused (${this.downloadErrors}/${o.maxDownloadErrors}): ${cmd.raw} in ${this.state}, piece ${this.pieceStart}+${this.pieceLength}`);
      if (this.downloadErrors > o.maxDownloadErrors) {
        // §4: more than 5 download errors → 10706.
        const err = new StationError('SOTA_READ_ERRORS', `${this.downloadErrors} refused reads (last: ${cmd.raw})`, { ...this.detail(), deviceCode: String(OTA_FAILED), ackedBytes: this.servedBytes });
        this.state = 'IDLE';
        this.planArmed = false;
        this.failure = err;
        return { text: finalResult(false), urcs: [urc(EVT_OTA, OTA_FAILED)] };
      }
      return { text: finalResult(false) };
    }
    const start = s.value;
    const data = this.ctx.image.bytes.subarray(start, start + n);
    for (let i = start; i < start + n; i++) {
      if (this.served[i] === 0) {
        this.served[i] = 1;
        this.servedBytes++;
      }
    }
    this.lastReadAt = this.ctx.clock.now();
    this.onAck?.(this.servedBytes);
    return { text: readReply(start, data, o.dataTrailer) };
  }

  // ---- plan and download -------------------------------------------------------------------------

  private canPlan(): boolean {
    return this.state === 'IDLE' || this.state === 'PLAN';
  }

  private triggerReady(): boolean {
    const t = this.options.planTrigger;
    return this.canPlan() && (t === 'start' || (t === 'request' && this.otaRequested) || (t === 'registered' && this.registered));
  }

  private sendPlan(): void {
    this.enqueue([this.planUrc()]);
  }

  /** §3 10700; moves IDLE → PLAN. */
  private planUrc(): string {
    const o = this.options;
    const info = this.ctx.image.info;
    this.state = 'PLAN';
    this.planSent = true;
    this.refused = false;
    this.ctx.log(`plan ${info.version} for "${this.component}" (event ${OTA_PLAN})`);
    return urc(EVT_OTA, OTA_PLAN, planData({
      component: this.component,
      sourceVersion: info.kind === 'diff' ? (info.sourceVersion ?? '') : '',
      targetVersion: info.version,
      batteryLimitPct: o.batteryLimitPct,
      minSignalDbm: o.minSignalDbm,
      useSpaceBytes: info.sizeBytes,
    }));
  }

  private pieceBytes(): number {
    const p = this.options.pieceSizeBytes;
    return p > 0 ? p : this.served.length;
  }

  /**
   * §4 simulated download: [10701] → 10702 → 10703 with gaps. The gaps run on timers outside the
   * write queue so the module keeps answering commands at once (§1: < 20 ms); reads become legal
   * when 10703 is queued.
   */
  private startDownload(first: boolean): void {
    const o = this.options;
    const info = this.ctx.image.info;
    const gen = ++this.downloadGen;
    this.state = 'DOWNLOAD_START';
    this.lastReadAt = this.ctx.clock.now();
    if (first) {
      this.pieceStart = 0;
      this.pieceLength = Math.min(this.pieceBytes(), this.served.length);
      this.enqueue([urc(EVT_OTA, OTA_DOWNLOAD_START, downloadStartData({ component: this.component, sizeBytes: info.sizeBytes, md5: info.md5, crc32Hex: info.crc32, sha256: this.wantSha ? info.sha256 : undefined }))], o.urcGapMs);
    }
    const live = () => gen === this.downloadGen && this.state === 'DOWNLOAD_START';
    void (async () => {
      await this.ctx.clock.sleep(first ? o.urcGapMs + o.downloadGapMs : o.urcGapMs);
      if (!live()) return;
      this.enqueue([urc(EVT_OTA, OTA_DOWNLOADING)]);
      await this.ctx.clock.sleep(o.downloadGapMs);
      if (!live()) return;
      this.state = 'DOWNLOADED';
      this.lastReadAt = this.ctx.clock.now();
      this.enqueue([urc(EVT_OTA, OTA_PIECE_READY, pieceData({ component: this.component, sizeBytes: info.sizeBytes, pieceStart: this.pieceStart, pieceLength: this.pieceLength }))]);
      this.kick();
    })();
  }
}

function cclk(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())},${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}+00`;
}
