import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ScriptLimits } from '../config/schema.js';
import type { Logger } from '../logging.js';
import { nowMs } from './clock.js';
import type {
  ChildMessage,
  ExecMessage,
  ExecOutcome,
  FailureKind,
  InitMessage,
  ScriptArgs,
  ScriptRef,
} from './protocol.js';

export interface SupervisorOptions {
  processes: number;
  killGraceMs: number;
  init: Omit<InitMessage, 't'>;
  logger: Logger;
}

/** An execution waiting for, or running in, a sandbox process. */
interface Job {
  script: Required<ScriptRef>;
  limits: ScriptLimits;
  args: ScriptArgs;
  enqueued: number;
  resolve: (outcome: ExecOutcome) => void;
  queueTimer?: NodeJS.Timeout;
}

interface Worker {
  child: ChildProcess;
  ready: boolean;
  /** Killed or being killed: takes no more work. */
  retired: boolean;
  startedAt: number;
  /** The one execution this process is running; processes run one at a time. */
  current?: { id: number; job: Job; deadline: NodeJS.Timeout };
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
 * Runs scripts in supervised sandbox processes. Executions wait in one queue and go
 * to whichever process is free, one at a time per process, so a script that spins
 * for its whole budget holds up only its own process. A process that does not answer
 * by the execution's deadline plus a grace period is killed (failing only that
 * execution) and replaced, as is one that exits.
 */
export class SandboxSupervisor {
  private readonly workers = new Set<Worker>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private stopped = false;
  private recentCrashes = 0;

  constructor(private readonly options: SupervisorOptions) {}

  /** Starts the processes and resolves when all of them are ready. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.options.processes }, () => this.spawn()));
  }

  /** True while at least one sandbox process can take work. */
  get healthy(): boolean {
    return [...this.workers].some((w) => w.ready && !w.retired);
  }

  /** Sends new property values to every process (and to processes started later). */
  setProperties(values: Record<string, string>): void {
    this.options.init.properties = values;
    for (const worker of this.workers) {
      if (worker.child.connected) worker.child.send({ t: 'properties', values });
    }
  }

  execute(script: Required<ScriptRef>, limits: ScriptLimits, args: ScriptArgs): Promise<ExecOutcome> {
    return new Promise((resolve) => {
      const job: Job = { script, limits, args, enqueued: nowMs(), resolve };
      job.queueTimer = setTimeout(() => {
        const at = this.queue.indexOf(job);
        if (at === -1) return;
        this.queue.splice(at, 1);
        resolve(
          failure('sandbox_unavailable', 'no sandbox process became free within the wall-time limit', job),
        );
      }, limits.wall_time_ms);
      this.queue.push(job);
      this.dispatch();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.queue.splice(0)) {
      clearTimeout(job.queueTimer);
      job.resolve(failure('sandbox_unavailable', 'the server is shutting down', job));
    }
    await Promise.all(
      [...this.workers].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.child.exitCode !== null || worker.child.signalCode !== null) return resolve();
            worker.child.once('exit', () => resolve());
            worker.child.kill('SIGKILL');
          }),
      ),
    );
  }

  /** Hands queued executions to free processes, oldest first. */
  private dispatch(): void {
    for (const worker of this.workers) {
      if (this.queue.length === 0) return;
      if (!worker.ready || worker.retired || worker.current || !worker.child.connected) continue;
      const job = this.queue.shift() as Job;
      clearTimeout(job.queueTimer);
      const id = this.nextId++;
      const deadline = setTimeout(
        () => this.onDeadline(worker, id),
        job.limits.wall_time_ms + this.options.killGraceMs,
      );
      worker.current = { id, job, deadline };
      this.send(worker, id, job);
    }
  }

  private send(worker: Worker, id: number, job: Job): void {
    const { key, filename, source } = job.script;
    const known = worker.known.has(key);
    worker.known.add(key);
    const message: ExecMessage = {
      t: 'exec',
      id,
      script: known ? { key, filename } : { key, filename, source },
      limits: job.limits,
      args: job.args,
    };
    worker.child.send(message);
  }

  private spawn(): Promise<void> {
    const child = fork(ENTRY, [], { execArgv: EXEC_ARGV, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const worker: Worker = { child, ready: false, retired: false, startedAt: nowMs(), known: new Set() };
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
        this.dispatch();
        break;
      case 'result': {
        const current = worker.current;
        if (!current || current.id !== message.id) return;
        clearTimeout(current.deadline);
        worker.current = undefined;
        current.job.resolve(message.outcome);
        this.dispatch();
        break;
      }
      case 'need_source': {
        const current = worker.current;
        if (!current || current.id !== message.id) return;
        worker.known.delete(current.job.script.key);
        this.send(worker, current.id, current.job);
        break;
      }
    }
  }

  private onDeadline(worker: Worker, id: number): void {
    const current = worker.current;
    if (!current || current.id !== id) return;
    worker.current = undefined;
    current.job.resolve(
      failure(
        'wall_timeout',
        `the script ran past its wall-time limit of ${current.job.limits.wall_time_ms} ms and the sandbox did not stop it; its process was killed`,
        current.job,
      ),
    );
    this.options.logger.warn(
      { pid: worker.child.pid },
      'killing a sandbox process that missed an execution deadline',
    );
    worker.retired = true;
    worker.child.kill('SIGKILL');
  }

  private onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker);
    const current = worker.current;
    worker.current = undefined;
    if (current) {
      clearTimeout(current.deadline);
      current.job.resolve(
        failure(
          'sandbox_crashed',
          `the sandbox process exited (${signal ?? `code ${code}`}) during the execution`,
          current.job,
        ),
      );
    }
    if (this.stopped) return;
    if (!worker.retired) {
      this.options.logger.error(
        { pid: worker.child.pid, code, signal },
        'sandbox process exited; starting another',
      );
    }
    // Back off when processes die right after starting (a crash loop), up to 5 s.
    this.recentCrashes = nowMs() - worker.startedAt < 1000 ? this.recentCrashes + 1 : 0;
    const delay = this.recentCrashes === 0 ? 0 : Math.min(5000, 50 * 2 ** this.recentCrashes);
    setTimeout(() => {
      if (!this.stopped) void this.spawn();
    }, delay).unref();
  }
}

function failure(kind: FailureKind, message: string, job: Job): ExecOutcome {
  return {
    ok: false,
    error: { kind, message, line: null },
    logs: [],
    dropped: 0,
    cpuMs: 0,
    wallMs: nowMs() - job.enqueued,
  };
}
