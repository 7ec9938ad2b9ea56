/**
 * Fixed-window rate limiting, shared by `RATE.take` in scripts and the declarative
 * limits of the HTTP routes: a window of `windowSeconds` starts at every multiple of it
 * since the Unix epoch, so every node (and every sandbox process) computes the same
 * window for the same moment, and one atomic increment of the window's counter decides.
 * Plain functions only: the sandbox process loads this file.
 */

/** What a window says about one more call. */
export interface WindowVerdict {
  allowed: boolean;
  /** Calls left in the window after this one (never negative). */
  remaining: number;
  /** Whole seconds until the window ends (at least 1). */
  resetSeconds: number;
}

/** The window `now` (ms) falls in: its index and when it ends (ms). */
export function fixedWindow(now: number, windowSeconds: number): { index: number; endsAt: number } {
  const windowMs = windowSeconds * 1000;
  const index = Math.floor(now / windowMs);
  return { index, endsAt: (index + 1) * windowMs };
}

/** The verdict for a window whose count, this call included, is `count`. */
export function verdict(count: number, limit: number, now: number, endsAt: number): WindowVerdict {
  return {
    allowed: count <= limit,
    remaining: Math.max(0, limit - count),
    resetSeconds: Math.max(1, Math.ceil((endsAt - now) / 1000)),
  };
}

/**
 * How long a window's counter is kept: to the window's end, plus a second of slack so a
 * node whose clock is a little behind still finds the count.
 */
export function counterTtlMs(now: number, endsAt: number): number {
  return endsAt - now + 1000;
}
