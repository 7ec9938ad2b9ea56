import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux whatever the kernel's HZ). */
const TICKS_PER_SECOND = 100;

/**
 * The fields of /proc/PID/stat after the command name (which may hold spaces and
 * parentheses): index 0 is the state, 1 the parent pid, 11 and 12 utime and stime.
 * Undefined where there is no /proc or the process is gone.
 */
export function procStatFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system, all threads) a process has used so far, in ms, read from
 * /proc (10 ms resolution); undefined where there is no /proc or the process is gone.
 * isolated-vm reports a running isolate's CPU time as wall time since it was entered, so
 * this is how the CPU of an execution that may be paused or starved is measured.
 */
export function processCpuMs(pid: number): number | undefined {
  const fields = procStatFields(pid);
  if (!fields) return undefined;
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
}

/** Bytes per page of /proc/PID/statm (4 KiB on the platforms Registrar runs on). */
const PAGE_BYTES = 4096;

/** Resident memory of a process in MiB, read from /proc; undefined where there is no /proc or it is gone. */
export function processRssMb(pid: number): number | undefined {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return Number.isFinite(pages) ? (pages * PAGE_BYTES) / 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}

/** True when the process (its main thread) is asleep, not running or waiting for a core; undefined when unknown. */
export function processSleeping(pid: number): boolean | undefined {
  const state = procStatFields(pid)?.[0];
  return state === undefined ? undefined : state === 'S' || state === 'D';
}
