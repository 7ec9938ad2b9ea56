/**
 * A concurrency limit with a bounded, fair queue, for slow work on a shared resource: scrypt
 * verifications, which run on libuv's four-thread pool beside DNS, file and zlib work.
 */

/** Refusal of a task that arrived while the queue was full; the task never ran. */
export class WorkShedError extends Error {
  constructor() {
    super('the work queue is full');
    this.name = 'WorkShedError';
  }
}

/**
 * Runs at most `concurrency` tasks at once; up to `queueLimit` more wait, and a task arriving
 * when that many wait is refused at once with a WorkShedError, without running (so a flood
 * costs a queue slot at most, never a thread). Waiting tasks are grouped by their key (for
 * client secrets: the caller's address) and the groups are served in turn, each in arrival
 * order, so one busy caller's backlog does not delay everybody else's first task.
 */
export class BoundedWork {
  readonly #concurrency: number;
  readonly #queueLimit: number;
  #active = 0;
  #queued = 0;
  /** Waiting starts by key; a key with waiting tasks is moved to the end each time it is served. */
  readonly #waiting = new Map<string, Array<() => void>>();

  constructor(concurrency: number, queueLimit: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError('concurrency must be a positive integer');
    }
    if (!Number.isInteger(queueLimit) || queueLimit < 0) {
      throw new RangeError('queueLimit must be a non-negative integer');
    }
    this.#concurrency = concurrency;
    this.#queueLimit = queueLimit;
  }

  /** Tasks running and tasks waiting now. */
  usage(): { active: number; queued: number } {
    return { active: this.#active, queued: this.#queued };
  }

  /**
   * Runs `task` when a slot is free and it is `key`'s turn; rejects with a WorkShedError when
   * the queue is full.
   */
  run<T>(task: () => Promise<T>, key = ''): Promise<T> {
    if (this.#active < this.#concurrency) return this.#start(task);
    if (this.#queued >= this.#queueLimit) return Promise.reject(new WorkShedError());
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#start(task).then(resolve, reject);
      };
      const queue = this.#waiting.get(key);
      if (queue === undefined) this.#waiting.set(key, [start]);
      else queue.push(start);
      this.#queued++;
    });
  }

  async #start<T>(task: () => Promise<T>): Promise<T> {
    this.#active++;
    try {
      return await task();
    } finally {
      this.#active--;
      this.#next();
    }
  }

  /** Starts the first waiting task of the key whose turn it is, and sends that key to the back. */
  #next(): void {
    const turn = this.#waiting.entries().next();
    if (turn.done) return;
    const [key, queue] = turn.value;
    const start = queue.shift();
    this.#waiting.delete(key);
    if (queue.length > 0) this.#waiting.set(key, queue);
    this.#queued--;
    start?.();
  }
}
