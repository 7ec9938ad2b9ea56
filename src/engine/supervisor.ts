import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ScriptLimits } from '../config/schema.js';
import type { Logger } from '../logging.js';
import type {
  ChildMessage,
  ExecMessage,
  ExecOutcome,
  FailureKind,
  InitMessage,
  ScriptArgs,
  ScriptRef,
} from './protocol.js';
import { nowMs } from './sandbox/watchdog.js';

export interface SupervisorOptions {
  processes: number;
  killGraceMs: number;
  init: Omit<InitMessage, 't'>;
  logger: Logger;
}

interface Pending {
  message: ExecMessage;
  source: string;
  started: number;
  timer: NodeJS.Timeout;
  resolve: (outcome: ExecOutcome) => void;
}

interface Worker {
  child: ChildProcess;
  ready: boolean;
  draining: boolean;
  startedAt: number;
  inflight: Map<number, Pending>;
  /** Script keys whose source this process has been sent. */
  known: Set<string>;
}

const here = fileURLToPath(import.meta.url);
const runningFromSource = here.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(`./sandbox/main.${runningFromSource ? 'ts' : 'js'}`, import.meta.url));
const EXEC_ARGV = [
  '--no-node-snapshot',
  ...(runningFromSource ? ['--import', import.meta.resolve('tsx')] : []),
];

/**
 * Runs scripts in supervised sandbox processes. Each execution goes to the least
 * busy process; a process that does not answer by the execution's wall deadline plus
 * a grace period is killed (failing only the executions in it) and replaced, as is
 * one that exits or reports an isolate it could not stop.
 */
export class SandboxSupervisor {
  private readonly workers = new Set<Worker>();
  private readonly readyWaiters = new Set<() => void>();
  private nextId = 1;
  private stopped = false;
  private recentCrashes = 0;

  constructor(private readonly options: SupervisorOptions) {}

  /** Starts the processes and resolves when all of them are ready. */
  async start(): Promise<void> {
    const ready = Array.from({ length: this.options.processes }, () => this.spawn());
    await Promise.all(ready);
  }

  /** True while at least one sandbox process can take work. */
  get healthy(): boolean {
    return [...this.workers].some((w) => w.ready && !w.draining);
  }

  /** Sends new property values to every process (and to processes started later). */
  setProperties(values: Record<string, string>): void {
    this.options.init.properties = values;
    for (const worker of this.workers)
      if (worker.child.connected) worker.child.send({ t: 'properties', values });
  }

  async execute(script: Required<ScriptRef>, limits: ScriptLimits, args: ScriptArgs): Promise<ExecOutcome> {
    const started = nowMs();
    const deadline = started + limits.wall_time_ms + this.options.killGraceMs;
    const worker = this.pick() ?? (await this.waitForWorker(deadline));
    if (!worker) return failure('sandbox_unavailable', 'no sandbox process is available', started);
    const id = this.nextId++;
    const message: ExecMessage = {
      t: 'exec',
      id,
      script: { key: script.key, filename: script.filename },
      limits,
      args,
    };
    return new Promise<ExecOutcome>((resolve) => {
      const timer = setTimeout(() => this.onDeadline(worker, id), Math.max(0, deadline - nowMs()));
      worker.inflight.set(id, { message, source: script.source, started, timer, resolve });
      this.send(worker, message, script.source);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const exits = [...this.workers].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.child.exitCode !== null || worker.child.signalCode !== null) return resolve();
          worker.child.once('exit', () => resolve());
          worker.child.kill('SIGKILL');
        }),
    );
    await Promise.all(exits);
  }

  private send(worker: Worker, message: ExecMessage, source: string): void {
    if (!worker.child.connected) return; // its exit handler fails the execution
    const known = worker.known.has(message.script.key);
    worker.known.add(message.script.key);
    worker.child.send(known ? message : { ...message, script: { ...message.script, source } });
  }

  private pick(): Worker | undefined {
    let best: Worker | undefined;
    for (const worker of this.workers) {
      if (!worker.ready || worker.draining) continue;
      if (!best || worker.inflight.size < best.inflight.size) best = worker;
    }
    return best;
  }

  private waitForWorker(deadline: number): Promise<Worker | undefined> {
    return new Promise((resolve) => {
      const onReady = () => {
        const worker = this.pick();
        if (!worker) return;
        clearTimeout(timer);
        this.readyWaiters.delete(onReady);
        resolve(worker);
      };
      const timer = setTimeout(
        () => {
          this.readyWaiters.delete(onReady);
          resolve(undefined);
        },
        Math.max(0, deadline - nowMs()),
      );
      this.readyWaiters.add(onReady);
    });
  }

  private spawn(): Promise<void> {
    const child = fork(ENTRY, [], { execArgv: EXEC_ARGV, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const worker: Worker = {
      child,
      ready: false,
      draining: false,
      startedAt: nowMs(),
      inflight: new Map(),
      known: new Set(),
    };
    this.workers.add(worker);
    const ready = new Promise<void>((resolve) => {
      child.on('message', (message: ChildMessage) => {
        if (message.t === 'ready') resolve();
        this.onMessage(worker, message);
      });
      child.once('exit', () => resolve());
    });
    child.once('exit', (code, signal) => this.onExit(worker, code, signal));
    child.on('error', (error) => this.options.logger.error({ err: error }, 'sandbox process error'));
    child.send({ t: 'init', ...this.options.init });
    return ready;
  }

  private onMessage(worker: Worker, message: ChildMessage): void {
    switch (message.t) {
      case 'ready':
        worker.ready = true;
        for (const waiter of this.readyWaiters) waiter();
        break;
      case 'result': {
        const pending = worker.inflight.get(message.id);
        if (!pending) return;
        worker.inflight.delete(message.id);
        clearTimeout(pending.timer);
        pending.resolve(message.outcome);
        if (worker.draining && worker.inflight.size === 0) worker.child.kill('SIGKILL');
        break;
      }
      case 'need_source': {
        const pending = worker.inflight.get(message.id);
        if (!pending) return;
        worker.known.delete(pending.message.script.key);
        this.send(worker, pending.message, pending.source);
        break;
      }
      case 'stuck':
        this.options.logger.warn(
          { pid: worker.child.pid },
          'sandbox process has an isolate it cannot stop; replacing it',
        );
        this.retire(worker);
        break;
    }
  }

  /** Stops giving `worker` work, starts a replacement, and kills it once its executions finish. */
  private retire(worker: Worker): void {
    if (worker.draining) return;
    worker.draining = true;
    if (!this.stopped) void this.spawn();
    if (worker.inflight.size === 0) worker.child.kill('SIGKILL');
  }

  private onDeadline(worker: Worker, id: number): void {
    const pending = worker.inflight.get(id);
    if (!pending) return;
    worker.inflight.delete(id);
    pending.resolve(
      failure(
        'wall_timeout',
        `the script ran past its wall-time limit of ${pending.message.limits.wall_time_ms} ms and the sandbox did not stop it; its process was killed`,
        pending.started,
      ),
    );
    this.options.logger.warn(
      { pid: worker.child.pid },
      'killing a sandbox process that missed an execution deadline',
    );
    worker.draining = true;
    worker.child.kill('SIGKILL');
  }

  private onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker);
    for (const pending of worker.inflight.values()) {
      clearTimeout(pending.timer);
      pending.resolve(
        failure(
          'sandbox_crashed',
          `the sandbox process exited (${signal ?? `code ${code}`}) during the execution`,
          pending.started,
        ),
      );
    }
    worker.inflight.clear();
    if (this.stopped) return;
    const wasDraining = worker.draining;
    if (!wasDraining) {
      this.options.logger.error(
        { pid: worker.child.pid, code, signal },
        'sandbox process exited; starting another',
      );
    }
    if (wasDraining && this.workers.size >= this.options.processes) return;
    // Back off when processes die right after starting (a crash loop), up to 5 s.
    this.recentCrashes = nowMs() - worker.startedAt < 1000 ? this.recentCrashes + 1 : 0;
    const delay = this.recentCrashes === 0 ? 0 : Math.min(5000, 50 * 2 ** this.recentCrashes);
    setTimeout(() => {
      if (!this.stopped) void this.spawn();
    }, delay).unref();
  }
}

function failure(kind: FailureKind, message: string, started: number): ExecOutcome {
  return {
    ok: false,
    error: { kind, message, line: null },
    logs: [],
    dropped: 0,
    cpuMs: 0,
    wallMs: nowMs() - started,
  };
}
