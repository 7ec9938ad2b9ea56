import ivm from 'isolated-vm';
import type { ScriptLimits } from '../../config/schema.js';
import { nowMs } from '../clock.js';
import type { ExecOutcome, FailureKind, ScriptArgs, ScriptLogLine, ScriptResult } from '../protocol.js';
import type { HostBindings } from './host-bindings.js';
import type { CallBudget } from './outbound-calls.js';
import { PRELUDE_SOURCE } from './prelude.js';
import type { ScratchCache } from './scratch-cache.js';

export interface SlotOptions {
  source: string;
  filename: string;
  memoryMb: number;
  log: { max_line_chars: number; max_lines_per_execution: number };
  bindings: HostBindings;
}

/** An isolate with the prelude and the script loaded into its context. */
interface Instance {
  isolate: ivm.Isolate;
  run: ivm.Reference<(argsJson: string, withHttp?: boolean) => string>;
  collect: ivm.Reference<() => string>;
}

type Failure = [kind: FailureKind, message: string, line: number | null];

/** How often an asynchronous execution's CPU time is checked against its limit. */
const CPU_WATCH_INTERVAL_MS = 5;
/** How long an asynchronous execution may go on after its isolate was disposed before the process gives up on it. */
const STUCK_GRACE_MS = 200;

/**
 * One compiled script (one IdP, kind, version and heap size) in its own isolate,
 * loaded once and reused. Executions run synchronously on the sandbox process's
 * thread under isolated-vm's own timeout; an isolate that timed out, ran out of
 * memory or was disposed is dropped, and the next execution loads a fresh one.
 */
export class ScriptSlot {
  private instance: Instance | undefined;
  /**
   * An execution outlived its isolate's disposal (stuck in a native built-in that ignores
   * termination): the process must exit once it has answered.
   */
  stuck = false;

  constructor(private readonly options: SlotOptions) {}

  /** The script's source (a second slot of the same script is made from it). */
  get source(): string {
    return this.options.source;
  }

  /**
   * Runs `execute` once; a dry run passes its `scratch` cache, which gets the stores instead
   * of the server. `onLoaded` is called when the script had to be loaded (compiled and its
   * top level run in a fresh isolate) first, once that is done and before `execute` runs.
   */
  execute(
    args: ScriptArgs,
    limits: ScriptLimits,
    scratch?: ScratchCache,
    onLoaded?: () => void,
  ): ExecOutcome {
    const started = nowMs();
    // Without outbound calls scripts have no waits of their own (CACHE calls are brief), so
    // the tighter of the two time limits bounds the run; it is reported as the tighter limit.
    const budget = Math.min(limits.cpu_time_ms, limits.wall_time_ms);
    let instance: Instance | undefined;
    let cpuStart = 0n;
    this.options.bindings.begin(scratch);
    try {
      if (!this.instance) {
        this.instance = this.load(budget);
        onLoaded?.();
      }
      instance = this.instance;
      cpuStart = instance.isolate.cpuTime;
      const remaining = () => Math.max(1, Math.ceil(budget - (nowMs() - started)));
      let json = instance.run.applySync(undefined, [JSON.stringify(args)], { timeout: remaining() });
      if (json === 'pending') json = instance.collect.applySync(undefined, [], { timeout: remaining() });
      return this.finish(
        parseOutcome(json, started, cpuMs(instance.isolate, cpuStart), this.options.log),
        scratch,
      );
    } catch (error) {
      const cpu = instance ? cpuMs(instance.isolate, cpuStart) : 0;
      return this.fail(classify(error, limits, this.options.memoryMb), started, cpu, scratch);
    }
  }

  /**
   * Runs `execute` once with outbound calls allowed. The isolate runs on isolated-vm's
   * own thread while this process's event loop stays free to carry `HTTP.request`
   * calls; isolated-vm's timeout is then the wall-time limit (waits included), and a
   * watchdog checks the isolate's CPU time every few milliseconds and disposes it past
   * the CPU limit.
   */
  async executeAsync(
    args: ScriptArgs,
    limits: ScriptLimits,
    calls: CallBudget | undefined,
    scratch?: ScratchCache,
    /** Demoted: no CPU watchdog here; the server measures CPU and calls the function given to `onCancel`. */
    onCancel?: (cancel: () => void) => void,
  ): Promise<ExecOutcome> {
    const started = nowMs();
    let instance: Instance | undefined;
    let cpuStart = 0n;
    let cpuExceeded = false;
    let watchdog: NodeJS.Timeout | undefined;
    let giveUp: (() => void) | undefined;
    this.options.bindings.begin(scratch, calls);
    try {
      instance = this.instance ?? this.load(Math.min(limits.cpu_time_ms, limits.wall_time_ms));
      this.instance = instance;
      const { isolate } = instance;
      cpuStart = isolate.cpuTime;
      // A native built-in can run on past the isolate's disposal: then the process gives up on it.
      const stuck = new Promise<never>((_resolve, reject) => {
        giveUp = () => {
          this.stuck = true;
          reject(new Error('disposed'));
        };
      });
      const stop = () => {
        if (isolate.isDisposed) return;
        cpuExceeded = true;
        isolate.dispose();
        setTimeout(() => giveUp?.(), STUCK_GRACE_MS).unref();
      };
      if (onCancel) onCancel(stop);
      else {
        watchdog = setInterval(() => {
          if (cpuMs(isolate, cpuStart) > limits.cpu_time_ms) stop();
        }, CPU_WATCH_INTERVAL_MS);
      }
      const remaining = () => Math.max(1, Math.ceil(limits.wall_time_ms - (nowMs() - started)));
      let json = await Promise.race([
        instance.run.apply(undefined, [JSON.stringify(args), true], { timeout: remaining() }),
        stuck,
      ]);
      if (json === 'pending') {
        json = await Promise.race([instance.collect.apply(undefined, [], { timeout: remaining() }), stuck]);
      }
      giveUp = undefined;
      return this.finish(parseOutcome(json, started, cpuMs(isolate, cpuStart), this.options.log), scratch);
    } catch (error) {
      giveUp = undefined;
      const cpu = instance ? cpuMs(instance.isolate, cpuStart) : 0;
      const failure: Failure = cpuExceeded
        ? ['cpu_timeout', `the script used more than its CPU-time limit of ${limits.cpu_time_ms} ms`, null]
        : classify(error, { ...limits, cpu_time_ms: Number.POSITIVE_INFINITY }, this.options.memoryMb);
      return this.fail(failure, started, cpu, scratch);
    } finally {
      clearInterval(watchdog);
    }
  }

  /** A returned execution: its stores go to the server (or a dry run's scratch cache). */
  private finish(outcome: ExecOutcome, scratch: ScratchCache | undefined): ExecOutcome {
    // Stores count only when the script returned: a failed execution leaves the CACHE as it was.
    const writes = this.options.bindings.takeWrites();
    const reads = this.options.bindings.takeReads();
    if (reads) outcome.reads = reads;
    if (scratch) {
      if (outcome.ok) for (const [key, value, ttlMs] of writes) scratch.set(key, value, ttlMs);
      outcome.scratch = scratch.dump();
    } else if (outcome.ok && writes.length > 0) {
      outcome.cacheWrites = writes;
    }
    return outcome;
  }

  /** A failed execution: its stores are dropped and its isolate too. */
  private fail(
    [kind, message, line]: Failure,
    started: number,
    cpu: number,
    scratch: ScratchCache | undefined,
  ): ExecOutcome {
    this.options.bindings.takeWrites();
    const reads = this.options.bindings.takeReads();
    this.discard();
    const outcome = failure(kind, message, started, cpu, line);
    if (reads) outcome.reads = reads;
    if (scratch) outcome.scratch = scratch.dump();
    return outcome;
  }

  /** Makes the next execution report what it reads (`ExecOutcome.reads`). */
  recordReads(): void {
    this.options.bindings.recordNext();
  }

  /** Releases the isolate. */
  discard(): void {
    const isolate = this.instance?.isolate;
    this.instance = undefined;
    if (isolate && !isolate.isDisposed) {
      try {
        isolate.dispose();
      } catch {
        // already gone
      }
    }
  }

  /** Makes an isolate with the prelude and the script; top-level code runs here, under the time budget. */
  private load(budget: number): Instance {
    const isolate = new ivm.Isolate({ memoryLimit: this.options.memoryMb });
    try {
      const context = isolate.createContextSync();
      const install = isolate
        .compileScriptSync(PRELUDE_SOURCE, { filename: 'registrar:prelude' })
        .runSync(context, { reference: true }) as ivm.Reference<(...args: unknown[]) => unknown>;
      const { bindings, log, filename } = this.options;
      const api = install.applySync(
        undefined,
        [
          bindings.cache,
          bindings.newUuid,
          bindings.getProperty,
          new ivm.ExternalCopy({
            filename,
            maxLineChars: log.max_line_chars,
            maxLines: log.max_lines_per_execution,
          }).copyInto(),
          bindings.http,
        ],
        { result: { reference: true } },
      ) as ivm.Reference<Record<string, unknown>>;
      const run = api.getSync('run', { reference: true }) as Instance['run'];
      const collect = api.getSync('collect', { reference: true }) as Instance['collect'];
      isolate.compileScriptSync(this.options.source, { filename }).runSync(context, { timeout: budget });
      return { isolate, run, collect };
    } catch (error) {
      if (!isolate.isDisposed) isolate.dispose();
      throw error;
    }
  }
}

function cpuMs(isolate: ivm.Isolate, start: bigint): number {
  try {
    return Number(isolate.cpuTime - start) / 1e6;
  } catch {
    return 0;
  }
}

function classify(error: unknown, limits: ScriptLimits, memoryMb: number): Failure {
  const message = error instanceof Error ? error.message : String(error);
  if (/memory limit|disposed/i.test(message)) {
    return ['out_of_memory', `the script ran out of its ${memoryMb} MiB of memory`, null];
  }
  if (/timed out/i.test(message)) {
    return limits.cpu_time_ms <= limits.wall_time_ms
      ? ['cpu_timeout', `the script used more than its CPU-time limit of ${limits.cpu_time_ms} ms`, null]
      : ['wall_timeout', `the script ran past its wall-time limit of ${limits.wall_time_ms} ms`, null];
  }
  // Errors thrown by top-level code arrive here with their own message and position.
  const line = error instanceof Error ? /:(\d+):\d+/.exec(error.stack ?? '')?.[1] : undefined;
  return ['exception', message, line === undefined ? null : Number(line)];
}

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error']);
const SCRIPT_FAILURES = new Set(['exception', 'no_execute', 'invalid_result']);

/**
 * Reads the outcome JSON the prelude made. A script can tamper with what the prelude
 * serialises (e.g. `Object.prototype.toJSON`), so every field is checked again here
 * and anything out of shape is the script's `invalid_result`.
 */
function parseOutcome(json: unknown, started: number, cpu: number, log: SlotOptions['log']): ExecOutcome {
  const wallMs = nowMs() - started;
  const tampered = (what: string): ExecOutcome => ({
    ok: false,
    error: { kind: 'invalid_result', message: `the script's outcome is malformed (${what})`, line: null },
    logs: [],
    dropped: 0,
    cpuMs: cpu,
    wallMs,
  });
  let raw: unknown;
  try {
    raw = typeof json === 'string' ? JSON.parse(json) : undefined;
  } catch {
    return tampered('not JSON');
  }
  if (!isRecord(raw)) return tampered('not an object');
  const logs: ScriptLogLine[] = [];
  if (!Array.isArray(raw.logs)) return tampered('logs');
  for (const line of raw.logs.slice(0, log.max_lines_per_execution)) {
    if (!isRecord(line) || !LOG_LEVELS.has(line.level as string) || typeof line.message !== 'string') {
      return tampered('log line');
    }
    logs.push({
      level: line.level as ScriptLogLine['level'],
      message: line.message.slice(0, log.max_line_chars + 20),
    });
  }
  const dropped =
    Math.max(0, raw.logs.length - logs.length) +
    (Number.isSafeInteger(raw.dropped) ? (raw.dropped as number) : 0);
  const base = { logs, dropped, cpuMs: cpu, wallMs };
  if (isRecord(raw.result)) {
    const { status, responsePayload, registrationData, user } = raw.result;
    if (typeof status !== 'number' || !Number.isInteger(status)) return tampered('status');
    if (responsePayload !== undefined && typeof responsePayload !== 'string')
      return tampered('responsePayload');
    if (registrationData !== undefined && typeof registrationData !== 'string')
      return tampered('registrationData');
    const result: ScriptResult = { status };
    if (responsePayload !== undefined) result.responsePayload = responsePayload;
    if (registrationData !== undefined) result.registrationData = registrationData;
    if (user !== undefined) result.user = user;
    return { ok: true, result, ...base };
  }
  const error = raw.error;
  if (!isRecord(error) || !SCRIPT_FAILURES.has(error.kind as string) || typeof error.message !== 'string') {
    return tampered('error');
  }
  const line = Number.isSafeInteger(error.line) ? (error.line as number) : null;
  return {
    ok: false,
    error: { kind: error.kind as FailureKind, message: error.message.slice(0, 2000), line },
    ...base,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function failure(
  kind: FailureKind,
  message: string,
  started: number,
  cpu: number,
  line: number | null,
): ExecOutcome {
  return {
    ok: false,
    error: { kind, message, line },
    logs: [],
    dropped: 0,
    cpuMs: cpu,
    wallMs: nowMs() - started,
  };
}
