import { nowMs } from '../clock.js';

/** How long a script stays known as slow after its first long run; each further one doubles it. */
const SLOW_MEMORY_MS = 60_000;
/** The longest a script stays known as slow after its last long run. */
const MAX_SLOW_MEMORY_MS = 30 * 60_000;
/** A script whose recent runs each used less CPU than this is known as quick (wall time varies with load). */
const QUICK_RUN_MS = 5;
/** Runs that make a script's recent CPU known: after this many, other executions may wait behind it in a pipe. */
const RECENT_RUNS = 3;
/**
 * Quick runs in a row after which a script's first long run counts as an outlier (a GC
 * pause, a starved machine): the process running it is still demoted, but the script's
 * next executions stay in normal processes. A second long run within
 * {@link SLOW_MEMORY_MS} is never forgiven.
 */
const OUTLIER_AFTER_QUICK_RUNS = 100;
/** Scripts remembered at once; the oldest is forgotten past this. */
const MAX_ENTRIES = 10_000;

interface Entry {
  /** Until when the script is routed to demoted processes. */
  slowUntil: number;
  /** CPU time (ms) of its last runs, newest last, at most {@link RECENT_RUNS}. */
  recentCpuMs: number[];
  /** Long runs so far (reset when it is back in normal processes and runs short). */
  strikes: number;
  /** Runs in a row that were not long. */
  quickRuns: number;
  /** When a long run was last forgiven as an outlier. */
  forgivenAt: number;
}

/**
 * What the supervisor remembers of each compiled script (by key: IdP, kind, version, heap):
 * whether it ran long recently (then it runs in demoted processes, at low priority, where
 * it cannot slow anyone else down) and how much CPU its recent runs took (then other
 * executions may be queued behind it in a process's pipe, within the pipeline budget).
 */
export class ScriptHistory {
  private readonly entries = new Map<string, Entry>();

  isSlow(key: string): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && entry.slowUntil > nowMs();
  }

  isQuick(key: string): boolean {
    const expected = this.expectedCpuMs(key);
    return expected !== undefined && expected < QUICK_RUN_MS;
  }

  /**
   * The CPU time (ms) the script's next run is expected to take, the most of its last
   * {@link RECENT_RUNS}; undefined while that is unknown or the script is known slow.
   */
  expectedCpuMs(key: string): number | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.recentCpuMs.length < RECENT_RUNS || entry.slowUntil > nowMs()) return undefined;
    return Math.max(...entry.recentCpuMs);
  }

  /**
   * The script ran long, crashed or was killed: route it to demoted processes for a while.
   * Returns false when the run is forgiven as an outlier (see {@link OUTLIER_AFTER_QUICK_RUNS}):
   * a high-rate quick script must not spend a minute throttled in demoted processes for
   * one GC pause.
   */
  markSlow(key: string): boolean {
    const entry = this.entry(key);
    const now = nowMs();
    const outlier =
      entry.strikes === 0 &&
      entry.quickRuns >= OUTLIER_AFTER_QUICK_RUNS &&
      now - entry.forgivenAt > SLOW_MEMORY_MS;
    entry.quickRuns = 0;
    if (outlier) {
      entry.forgivenAt = now;
      return false;
    }
    entry.strikes = Math.min(entry.strikes + 1, 16);
    entry.slowUntil = now + Math.min(MAX_SLOW_MEMORY_MS, SLOW_MEMORY_MS * 2 ** (entry.strikes - 1));
    entry.recentCpuMs.length = 0;
    return true;
  }

  /**
   * A finished execution: `long` when it used more than the demotion threshold or failed
   * on a limit. One that was demoted while running but turns out not to have been long
   * (it waited for its process, not for itself) clears the mark its demotion made.
   * Returns true when the script is now routed to demoted processes.
   */
  record(key: string, cpuMs: number, long: boolean, demoted: boolean): boolean {
    if (long) return this.markSlow(key);
    const entry = this.entry(key);
    entry.quickRuns++;
    if (demoted) {
      // Demoted by mistake (it waited for a busy core): forget the strike the demotion made.
      entry.slowUntil = 0;
      entry.strikes = Math.max(0, entry.strikes - 1);
    } else if (entry.slowUntil <= nowMs()) {
      entry.strikes = 0;
    }
    entry.recentCpuMs.push(cpuMs);
    if (entry.recentCpuMs.length > RECENT_RUNS) entry.recentCpuMs.shift();
    return false;
  }

  private entry(key: string): Entry {
    let entry = this.entries.get(key);
    if (!entry) {
      if (this.entries.size >= MAX_ENTRIES) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      entry = { slowUntil: 0, recentCpuMs: [], strikes: 0, quickRuns: 0, forgivenAt: -Infinity };
      this.entries.set(key, entry);
    }
    return entry;
  }
}
