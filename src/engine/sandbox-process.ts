import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { nowMs } from './clock.js';
import { procStatFields } from './process-cpu.js';
import type { ChildMessage, ChildPacket, ExecMessage, ParentMessage, ParentPacket } from './protocol.js';
import type { Tenant } from './scheduler/fair-queues.js';
import type { Job } from './scheduler/job.js';

const here = fileURLToPath(import.meta.url);
const runningFromSource = here.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(`./sandbox/main.${runningFromSource ? 'ts' : 'js'}`, import.meta.url));
const EXEC_ARGV = [
  '--no-node-snapshot',
  ...(runningFromSource ? ['--import', import.meta.resolve('tsx')] : []),
];

/**
 * Kills sandbox processes left behind by an earlier server that died without stopping them
 * (SIGKILL): a demoted one paused at that moment stays stopped forever, since its session of
 * its own is not an orphaned process group the kernel would wake. A sandbox process whose
 * parent is gone (adopted by init) is never doing useful work. Linux only; best effort.
 */
export function reapOrphanedSandboxes(): number {
  let reaped = 0;
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (procStatFields(entry)?.[1] !== '1') continue;
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(ENTRY)) continue;
      process.kill(Number(entry), 'SIGKILL');
      reaped++;
    } catch {
      // gone meanwhile, or not ours to signal
    }
  }
  return reaped;
}

/** The nice value of a demoted process: it gets the CPU only when nobody else wants it. */
export const DEMOTED_NICE = 19;

/** Which pool a process is in. */
export type Pool = 'base' | 'elastic' | 'demoted';

/** An execution sent to a process. */
export interface Run {
  id: number;
  job: Job;
  /** Runs synchronously on the process's thread (no outbound calls). */
  sync: boolean;
  /** Waiting for an outbound call's answer: holds no CPU. */
  waiting: boolean;
  sentAt: number;
  /** When it started running; 0 for a synchronous execution still queued behind another in the pipe. */
  startedAt: number;
  /** CPU (ms) its script's recent runs took at most; undefined when not known (see ScriptHistory). */
  expectedCpuMs: number | undefined;
  /** When the process said it had loaded the script into a fresh isolate (a cold run), and starts it. */
  loadedAt?: number;
  /** The process has to compile the script first (it was sent the source). */
  cold: boolean;
  /** Its process was demoted while it ran. */
  demoted: boolean;
  /** How long it may run (from `startedAt`) before its process is killed. */
  deadlineMs: number;
  /** In a demoted process: the process's CPU time (ms) when it started, to hold it to its CPU limit. */
  cpuStartMs?: number;
  /** Past its deadline: its process is killed after the turn's I/O is read (unless it answered). */
  killPending?: boolean;
  /** Told to stop: it used up its CPU limit. */
  cancelled?: boolean;
  /** Its process's CPU time (ms) when the supervisor first saw it running long, and when. */
  cpuSample?: { cpuMs: number; at: number };
}

/**
 * One sandbox process and what the supervisor has sent it. Synchronous executions run
 * one after another in the order sent (the first runs, the others wait in the pipe);
 * asynchronous ones (those that may make outbound calls) run beside them on isolated-vm's
 * threads and mostly wait. The counters here are what the scheduler decides with.
 */
export class SandboxProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startedAt = nowMs();
  ready = false;
  /** Killed or being stopped: takes no more work. */
  retired = false;
  /** Its priority was lowered: it serves only scripts known to run long. */
  demoted = false;
  /** Started beyond the base pool; stopped again when idle. */
  elastic: boolean;
  /** Since when it has had nothing to run (for idle retirement). */
  idleSince = nowMs();
  /** Paused (SIGSTOP) by the CPU throttle of demoted processes. */
  paused = false;
  /** Where it is in the throttle's cycle, in ticks. */
  throttlePhase = 0;
  /** Why it was killed, once it was (for the metrics and the failures of what ran in it). */
  killCause: { cause: string; idp: string } | undefined;
  readonly runs = new Map<number, Run>();
  /** Synchronous executions in order; the first is running. */
  readonly syncRuns: Run[] = [];
  asyncCount = 0;
  asyncRunning = 0;
  /** Asynchronous executions per script key (each needs an isolate of its own in the process). */
  readonly asyncPerKey = new Map<string, number>();
  /** Synchronous executions per tenant: a tenant holds one unit of capacity per process it has any in. */
  private readonly syncPerTenant = new Map<Tenant, number>();
  /** Script keys whose source this process has been sent. */
  readonly known = new Set<string>();
  /**
   * In a session (and so a scheduling autogroup) of its own. A process that shares the
   * server's is stopped once its demoted execution ends, since its lowered nice ranks it
   * only within the server's group.
   */
  readonly ownSession: boolean;

  constructor(options: { elastic: boolean; demoted: boolean }) {
    this.elastic = options.elastic;
    // A session of its own (setsid): where the kernel groups CPU time by session
    // (autogroup), a demoted process's group can then be weighted down as a whole.
    this.ownSession = options.demoted || process.env.REGISTRAR_SANDBOX_SESSIONS === 'all';
    this.child = fork(ENTRY, [], {
      execArgv: EXEC_ARGV,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: this.ownSession,
    });
    this.pid = this.child.pid ?? -1;
    if (options.demoted) this.demote();
  }

  get pool(): Pool {
    return this.demoted ? 'demoted' : this.elastic ? 'elastic' : 'base';
  }

  /** Ready, not retired, channel open. */
  get usable(): boolean {
    return this.ready && !this.retired && this.child.connected;
  }

  get syncHead(): Run | undefined {
    return this.syncRuns[0];
  }

  heldBy(tenant: Tenant): boolean {
    return (this.syncPerTenant.get(tenant) ?? 0) > 0;
  }

  /**
   * Queues a message; what is queued in one event-loop turn goes out as one IPC write
   * (an array), so a busy server wakes the process once per batch, not per execution.
   * `setImmediate`, not a microtask: the requests of one turn arrive in separate I/O
   * callbacks, and microtasks run after each of them.
   */
  send(message: ParentMessage): void {
    if (this.outbox.length === 0) setImmediate(this.flush);
    this.outbox.push(message);
  }

  private readonly outbox: ParentMessage[] = [];
  private readonly flush = (): void => {
    const batch = this.outbox.splice(0);
    if (batch.length === 0 || !this.child.connected) return;
    this.child.send((batch.length === 1 ? batch[0] : batch) as ParentPacket);
  };

  /** Sends an execution and counts it. */
  start(run: Run, message: ExecMessage): void {
    const { tenant } = run.job;
    this.runs.set(run.id, run);
    tenant.inFlight++;
    if (run.sync) {
      const count = this.syncPerTenant.get(tenant) ?? 0;
      if (count === 0) tenant.held++;
      this.syncPerTenant.set(tenant, count + 1);
      if (this.syncRuns.length === 0) run.startedAt = run.sentAt;
      this.syncRuns.push(run);
    } else {
      run.startedAt = run.sentAt;
      this.asyncCount++;
      this.asyncRunning++;
      tenant.held++;
      const key = run.job.script.key;
      this.asyncPerKey.set(key, (this.asyncPerKey.get(key) ?? 0) + 1);
    }
    this.send(message);
  }

  /**
   * Forgets an execution (finished, or failed with the process); returns it. When a
   * synchronous one finishes, the next in the pipe starts, unless `nextStarts` is false
   * (the process is being killed).
   */
  finish(id: number, nextStarts = true): Run | undefined {
    const run = this.runs.get(id);
    if (!run) return undefined;
    this.runs.delete(id);
    const { tenant } = run.job;
    tenant.inFlight--;
    if (run.sync) {
      const count = (this.syncPerTenant.get(tenant) ?? 1) - 1;
      if (count === 0) {
        tenant.held--;
        this.syncPerTenant.delete(tenant);
      } else {
        this.syncPerTenant.set(tenant, count);
      }
      const at = this.syncRuns.indexOf(run);
      if (at !== -1) this.syncRuns.splice(at, 1);
      // The next one in the pipe starts now (the process has already begun it).
      const next = this.syncRuns[0];
      if (at === 0 && nextStarts && next && next.startedAt === 0) next.startedAt = nowMs();
    } else {
      this.asyncCount--;
      if (!run.waiting) {
        this.asyncRunning--;
        tenant.held--;
      }
      const key = run.job.script.key;
      const left = (this.asyncPerKey.get(key) ?? 1) - 1;
      if (left === 0) this.asyncPerKey.delete(key);
      else this.asyncPerKey.set(key, left);
    }
    if (this.runs.size === 0) this.idleSince = nowMs();
    return run;
  }

  /** An asynchronous execution started or stopped waiting for an outbound call. */
  setWaiting(run: Run, waiting: boolean): void {
    if (run.sync || run.waiting === waiting || !this.runs.has(run.id)) return;
    run.waiting = waiting;
    this.asyncRunning += waiting ? -1 : 1;
    run.job.tenant.held += waiting ? -1 : 1;
  }

  /**
   * Lowers the process's scheduling priority to nice {@link DEMOTED_NICE}, every thread of
   * it (on Linux the nice value is per thread; threads started later inherit it). An
   * unprivileged process cannot raise it again, so a demoted process stays demoted.
   */
  demote(): void {
    this.demoted = true;
    let tids: number[] = [this.pid];
    try {
      tids = readdirSync(`/proc/${this.pid}/task`).map(Number);
    } catch {
      // not Linux, or already gone: the main thread only
    }
    for (const tid of tids) {
      try {
        setPriority(tid, DEMOTED_NICE);
      } catch {
        // the thread ended meanwhile
      }
    }
    if (!this.ownSession) return;
    try {
      // With autogroup scheduling, nice only ranks threads within their session's group;
      // the group's own weight is set here (its session is the process's own when it was
      // started demoted).
      writeFileSync(`/proc/${this.pid}/autogroup`, String(DEMOTED_NICE));
    } catch {
      // no autogroup scheduling here (or under a cgroup, where nice is what counts)
    }
  }

  kill(): void {
    this.retired = true;
    this.child.kill('SIGKILL');
  }

  /** Pauses or resumes the process (the CPU throttle of demoted processes). */
  setPaused(paused: boolean): void {
    if (this.paused === paused || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.paused = paused;
    this.child.kill(paused ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Registers the process's messages and its end. */
  listen(
    onMessage: (message: ChildMessage) => void,
    onGone: (code: number | null, signal: string | null) => void,
  ): void {
    this.child.on('message', (packet: ChildPacket) => {
      if (!Array.isArray(packet)) return onMessage(packet);
      for (const message of packet) onMessage(message);
    });
    let exit: [number | null, string | null] = [null, null];
    this.child.once('exit', (code, signal) => {
      exit = [code, signal];
    });
    // 'close' comes after the IPC channel has delivered everything the process sent.
    this.child.once('close', () => onGone(...exit));
  }
}
