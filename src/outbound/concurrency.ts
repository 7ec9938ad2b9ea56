/**
 * A per-key limit on concurrent work (the outbound client keys it by IdP): at most `limit`
 * holders per key; further callers wait in FIFO order until a slot frees or their own
 * deadline passes.
 */

/** Gives a slot back; calling it more than once has no further effect. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Lane {
  active: number;
  readonly waiting: Waiter[];
}

/** setTimeout fires at once for delays above this; longer waits are capped to it. */
const MAX_TIMER_MS = 2_147_483_647;

/** A FIFO counting semaphore per key; keys with no holders and no waiters are forgotten. */
export class KeyedConcurrencyLimiter {
  readonly #limit: number;
  readonly #lanes = new Map<string, Lane>();

  /** `limit` is the number of concurrent holders per key (a positive integer). */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    }
    this.#limit = limit;
  }

  /**
   * Takes a slot for `key`, waiting behind earlier callers until `until` (a
   * `performance.now()` time). Resolves to the slot's release function, or to null when no
   * slot came free in time.
   */
  acquire(key: string, until: number): Promise<Release | null> {
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { active: 0, waiting: [] };
      this.#lanes.set(key, lane);
    }
    if (lane.active < this.#limit && lane.waiting.length === 0) {
      lane.active += 1;
      return Promise.resolve(this.#releaser(key, lane));
    }
    const wait = until - performance.now();
    if (!(wait > 0)) return Promise.resolve(null);
    const current = lane;
    return new Promise((resolve) => {
      const waiter: Waiter = { grant: resolve, timer: undefined };
      waiter.timer = setTimeout(
        () => {
          const index = current.waiting.indexOf(waiter);
          if (index !== -1) current.waiting.splice(index, 1);
          this.#forgetIfIdle(key, current);
          resolve(null);
        },
        Math.min(wait, MAX_TIMER_MS),
      );
      current.waiting.push(waiter);
    });
  }

  /** Holders and waiters of `key` (for tests and diagnostics). */
  usage(key: string): { active: number; waiting: number } {
    const lane = this.#lanes.get(key);
    return { active: lane?.active ?? 0, waiting: lane?.waiting.length ?? 0 };
  }

  #releaser(key: string, lane: Lane): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = lane.waiting.shift();
      if (next !== undefined) {
        // The slot passes straight to the next waiter: `active` stays the same.
        clearTimeout(next.timer);
        next.grant(this.#releaser(key, lane));
        return;
      }
      lane.active -= 1;
      this.#forgetIfIdle(key, lane);
    };
  }

  #forgetIfIdle(key: string, lane: Lane): void {
    if (lane.active === 0 && lane.waiting.length === 0 && this.#lanes.get(key) === lane) {
      this.#lanes.delete(key);
    }
  }
}
