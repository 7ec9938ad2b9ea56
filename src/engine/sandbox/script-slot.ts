import ivm from 'isolated-vm';
import type { ScriptLimits } from '../../config/schema.js';
import type { ExecOutcome, FailureKind, ScriptArgs, ScriptFailure } from '../protocol.js';
import type { HostBindings } from './host-bindings.js';
import { PRELUDE_SOURCE } from './prelude.js';
import { type CpuWatchdog, nowMs } from './watchdog.js';

export interface SlotOptions {
  key: string;
  source: string;
  filename: string;
  memoryMb: number;
  maxInstances: number;
  killGraceMs: number;
  log: { max_line_chars: number; max_lines_per_execution: number };
  bindings: HostBindings;
  watchdog: CpuWatchdog;
  /** Called when a disposed isolate's thread does not come back: the process must be replaced. */
  onStuck: () => void;
}

/** One isolate with the script loaded in its context. */
interface Instance {
  isolate: ivm.Isolate;
  run?: ivm.Reference<(argsJson: string) => Promise<string>>;
  dead: boolean;
}

/**
 * The isolates of one compiled script (one IdP, kind, version and memory limit).
 * Up to `maxInstances` run at once; further executions queue. An isolate that hits a
 * limit is disposed and replaced by a fresh one on the next call.
 */
export class ScriptSlot {
  private readonly idle: Instance[] = [];
  private readonly waiters: Array<(instance: Instance) => void> = [];
  private live = 0;
  lastUsed = nowMs();

  constructor(private readonly options: SlotOptions) {}

  get busy(): boolean {
    return this.live > this.idle.length || this.waiters.length > 0;
  }

  async execute(args: ScriptArgs, limits: ScriptLimits): Promise<ExecOutcome> {
    const started = nowMs();
    this.lastUsed = started;
    const deadline = started + limits.wall_time_ms;
    const instance = await this.acquire(deadline);
    if (!instance)
      return failure(
        'wall_timeout',
        'the script waited for a free isolate past its wall-time limit',
        started,
      );
    try {
      return await this.runGuarded(instance, JSON.stringify(args), limits, started, deadline);
    } finally {
      this.release(instance);
    }
  }

  /** Disposes every idle isolate (the slot is being evicted). */
  dispose(): void {
    for (const instance of this.idle.splice(0)) {
      instance.dead = true;
      safeDispose(instance.isolate);
    }
  }

  private acquire(deadline: number): Promise<Instance | undefined> {
    const ready = this.idle.pop();
    if (ready) return Promise.resolve(ready);
    if (this.live < this.options.maxInstances) {
      this.live++;
      return Promise.resolve(this.create());
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at !== -1) this.waiters.splice(at, 1);
        resolve(undefined);
      }, deadline - nowMs());
      const waiter = (instance: Instance) => {
        clearTimeout(timer);
        resolve(instance);
      };
      this.waiters.push(waiter);
    });
  }

  private release(instance: Instance): void {
    let next = instance;
    if (instance.dead) {
      safeDispose(instance.isolate);
      if (this.waiters.length === 0) {
        this.live--;
        return;
      }
      next = this.create();
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(next);
    else this.idle.push(next);
  }

  private create(): Instance {
    return { isolate: new ivm.Isolate({ memoryLimit: this.options.memoryMb }), dead: false };
  }

  /** Loads the prelude and the script into a fresh isolate (top-level code runs here, under limits). */
  private async load(instance: Instance): Promise<NonNullable<Instance['run']>> {
    const { isolate } = instance;
    const context = await isolate.createContext();
    const prelude = await isolate.compileScript(PRELUDE_SOURCE, { filename: 'registrar:prelude' });
    const install = (await prelude.run(context, { reference: true })) as ivm.Reference<
      (...args: unknown[]) => unknown
    >;
    const { bindings, log, filename } = this.options;
    const run = (await install.apply(
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
      ],
      { result: { reference: true } },
    )) as NonNullable<Instance['run']>;
    const script = await isolate.compileScript(this.options.source, { filename });
    await script.run(context);
    instance.run = run;
    return run;
  }

  private runGuarded(
    instance: Instance,
    argsJson: string,
    limits: ScriptLimits,
    started: number,
    deadline: number,
  ): Promise<ExecOutcome> {
    const { isolate } = instance;
    const cpuStart = isolate.cpuTime;
    const cpuMs = () => (isolate.isDisposed ? limits.cpu_time_ms : Number(isolate.cpuTime - cpuStart) / 1e6);
    return new Promise((resolve) => {
      let settled = false;
      let returned = false;
      const finish = (outcome: ExecOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(wallTimer);
        this.options.watchdog.unwatch(isolate);
        resolve(outcome);
      };
      const kill = (kind: FailureKind, message: string) => {
        instance.dead = true;
        safeDispose(isolate);
        finish(failure(kind, message, started, cpuMs()));
        setTimeout(() => {
          if (!returned) this.options.onStuck();
        }, this.options.killGraceMs).unref();
      };
      const wallTimer = setTimeout(
        () => kill('wall_timeout', `the script ran past its wall-time limit of ${limits.wall_time_ms} ms`),
        Math.max(0, deadline - nowMs()),
      );
      this.options.watchdog.watch(isolate, cpuStart, limits.cpu_time_ms, () =>
        kill('cpu_timeout', `the script used more than its CPU-time limit of ${limits.cpu_time_ms} ms`),
      );
      (async () => {
        const run = instance.run ?? (await this.load(instance));
        return run.apply(undefined, [argsJson], { result: { promise: true, copy: true } });
      })().then(
        (json) => {
          returned = true;
          finish(parseOutcome(json, started, cpuMs()));
        },
        (error: unknown) => {
          returned = true;
          instance.dead = true;
          const [kind, message, line] = classify(error, isolate, this.options.memoryMb);
          finish(failure(kind, message, started, cpuMs(), line));
        },
      );
    });
  }
}

function classify(error: unknown, isolate: ivm.Isolate, memoryMb: number): [FailureKind, string, number?] {
  const message = error instanceof Error ? error.message : String(error);
  if (/memory limit/i.test(message) || (isolate.isDisposed && /disposed/i.test(message))) {
    return ['out_of_memory', `the script ran out of its ${memoryMb} MiB of memory`];
  }
  if (/timed out/i.test(message)) return ['wall_timeout', 'the script ran past its time limit'];
  // Errors thrown by the script's top-level code arrive here with their own message.
  const line = error instanceof Error ? /:(\d+):\d+/.exec(error.stack ?? '')?.[1] : undefined;
  return ['exception', message, line === undefined ? undefined : Number(line)];
}

function parseOutcome(json: unknown, started: number, cpuMs: number): ExecOutcome {
  const wallMs = nowMs() - started;
  const raw = typeof json === 'string' ? (JSON.parse(json) as Record<string, unknown>) : {};
  const logs = Array.isArray(raw.logs) ? raw.logs : [];
  const dropped = typeof raw.dropped === 'number' ? raw.dropped : 0;
  if (raw.result && typeof raw.result === 'object') {
    return { ok: true, result: raw.result as never, logs, dropped, cpuMs, wallMs };
  }
  const error = (raw.error ?? { kind: 'invalid_result', message: 'no outcome', line: null }) as ScriptFailure;
  return { ok: false, error, logs, dropped, cpuMs, wallMs };
}

function failure(kind: FailureKind, message: string, started: number, cpuMs = 0, line?: number): ExecOutcome {
  return {
    ok: false,
    error: { kind, message, line: line ?? null },
    logs: [],
    dropped: 0,
    cpuMs,
    wallMs: nowMs() - started,
  };
}

function safeDispose(isolate: ivm.Isolate): void {
  try {
    if (!isolate.isDisposed) isolate.dispose();
  } catch {
    // already disposed
  }
}
