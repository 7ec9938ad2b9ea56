import { readFileSync } from 'node:fs';
import type { ScriptLimits } from '../config/schema.js';
import type { Logger } from '../logging.js';
import { nowMs } from './clock.js';
import type { EngineCapacity, IdpShare } from './limits.js';
import { processCpuMs, processRssMb, processSleeping, procStatFields } from './process-cpu.js';
import {
  type CacheEntry,
  type ChildMessage,
  type ExecMessage,
  type ExecOutcome,
  type FailureKind,
  type HttpResult,
  type InitMessage,
  MAX_ASYNC_PER_PROCESS,
  MAX_SLOTS_PER_SCRIPT,
  type ScriptArgs,
  type ScriptRef,
} from './protocol.js';
import { type Run, reapOrphanedSandboxes, SandboxProcess } from './sandbox-process.js';
import { FairQueues } from './scheduler/fair-queues.js';
import { type Job, type JobHttp, syncBudgetMs } from './scheduler/job.js';
import { ScriptHistory } from './scheduler/script-history.js';

export type { JobHttp } from './scheduler/job.js';

/** What the supervisor reports as it goes (the engine's metrics). */
export interface SupervisorEvents {
  demotion(tenant: string): void;
  processStart(pool: 'base' | 'elastic' | 'demoted'): void;
  processExit(cause: string, tenant: string): void;
}

export interface SupervisorOptions {
  capacity: EngineCapacity;
  init: Omit<InitMessage, 't'>;
  logger: Logger;
  events?: SupervisorEvents;
}

/** At most this many executions are in one process's pipe: the running one and those behind it. */
const MAX_PIPELINE_DEPTH = 16;
/** The CPU throttle's cycle, in ticks (100 ms). */
const THROTTLE_PERIOD_TICKS = 10;
/** A running execution's process CPU is first sampled once it has run this long (quick ones never are). */
const CPU_SAMPLE_AFTER_MS = 10;
/** The share of a core its process must have used since the sample for a long run to count as burning CPU. */
const HOT_CPU_SHARE = 0.5;
/** Resident memory is checked every this many ticks (100 ms). */
const MEMORY_CHECK_TICKS = 10;
/** How often deadlines, demotions and idle processes are checked. */
const TICK_MS = 10;

const NO_EVENTS: SupervisorEvents = { demotion() {}, processStart() {}, processExit() {} };

/**
 * Runs scripts in supervised sandbox processes, sharing them fairly between IdPs.
 *
 * - Each IdP has its own queue; queues are served round-robin, so a burst on one IdP
 *   never pushes another's executions back.
 * - An IdP holds at most `share.maxProcesses` processes with running executions, and has
 *   at most `share.maxExecutions` in processes at once (waiting on outbound calls
 *   included); the excess waits in its own queue and fails at its wall-time limit.
 * - An execution that runs longer than `demoteAfterMs` has its process demoted to the
 *   lowest scheduling priority, so it burns only CPU that nobody else wants, and its
 *   script is remembered as slow: its next executions go to demoted processes. A fresh
 *   normal process replaces the demoted one (elastic capacity, up to `maxProcesses`),
 *   and demoted or extra processes are stopped once idle for `idleMs`.
 * - A synchronous execution's process is killed at its CPU budget plus `killGraceMs`
 *   (a native built-in can ignore the isolate's own timeout); one that may make outbound
 *   calls, at its wall-time limit plus the grace. Executions that were queued in a dead
 *   process's pipe and never started go back to the front of their queues; only the
 *   executions that were running in it fail.
 * - Executions that may make outbound calls run beside each other in processes with no
 *   synchronous work; a synchronous script goes into a process where others wait on
 *   outbound calls only when it is known to be quick, so their replies are never held up.
 */
export class SandboxSupervisor {
  private readonly processes = new Set<SandboxProcess>();
  private readonly queues = new FairQueues();
  private readonly history = new ScriptHistory();
  private readonly events: SupervisorEvents;
  private nextId = 1;
  private stopped = false;
  private recentCrashes = 0;
  private spawnBlockedUntil = 0;
  private dispatching = false;
  private ticker: NodeJS.Timeout | undefined;
  private ticks = 0;

  constructor(private readonly options: SupervisorOptions) {
    this.events = options.events ?? NO_EVENTS;
  }

  /** Starts the base processes and resolves when all of them are ready. */
  async start(): Promise<void> {
    const reaped = reapOrphanedSandboxes();
    if (reaped > 0)
      this.options.logger.warn({ reaped }, 'killed sandbox processes an earlier server left behind');
    const { baseProcesses } = this.options.capacity;
    await Promise.all(Array.from({ length: baseProcesses }, () => this.spawn('base')));
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  /**
   * Able to run executions: a process is ready, or one is starting while the sandbox is
   * not in a crash loop. A process being replaced (killed at a limit, demoted) leaves the
   * node ready: what arrives meanwhile waits for the new process, it does not fail.
   */
  get healthy(): boolean {
    if (this.stopped) return false;
    let starting = false;
    for (const p of this.processes) {
      if (p.usable) return true;
      starting ||= !p.ready && !p.retired;
    }
    return starting && this.recentCrashes === 0;
  }

  /** Processes by pool, executions queued and in flight per tenant: for the metrics. */
  snapshot(): {
    processes: Record<'base' | 'elastic' | 'demoted', number>;
    queued: Map<string, number>;
    inFlight: Map<string, number>;
  } {
    const processes = { base: 0, elastic: 0, demoted: 0 };
    for (const p of this.processes) if (!p.retired) processes[p.pool]++;
    const queued = new Map<string, number>();
    const inFlight = new Map<string, number>();
    for (const tenant of this.queues.all()) {
      if (tenant.length > 0) queued.set(tenant.id, tenant.length);
      if (tenant.inFlight > 0) inFlight.set(tenant.id, tenant.inFlight);
    }
    return { processes, queued, inFlight };
  }

  /** Sends new property values to every process (and to processes started later). */
  setProperties(values: Record<string, string>): void {
    this.options.init.properties = values;
    for (const p of this.processes) p.send({ t: 'properties', values });
  }

  /**
   * Runs one execution for `tenant` (an IdP id); `scratch` makes it a dry run on that
   * scratch CACHE; `http` allows outbound calls.
   */
  execute(
    tenant: string,
    script: Required<ScriptRef>,
    limits: ScriptLimits,
    share: IdpShare,
    args: ScriptArgs,
    options: {
      scratch?: CacheEntry[] | undefined;
      properties?: Record<string, string> | undefined;
      http?: JobHttp | undefined;
      record?: boolean | undefined;
    } = {},
  ): Promise<ExecOutcome> {
    return new Promise((resolve) => {
      const now = nowMs();
      const job: Job = {
        tenant: this.queues.tenant(tenant),
        script,
        limits,
        share,
        args,
        enqueued: now,
        dispatched: now,
        resolve,
      };
      if (options.scratch) job.scratch = options.scratch;
      if (options.scratch && options.properties) job.properties = options.properties;
      if (options.record) job.record = true;
      if (options.http) job.http = options.http;
      if (this.stopped) return resolve(failure('sandbox_unavailable', 'the server is shutting down', job));
      this.queues.enqueue(job);
      this.dispatch();
      // Still queued: it fails at its wall-time limit unless a process takes it first.
      if (!job.dispatchedOnce) this.armQueueTimer(job, limits.wall_time_ms);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.ticker);
    for (const job of this.queues.drain()) {
      clearTimeout(job.queueTimer);
      job.resolve(failure('sandbox_unavailable', 'the server is shutting down', job));
    }
    await Promise.all(
      [...this.processes].map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
            p.child.once('exit', () => resolve());
            p.kill();
          }),
      ),
    );
  }

  private armQueueTimer(job: Job, ms: number): void {
    job.queueTimer = setTimeout(
      () => {
        if (!job.tenant.remove(job)) return;
        job.resolve(
          failure(
            'queue_timeout',
            `no sandbox capacity for this identity provider became free within the wall-time limit of ${job.limits.wall_time_ms} ms`,
            job,
          ),
        );
      },
      Math.max(1, ms),
    );
  }

  /** Hands queued executions to processes, round-robin over tenants. */
  private dispatch(): void {
    if (this.dispatching || this.stopped) return;
    this.dispatching = true;
    try {
      this.queues.serve((job) => this.place(job));
    } finally {
      this.dispatching = false;
    }
  }

  /** Sends `job` to a process if its tenant's share and a suitable process allow; false otherwise. */
  private place(job: Job): boolean {
    const { tenant, share } = job;
    if (tenant.inFlight >= share.maxExecutions) return false;
    const expected = this.history.expectedCpuMs(job.script.key);
    // A slow script runs in demoted processes, unless none can exist (the maximum is taken by
    // normal ones): then it runs like any other rather than never.
    const slow = this.history.isSlow(job.script.key) && this.demotedPoolPossible();
    const underCap = tenant.held < share.maxProcesses;
    let target: SandboxProcess | undefined;
    if (job.http) {
      // Asynchronous: beside other asynchronous executions, packed into as few processes as possible.
      if (!underCap) return false;
      let best = -1;
      let roomLater = false;
      for (const p of this.processes) {
        if (!p.usable || !serves(p, slow)) continue;
        if (p.asyncCount >= MAX_ASYNC_PER_PROCESS) continue;
        if ((p.asyncPerKey.get(job.script.key) ?? 0) >= MAX_SLOTS_PER_SCRIPT) continue;
        // A normal process busy with a synchronous execution frees up soon (or is demoted).
        if (p.syncRuns.length > 0) {
          roomLater ||= !slow;
          continue;
        }
        if (p.asyncCount > best) {
          best = p.asyncCount;
          target = p;
        }
      }
      if (!target && !roomLater) this.grow(slow ? 'demoted' : 'async');
    } else {
      const quick = this.history.isQuick(job.script.key);
      let free: SandboxProcess | undefined;
      let behind: SandboxProcess | undefined;
      for (const p of this.processes) {
        if (!p.usable || !serves(p, slow) || p.asyncRunning > 0) continue;
        // Never make executions waiting on outbound calls wait behind a script that may run long.
        if (p.asyncCount > 0 && !quick) continue;
        if (p.syncRuns.length === 0) {
          if (!free || free.asyncCount > p.asyncCount) free = p;
        } else if (!behind && this.canQueueBehind(p, expected) && (underCap || p.heldBy(tenant))) {
          behind = p;
        }
      }
      target = free && underCap ? free : behind;
      if (!target && slow && underCap) this.grow('demoted');
    }
    if (!target) return false;
    this.send(target, job, expected);
    return true;
  }

  /**
   * An execution expected to take `expected` ms of CPU (undefined: not known yet) may wait
   * in `p`'s pipe: everything already there is known and, with it, within the pipeline
   * budget, and the running one has not overrun that budget (it may be turning slow). A
   * script not known yet joins only as the last: nothing is queued behind it.
   */
  private canQueueBehind(p: SandboxProcess, expected: number | undefined): boolean {
    const head = p.syncHead;
    const budget = this.options.capacity.pipelineBudgetMs;
    if (!head || budget <= 0 || p.syncRuns.length >= MAX_PIPELINE_DEPTH) return false;
    if (nowMs() - head.startedAt > budget) return false;
    let queued = expected ?? 0;
    for (const run of p.syncRuns) {
      if (run.expectedCpuMs === undefined) return false;
      queued += run.expectedCpuMs;
    }
    return queued <= budget;
  }

  private send(p: SandboxProcess, job: Job, expectedCpuMs?: number): void {
    clearTimeout(job.queueTimer);
    job.queueTimer = undefined;
    job.dispatchedOnce = true;
    job.dispatched = nowMs();
    const id = this.nextId++;
    const { key, filename, source } = job.script;
    // A dry run runs in a throwaway isolate, so it always carries its source.
    const known = job.scratch === undefined && p.known.has(key);
    if (job.scratch === undefined) p.known.add(key);
    const message: ExecMessage = {
      t: 'exec',
      id,
      script: known ? { key, filename } : { key, filename, source },
      limits: job.limits,
      args: job.args,
    };
    if (job.scratch) message.scratch = job.scratch;
    if (job.properties) message.properties = job.properties;
    if (job.record) message.record = true;
    if (job.http) message.http = { maxRequests: job.http.maxRequests };
    // In a demoted process of its own (it may be paused) the CPU limit is held by measuring the process's CPU.
    const cpuStartMs = !job.http && p.demoted && p.ownSession ? processCpuMs(p.pid) : undefined;
    if (cpuStartMs !== undefined) message.demoted = true;
    const watched = job.http !== undefined || cpuStartMs !== undefined;
    p.start(
      {
        ...(cpuStartMs !== undefined ? { cpuStartMs } : {}),
        id,
        job,
        sync: !job.http,
        waiting: false,
        sentAt: job.dispatched,
        startedAt: 0,
        expectedCpuMs,
        cold: message.script.source !== undefined,
        demoted: false,
        deadlineMs:
          (watched ? job.limits.wall_time_ms : syncBudgetMs(job)) + this.options.capacity.killGraceMs,
      },
      message,
    );
  }

  /** Starts a process for work that has nowhere to go: demoted, or normal for asynchronous executions. */
  private grow(kind: 'demoted' | 'async'): void {
    if (this.stopped || nowMs() < this.spawnBlockedUntil) return;
    let live = 0;
    for (const p of this.processes) {
      if (p.retired) continue;
      live++;
      // One start at a time per kind: wait for the one that is coming.
      if (!p.ready && p.demoted === (kind === 'demoted')) return;
    }
    if (live >= this.options.capacity.maxProcesses && !this.retireIdleDemoted()) return;
    void this.spawn(kind === 'demoted' ? 'demoted' : 'elastic');
  }

  /** Keeps `baseProcesses` normal processes that can take synchronous work (demoted and async-only ones do not count). */
  private replenish(): void {
    if (this.stopped || nowMs() < this.spawnBlockedUntil) return;
    const { baseProcesses, maxProcesses } = this.options.capacity;
    let live = 0;
    let syncCapable = 0;
    for (const p of this.processes) {
      if (p.retired) continue;
      live++;
      if (!p.demoted && p.asyncCount === 0) syncCapable++;
    }
    while (syncCapable < baseProcesses) {
      if (live >= maxProcesses && !this.retireIdleDemoted()) return;
      const counted = [...this.processes].filter((p) => !p.retired && !p.demoted && !p.elastic).length;
      void this.spawn(counted < baseProcesses ? 'base' : 'elastic');
      live++;
      syncCapable++;
    }
  }

  /** A demoted process of its own exists or could be started (below the maximum). */
  private demotedPoolPossible(): boolean {
    let live = 0;
    for (const p of this.processes) {
      if (p.retired) continue;
      if (p.demoted && p.ownSession) return true;
      live++;
    }
    return live < this.options.capacity.maxProcesses;
  }

  /** Stops one idle demoted process to make room; false when there is none. */
  private retireIdleDemoted(): boolean {
    for (const p of this.processes) {
      if (p.demoted && !p.retired && p.ready && p.runs.size === 0) {
        this.retire(p, 'idle');
        return true;
      }
    }
    return false;
  }

  private spawn(pool: 'base' | 'elastic' | 'demoted'): Promise<void> {
    const p = new SandboxProcess({ elastic: pool !== 'base', demoted: pool === 'demoted' });
    this.processes.add(p);
    this.events.processStart(pool);
    const ready = new Promise<void>((resolve) => {
      p.listen(
        (message) => {
          if (message.t === 'ready') resolve();
          this.onMessage(p, message);
        },
        (code, signal) => {
          resolve();
          this.onGone(p, code, signal);
        },
      );
    });
    p.child.on('error', (error) => this.options.logger.error({ err: error }, 'sandbox process error'));
    p.send({ t: 'init', ...this.options.init });
    return ready;
  }

  private onMessage(p: SandboxProcess, message: ChildMessage): void {
    switch (message.t) {
      case 'ready':
        p.ready = true;
        p.idleSince = nowMs();
        this.dispatch();
        break;
      case 'result': {
        const run = p.finish(message.id);
        if (!run) return;
        // The process gives up after a native call outlived its isolate: it exits next.
        if (message.exiting) {
          // Its isolate's thread may still spin (and a process cannot always exit past it): end it here.
          p.killCause = { cause: 'native_stuck', idp: run.job.tenant.id };
          p.kill();
        }
        const { outcome } = message;
        // CPU time, not wall time: a quick script that waited for a busy core was not long.
        const long =
          outcome.cpuMs > this.options.capacity.demoteAfterMs ||
          (!outcome.ok && LIMIT_FAILURES.has(outcome.error.kind));
        if (this.history.record(run.job.script.key, outcome.cpuMs, long, run.demoted)) {
          this.options.logger.warn(
            {
              idp: run.job.tenant.id,
              script: run.job.script.key,
              cpu_ms: outcome.cpuMs,
              failure: outcome.ok ? undefined : outcome.error.kind,
            },
            'a script ran long: its next executions run in demoted processes for a while',
          );
        }
        outcome.queueMs = run.job.dispatched - run.job.enqueued;
        run.job.resolve(outcome);
        // Demoted in the server's own scheduling group: it makes way for a process of its own.
        if (p.demoted && !p.ownSession && p.runs.size === 0) this.retire(p, 'demoted');
        this.dispatch();
        break;
      }
      case 'http': {
        const run = p.runs.get(message.id);
        if (!run?.job.http) return;
        const { call } = message;
        const reply = (result: HttpResult) => {
          p.setWaiting(run, false);
          p.send({ t: 'http_result', call, result });
        };
        p.setWaiting(run, true);
        run.job.http
          .call(message.request)
          .then(reply, () => reply({ ok: false, message: 'HTTP.request: the call failed' }));
        // While it waits, the process and the tenant's share can take something else.
        this.dispatch();
        break;
      }
      case 'loaded': {
        const run = p.runs.get(message.id);
        if (!run) return;
        // Loading is not the script running long: its demotion clock starts now.
        run.loadedAt = nowMs();
        run.cpuSample = undefined;
        break;
      }
      case 'need_source': {
        const run = p.runs.get(message.id);
        if (!run) return;
        const { key, filename, source } = run.job.script;
        const exec: ExecMessage = {
          t: 'exec',
          id: message.id,
          script: { key, filename, source },
          limits: run.job.limits,
          args: run.job.args,
        };
        if (run.job.http) exec.http = { maxRequests: run.job.http.maxRequests };
        else if (run.cpuStartMs !== undefined) exec.demoted = true;
        p.known.add(key);
        p.send(exec);
        break;
      }
    }
  }

  /** Deadlines, demotions, idle processes and the base pool, every {@link TICK_MS}. */
  private tick(): void {
    if (this.stopped) return;
    const now = nowMs();
    const { killGraceMs, idleMs, baseProcesses, demotedRunTicks } = this.options.capacity;
    // Others want the CPU (normal processes are busy, or quick work is queued): demoted
    // processes then run only part of the time.
    let contended = false;
    for (const p of this.processes) if (!p.demoted && p.runs.size > 0) contended = true;
    contended ||= this.queues.someHead((job) => !this.history.isSlow(job.script.key));
    for (const p of this.processes) {
      if (p.retired) continue;
      // Only processes whose executions are held to their CPU limit by CPU time can be paused.
      if (p.demoted && p.ownSession) this.throttle(p, contended, demotedRunTicks);
      const head = p.syncHead;
      if (head?.cpuStartMs !== undefined && !head.cancelled) this.holdToCpuLimit(p, head, head.cpuStartMs);
      if (head) {
        const ran = now - head.startedAt;
        if (ran > head.deadlineMs) {
          this.killAfterReading(
            p,
            head,
            head.deadlineMs > syncBudgetMs(head.job) + killGraceMs ? 'wall_deadline' : 'cpu_deadline',
          );
          continue;
        }
        if (!p.demoted) this.considerDemotion(p, head, now - (head.loadedAt ?? head.startedAt));
      }
      for (const run of p.runs.values()) {
        if (!run.sync && now - run.sentAt > run.deadlineMs) {
          this.killAfterReading(p, run, 'wall_deadline');
          break;
        }
      }
      if (p.retired || !p.ready || p.runs.size > 0 || now - p.idleSince <= idleMs) continue;
      // Demoted and elastic processes go once idle for long; the base pool stays.
      if (p.demoted || (p.elastic && this.normalCount() > baseProcesses)) this.retire(p, 'idle');
    }
    if (++this.ticks % MEMORY_CHECK_TICKS === 0) this.checkMemory();
    this.replenish();
    if (this.queues.waiting > 0) this.dispatch();
  }

  /**
   * The CPU throttle of demoted processes: while others want the CPU, a demoted process
   * with work runs `runTicks` ticks out of every {@link THROTTLE_PERIOD_TICKS} and is
   * paused (SIGSTOP) for the rest, so it burns at most that share of a core; otherwise it
   * runs freely (at the lowest priority).
   */
  private throttle(p: SandboxProcess, contended: boolean, runTicks: number): void {
    if (p.runs.size === 0 || !contended || runTicks >= THROTTLE_PERIOD_TICKS) {
      p.setPaused(false);
      return;
    }
    p.throttlePhase = (p.throttlePhase + 1) % THROTTLE_PERIOD_TICKS;
    p.setPaused(p.throttlePhase >= runTicks);
  }

  /** Cancels a demoted execution once its process has used more CPU than its limit since it started. */
  private holdToCpuLimit(p: SandboxProcess, run: Run, cpuStartMs: number): void {
    const cpu = processCpuMs(p.pid);
    if (cpu === undefined || cpu - cpuStartMs <= run.job.limits.cpu_time_ms) return;
    run.cancelled = true;
    p.send({ t: 'cancel', id: run.id });
  }

  private normalCount(): number {
    let n = 0;
    for (const p of this.processes) if (!p.retired && !p.demoted) n++;
    return n;
  }

  /**
   * Demotes `p` when its running execution has run past the threshold (for a cold run,
   * counted from when the process said it had loaded the script) while burning CPU: a
   * quick script that
   * only waits for a busy core is left alone. Three thresholds later one that sleeps (a
   * blocking wait) is demoted too; one still waiting for a core never is.
   */
  private considerDemotion(p: SandboxProcess, head: Run, ran: number): void {
    // Loading (compiling, the script's top level) is not demoted: it is bounded by the
    // execution's own limits, and a top level that runs past them fails and is then known slow.
    if (head.cold && head.loadedAt === undefined) return;
    const threshold = this.options.capacity.demoteAfterMs;
    if (ran < CPU_SAMPLE_AFTER_MS) return;
    const now = nowMs();
    head.cpuSample ??= { cpuMs: processCpuMs(p.pid) ?? 0, at: now };
    if (ran <= threshold) return;
    const sample = head.cpuSample;
    const busy = ((processCpuMs(p.pid) ?? 0) - sample.cpuMs) / Math.max(1, now - sample.at);
    if (busy >= HOT_CPU_SHARE) {
      this.demote(p, head);
      return;
    }
    // Not burning CPU: blocked (Atomics.wait holds the process as much as a loop) or starved
    // on an overloaded machine. Only a blocked one is demoted, three thresholds later.
    if (ran > threshold + 3 * this.options.capacity.demoteAfterMs && processSleeping(p.pid)) {
      this.demote(p, head);
    }
  }

  private demote(p: SandboxProcess, head: Run): void {
    p.demote();
    head.demoted = true;
    const routed = this.history.markSlow(head.job.script.key);
    this.events.demotion(head.job.tenant.id);
    this.options.logger.warn(
      {
        pid: p.pid,
        idp: head.job.tenant.id,
        ran_ms: Math.round(nowMs() - head.startedAt),
        // False: the first long run after many quick ones is taken for an outlier.
        next_runs_demoted: routed,
      },
      'a script ran long: its sandbox process now runs at the lowest priority',
    );
    this.replenish();
  }

  /**
   * Kills `p` for `run`'s missed deadline once the event loop has read what the process
   * sent meanwhile. Timers run before I/O in each turn: after the server's own thread was
   * held up (a long GC, a blocking call) past a deadline, the answer may already be waiting
   * in the pipe, and the process idle. So the verdict waits for this turn's poll phase.
   */
  private killAfterReading(p: SandboxProcess, run: Run, cause: 'cpu_deadline' | 'wall_deadline'): void {
    if (run.killPending) return;
    run.killPending = true;
    setImmediate(() => {
      run.killPending = false;
      if (p.runs.get(run.id) === run && !p.retired && !this.stopped) this.killFor(p, run, cause);
    });
  }

  /** Kills a process whose execution missed its deadline; the execution fails now, the rest when the process is gone. */
  private killFor(p: SandboxProcess, run: Run, cause: 'cpu_deadline' | 'wall_deadline' | 'memory'): void {
    const { job } = run;
    // What waits behind it in the pipe never starts: it goes to another process when this one is gone.
    p.finish(run.id, false);
    this.history.markSlow(job.script.key);
    p.killCause = { cause, idp: job.tenant.id };
    job.resolve(killFailure(cause, job, this.options.capacity.maxRssMb));
    // What the process was doing, for whoever reads why: running, starved, blocked, loading.
    const stat = procStatFields(p.pid);
    const cpuNow = processCpuMs(p.pid);
    const sample = run.cpuSample;
    this.options.logger.warn(
      {
        pid: p.pid,
        idp: job.tenant.id,
        cause,
        ran_ms: Math.round(nowMs() - run.startedAt),
        loading: run.cold && run.loadedAt === undefined,
        state: stat?.[0],
        // Where its main thread sleeps: ep_poll (idle, waiting for a message), a futex (a lock), ...
        wchan: readProcText(`/proc/${p.pid}/wchan`),
        demoted: p.demoted,
        pipe: p.syncRuns.length,
        ...(sample && cpuNow !== undefined
          ? {
              cpu_ms_since_sample: Math.round(cpuNow - sample.cpuMs),
              sample_age_ms: Math.round(nowMs() - sample.at),
            }
          : {}),
      },
      cause === 'memory'
        ? 'killing a sandbox process past its resident-memory limit'
        : 'killing a sandbox process that missed an execution deadline',
    );
    p.kill();
    this.replenish();
  }

  /**
   * Holds every process to `maxRssMb` of resident memory (what the V8 heap limit does not
   * bound: ICU objects, array buffers, native state). A process over it with an execution
   * running is killed and that execution fails with `out_of_memory` (what waits in its pipe
   * goes elsewhere); an idle one is replaced quietly.
   */
  private checkMemory(): void {
    const { maxRssMb } = this.options.capacity;
    for (const p of this.processes) {
      if (p.retired || !p.ready) continue;
      const rss = processRssMb(p.pid);
      if (rss === undefined || rss <= maxRssMb) continue;
      const running = p.syncHead ?? [...p.runs.values()].find((run) => !run.waiting);
      if (running) this.killFor(p, running, 'memory');
      else if (p.runs.size === 0) {
        this.options.logger.warn(
          { pid: p.pid, rss_mb: Math.round(rss) },
          'replacing an idle sandbox process past its resident-memory limit',
        );
        this.retire(p, 'memory');
      }
    }
  }

  private retire(p: SandboxProcess, cause: string): void {
    p.killCause = { cause, idp: '' };
    p.retired = true;
    p.setPaused(false);
    p.child.disconnect?.();
    setTimeout(() => {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }, 1000).unref();
  }

  /**
   * A process ended. Executions it was running fail; synchronous ones still waiting in
   * its pipe never started, so they go back to the front of their queues.
   */
  private onGone(p: SandboxProcess, code: number | null, signal: string | null): void {
    this.processes.delete(p);
    const requeue: Job[] = [];
    let culprit = '';
    for (const run of [...p.runs.values()]) {
      p.finish(run.id);
      if (run.sync && run.startedAt === 0 && !this.stopped) {
        requeue.push(run.job);
        continue;
      }
      if (run.sync || !culprit) culprit = run.job.tenant.id;
      if (run.sync) this.history.markSlow(run.job.script.key);
      run.job.resolve(
        failure(
          'sandbox_crashed',
          `the sandbox process exited (${signal ?? `code ${code}`}) during the execution`,
          run.job,
        ),
      );
    }
    this.events.processExit(
      p.killCause?.cause ?? (this.stopped ? 'shutdown' : 'crash'),
      p.killCause?.idp ?? culprit,
    );
    if (requeue.length > 0) {
      this.options.logger.info(
        { pid: p.pid, count: requeue.length },
        'executions queued in a lost sandbox process had not started: they go to another',
      );
    }
    for (const job of requeue.reverse()) {
      this.queues.enqueue(job, true);
      this.armQueueTimer(job, job.limits.wall_time_ms - (nowMs() - job.enqueued));
    }
    if (this.stopped) return;
    if (!p.killCause) {
      this.options.logger.error({ pid: p.pid, code, signal }, 'sandbox process exited; starting another');
      // A process that dies on its own soon after starting, with nothing to blame, means
      // the sandbox cannot start here (a crash loop): back off, up to 5 s.
      const early = nowMs() - p.startedAt < 1000 && culprit === '';
      this.recentCrashes = early ? this.recentCrashes + 1 : 0;
      if (this.recentCrashes > 0)
        this.spawnBlockedUntil = nowMs() + Math.min(5000, 50 * 2 ** this.recentCrashes);
    }
    this.replenish();
    this.dispatch();
  }
}

/** Scripts known to run long go to demoted processes of their own session; the others to normal ones. */
const serves = (p: SandboxProcess, slow: boolean): boolean => (slow ? p.demoted && p.ownSession : !p.demoted);

/** Failures that mean the script hit a limit: it is then treated as slow. */
const LIMIT_FAILURES = new Set<FailureKind>([
  'cpu_timeout',
  'wall_timeout',
  'out_of_memory',
  'sandbox_crashed',
]);

/** The failure of an execution whose process was killed for it. */
function killFailure(
  cause: 'cpu_deadline' | 'wall_deadline' | 'memory',
  job: Job,
  maxRssMb: number,
): ExecOutcome {
  switch (cause) {
    case 'cpu_deadline':
      // The budget is the tighter of the two limits; name the one it was.
      return job.limits.wall_time_ms < job.limits.cpu_time_ms
        ? failure(
            'wall_timeout',
            `the script ran past its wall-time limit of ${job.limits.wall_time_ms} ms and did not stop (a native call the isolate cannot interrupt); its process was killed`,
            job,
          )
        : failure(
            'cpu_timeout',
            `the script used more than its CPU-time limit of ${job.limits.cpu_time_ms} ms and did not stop (a native call the isolate cannot interrupt); its process was killed`,
            job,
          );
    case 'wall_deadline':
      return failure(
        'wall_timeout',
        `the script ran past its wall-time limit of ${job.limits.wall_time_ms} ms and the sandbox did not stop it; its process was killed`,
        job,
      );
    case 'memory':
      return failure(
        'out_of_memory',
        `the script's sandbox process grew past its resident-memory limit of ${maxRssMb} MiB (memory outside the script's heap); its process was killed`,
        job,
      );
  }
}

function failure(kind: FailureKind, message: string, job: Job): ExecOutcome {
  const now = nowMs();
  return {
    ok: false,
    error: { kind, message, line: null },
    logs: [],
    dropped: 0,
    cpuMs: 0,
    wallMs: now - job.dispatched,
    queueMs: (job.dispatchedOnce ? job.dispatched : now) - job.enqueued,
  };
}

/** A small /proc file's text, or undefined when it cannot be read (not Linux, process gone). */
function readProcText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
