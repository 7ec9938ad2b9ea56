import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ScriptLimits } from '../config/schema.js';
import type { Logger } from '../logging.js';
import type { ScriptHttpRequest } from '../outbound/types.js';
import { nowMs } from './clock.js';
import type {
  CacheEntry,
  ChildMessage,
  ExecMessage,
  ExecOutcome,
  FailureKind,
  HttpResult,
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

/** An execution's outbound calls: the sandbox asks, `call` (the server's client) answers. */
export interface JobHttp {
  maxRequests: number;
  call: (request: ScriptHttpRequest) => Promise<HttpResult>;
}

/** An execution waiting for, or running in, a sandbox process. */
interface Job {
  script: Required<ScriptRef>;
  limits: ScriptLimits;
  args: ScriptArgs;
  scratch?: CacheEntry[];
  /** Outbound calls: allowed, how many, and who makes them. */
  http?: JobHttp;
  enqueued: number;
  resolve: (outcome: ExecOutcome) => void;
  queueTimer?: NodeJS.Timeout;
}

interface Sent {
  job: Job;
  deadline: NodeJS.Timeout;
  /** True while the execution waits for an outbound call: it then holds no CPU in its process. */
  waiting: boolean;
}

interface Worker {
  child: ChildProcess;
  ready: boolean;
  /** Killed or being killed: takes no more work. */
  retired: boolean;
  startedAt: number;
  /** Executions sent, in order: the process runs the first; the others wait in its pipe. */
  sent: Map<number, Sent>;
  /** When the running execution started (reached the head of `sent`). */
  headSince: number;
  /** Script keys whose source this process has been sent. */
  known: Set<string>;
}

/** At most this many executions (most of them waiting on outbound calls) are in one process at once. */
const MAX_WAITING_PER_PROCESS = 64;

/** At most this many executions are sent to one process at once. */
const PIPELINE_DEPTH = 2;
/**
 * An execution is queued behind a running one only while that one is younger than
 * this; a script that has run longer may be slow, and nothing should wait behind it.
 */
const PIPELINE_BEHIND_MS = 2;

const here = fileURLToPath(import.meta.url);
const runningFromSource = here.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(`./sandbox/main.${runningFromSource ? 'ts' : 'js'}`, import.meta.url));
const EXEC_ARGV = [
  '--no-node-snapshot',
  ...(runningFromSource ? ['--import', import.meta.resolve('tsx')] : []),
];

/**
 * Runs scripts in supervised sandbox processes. Executions wait in one queue and go
 * to a free process; each process runs one at a time, so a script that spins for its
 * whole budget holds up only its own process. So that a process does not sit idle
 * while its result travels back, one more execution may wait in the pipe of a
 * process whose current execution started under {@link PIPELINE_BEHIND_MS} ago. A
 * process that does not answer by an execution's deadline plus a grace period is
 * killed and replaced, as is one that exits; only executions sent to it fail.
 * An execution waiting on an outbound call holds no CPU, so its process counts as free
 * meanwhile and may be sent more work (the sandbox runs it in another isolate).
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

  /** Runs one execution; `scratch` makes it a dry run on that scratch CACHE; `http` allows outbound calls. */
  execute(
    script: Required<ScriptRef>,
    limits: ScriptLimits,
    args: ScriptArgs,
    options: { scratch?: CacheEntry[] | undefined; http?: JobHttp | undefined } = {},
  ): Promise<ExecOutcome> {
    return new Promise((resolve) => {
      const job: Job = { script, limits, args, enqueued: nowMs(), resolve };
      if (options.scratch) job.scratch = options.scratch;
      if (options.http) job.http = options.http;
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

  /** Hands queued executions to idle processes, then to processes that just started one; oldest first. */
  private dispatch(): void {
    for (const pipelining of [false, true]) {
      for (const worker of this.workers) {
        if (this.queue.length === 0) return;
        if (!worker.ready || worker.retired || !worker.child.connected) continue;
        if (pipelining ? !this.canQueueBehind(worker) : !this.isFree(worker)) continue;
        this.sendNext(worker);
      }
    }
  }

  /**
   * Free: nothing sent runs in it. Executions waiting on an outbound call do not count
   * (the process runs other slots meanwhile), up to {@link MAX_WAITING_PER_PROCESS}.
   */
  private isFree(worker: Worker): boolean {
    if (worker.sent.size === 0) return true;
    if (worker.sent.size >= MAX_WAITING_PER_PROCESS) return false;
    for (const sent of worker.sent.values()) if (!sent.waiting) return false;
    return true;
  }

  private canQueueBehind(worker: Worker): boolean {
    return (
      worker.sent.size > 0 &&
      worker.sent.size < PIPELINE_DEPTH &&
      nowMs() - worker.headSince < PIPELINE_BEHIND_MS
    );
  }

  private sendNext(worker: Worker): void {
    const job = this.queue.shift() as Job;
    clearTimeout(job.queueTimer);
    const id = this.nextId++;
    // An execution queued behind another may first wait for that one's whole wall time.
    let ahead = 0;
    for (const sent of worker.sent.values()) if (!sent.waiting) ahead += sent.job.limits.wall_time_ms;
    const deadline = setTimeout(
      () => this.onDeadline(worker, id),
      ahead + job.limits.wall_time_ms + this.options.killGraceMs,
    );
    if (worker.sent.size === 0) worker.headSince = nowMs();
    worker.sent.set(id, { job, deadline, waiting: false });
    this.send(worker, id, job);
  }

  private send(worker: Worker, id: number, job: Job): void {
    const { key, filename, source } = job.script;
    // A dry run runs in a throwaway isolate, so it always carries its source.
    const known = job.scratch === undefined && worker.known.has(key);
    if (job.scratch === undefined) worker.known.add(key);
    const message: ExecMessage = {
      t: 'exec',
      id,
      script: known ? { key, filename } : { key, filename, source },
      limits: job.limits,
      args: job.args,
    };
    if (job.scratch) message.scratch = job.scratch;
    if (job.http) message.http = { maxRequests: job.http.maxRequests };
    worker.child.send(message);
  }

  private spawn(): Promise<void> {
    const child = fork(ENTRY, [], { execArgv: EXEC_ARGV, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const worker: Worker = {
      child,
      ready: false,
      retired: false,
      startedAt: nowMs(),
      known: new Set(),
      sent: new Map(),
      headSince: 0,
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
        this.dispatch();
        break;
      case 'result': {
        const sent = worker.sent.get(message.id);
        if (!sent) return;
        clearTimeout(sent.deadline);
        worker.sent.delete(message.id);
        worker.headSince = nowMs();
        sent.job.resolve(message.outcome);
        this.dispatch();
        break;
      }
      case 'http': {
        const sent = worker.sent.get(message.id);
        if (!sent?.job.http) return;
        const { call } = message;
        const reply = (result: HttpResult) => {
          sent.waiting = false;
          if (worker.child.connected) worker.child.send({ t: 'http_result', call, result });
        };
        sent.waiting = true;
        sent.job.http
          .call(message.request)
          .then(reply, () => reply({ ok: false, message: 'HTTP.request: the call failed' }));
        // While it waits, the process can run something else.
        this.dispatch();
        break;
      }
      case 'need_source': {
        const sent = worker.sent.get(message.id);
        if (!sent) return;
        worker.known.delete(sent.job.script.key);
        this.send(worker, message.id, sent.job);
        break;
      }
    }
  }

  private onDeadline(worker: Worker, id: number): void {
    const sent = worker.sent.get(id);
    if (!sent) return;
    worker.sent.delete(id);
    sent.job.resolve(
      failure(
        'wall_timeout',
        `the script ran past its wall-time limit of ${sent.job.limits.wall_time_ms} ms and the sandbox did not stop it; its process was killed`,
        sent.job,
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
    for (const sent of worker.sent.values()) {
      clearTimeout(sent.deadline);
      sent.job.resolve(
        failure(
          'sandbox_crashed',
          `the sandbox process exited (${signal ?? `code ${code}`}) during the execution`,
          sent.job,
        ),
      );
    }
    worker.sent.clear();
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
