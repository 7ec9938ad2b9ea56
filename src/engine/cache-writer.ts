import type { CacheStore } from '../storage/types.js';
import type { CacheWrite } from './protocol.js';

interface Waiting {
  writes: CacheWrite[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Commits the CACHE stores of finished executions: everything that arrives in one
 * turn of the event loop goes into one `setMany` (one transaction), and each caller
 * resumes once its stores are committed, so a response never promises data that is
 * not yet stored.
 */
export class CacheWriter {
  private waiting: Waiting[] = [];

  constructor(private readonly cache: CacheStore) {}

  write(writes: CacheWrite[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => void this.flush());
      this.waiting.push({ writes, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    try {
      await this.cache.setMany(batch.flatMap((w) => w.writes));
      for (const w of batch) w.resolve();
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}
