import { performance } from 'node:perf_hooks';
import type ivm from 'isolated-vm';

/** Milliseconds on a monotonic clock. */
export const nowMs = (): number => performance.now();

interface Watch {
  cpuStart: bigint;
  limitNs: bigint;
  onBreach: () => void;
}

/**
 * Polls the CPU time of running isolates and calls `onBreach` once for any that
 * passed its limit. CPU time excludes waits for host calls (CACHE), so a script is
 * charged only for the work it does. The timer runs only while something is watched.
 */
export class CpuWatchdog {
  private readonly watches = new Map<ivm.Isolate, Watch>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 5) {}

  watch(isolate: ivm.Isolate, cpuStart: bigint, limitMs: number, onBreach: () => void): void {
    this.watches.set(isolate, { cpuStart, limitNs: BigInt(Math.round(limitMs * 1e6)), onBreach });
    this.timer ??= setInterval(() => this.check(), this.intervalMs);
  }

  unwatch(isolate: ivm.Isolate): void {
    this.watches.delete(isolate);
    if (this.watches.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private check(): void {
    for (const [isolate, watch] of this.watches) {
      if (isolate.isDisposed) continue;
      if (isolate.cpuTime - watch.cpuStart > watch.limitNs) {
        this.watches.delete(isolate);
        watch.onBreach();
      }
    }
  }
}
