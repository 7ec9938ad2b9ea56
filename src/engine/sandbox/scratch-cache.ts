import type { SandboxCache } from '../../storage/types.js';
import type { CacheEntry } from '../protocol.js';

/**
 * A private, in-memory CACHE for one dry run: seeded from the request, it takes the
 * run's reads, deletes, increments (RATE.take included) and (at the end) stores, and is then reported back. The
 * installation's real CACHE is never touched.
 */
export class ScratchCache implements SandboxCache {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    seed: readonly CacheEntry[] = [],
    private readonly now: () => number = Date.now,
  ) {
    for (const [key, value, ttlMs] of seed) this.set(key, value, ttlMs);
  }

  set(key: string, value: string, ttlMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  getSync(key: string): string | null {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= this.now()) return null;
    return entry.value;
  }

  deleteSync(key: string): boolean {
    const live = this.getSync(key) !== null;
    this.entries.delete(key);
    return live;
  }

  /** As the real CACHE's: a live integer is added to (keeping its expiry), an absent one starts at delta. */
  incrementSync(key: string, delta: number, ttlMs: number): number | null {
    const live = this.getSync(key);
    if (live === null) {
      this.set(key, String(delta), ttlMs);
      return delta;
    }
    if (!/^(0|-?[1-9][0-9]*)$/.test(live)) return null;
    const entry = this.entries.get(key);
    const value = Number(live) + delta;
    if (entry) entry.value = String(value);
    return value;
  }

  /** The live entries with their remaining time to live. */
  dump(): CacheEntry[] {
    const now = this.now();
    return [...this.entries]
      .filter(([, entry]) => entry.expiresAt > now)
      .map(([key, entry]) => [key, entry.value, entry.expiresAt - now]);
  }

  close(): void {}
}
