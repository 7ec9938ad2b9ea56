import { performance } from 'node:perf_hooks';

/** Milliseconds on a monotonic clock. */
export const nowMs = (): number => performance.now();
