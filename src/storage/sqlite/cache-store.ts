import type { CacheStore, SandboxCache } from '../types.js';
import type { SqliteDatabase } from './database.js';

/** The tables of entries with an expiry: the script CACHE, and the declarative rate-limit counters. */
export type SqliteEntryTable = 'cache_entries' | 'rate_counters';

/**
 * The CACHE in a SQLite table; `take` is one `DELETE ... RETURNING` statement, and
 * `setMany` one transaction. The async methods serve the server, the sync ones a
 * sandbox process. `increment` is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`
 * statement: atomic across connections and processes (each waits up to its
 * `busy_timeout` for the write lock), and committed when it returns.
 */
export class SqliteCacheStore implements CacheStore, SandboxCache {
  private readonly setStmt;
  private readonly incrementStmt;
  private readonly getStmt;
  private readonly deleteStmt;
  private readonly takeStmt;
  private readonly purgeStmt;
  private readonly setManyTx;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly now: () => number = Date.now,
    private readonly ownsDb = false,
    table: SqliteEntryTable = 'cache_entries',
  ) {
    this.setStmt = db.prepare<[string, string, number]>(
      `INSERT INTO ${table} (key, value, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    );
    this.getStmt = db
      .prepare<[string, number], string>(`SELECT value FROM ${table} WHERE key = ? AND expires_at > ?`)
      .pluck();
    this.deleteStmt = db
      .prepare<[string], number>(`DELETE FROM ${table} WHERE key = ? RETURNING expires_at`)
      .pluck();
    this.takeStmt = db
      .prepare<[string, number], string>(
        `DELETE FROM ${table} WHERE key = ? AND expires_at > ? RETURNING value`,
      )
      .pluck();
    this.purgeStmt = db.prepare<[number]>(`DELETE FROM ${table} WHERE expires_at <= ?`);
    // A live integer is added to, keeping its expiry; an absent or expired entry starts
    // at delta with a new expiry; any other live value is left alone (no row returned).
    this.incrementStmt = db
      .prepare<[{ key: string; delta: bigint; expiresAt: number; now: number }], string>(
        `INSERT INTO ${table} (key, value, expires_at) VALUES (@key, CAST(@delta AS TEXT), @expiresAt)
         ON CONFLICT (key) DO UPDATE SET
           value = CASE WHEN expires_at > @now THEN CAST(CAST(value AS INTEGER) + @delta AS TEXT) ELSE excluded.value END,
           expires_at = CASE WHEN expires_at > @now THEN expires_at ELSE excluded.expires_at END
         WHERE expires_at <= @now OR CAST(CAST(value AS INTEGER) AS TEXT) = value
         RETURNING value`,
      )
      .pluck();
    this.setManyTx = db.transaction(
      (entries: ReadonlyArray<readonly [string, string, number]>, now: number) => {
        for (const [key, value, ttlMs] of entries) this.setStmt.run(key, value, now + ttlMs);
      },
    );
  }

  getSync(key: string): string | null {
    return this.getStmt.get(key, this.now()) ?? null;
  }

  deleteSync(key: string): boolean {
    const expiresAt = this.deleteStmt.get(key);
    return expiresAt !== undefined && expiresAt > this.now();
  }

  incrementSync(key: string, delta: number, ttlMs: number): number | null {
    const now = this.now();
    const value = this.incrementStmt.get({ key, delta: BigInt(delta), expiresAt: now + ttlMs, now });
    return value === undefined ? null : Number(value);
  }

  async increment(key: string, delta: number, ttlMs: number): Promise<number | null> {
    return this.incrementSync(key, delta, ttlMs);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.setStmt.run(key, value, this.now() + ttlMs);
  }

  async setMany(entries: ReadonlyArray<readonly [string, string, number]>): Promise<void> {
    const now = this.now();
    this.setManyTx(entries, now);
  }

  async get(key: string): Promise<string | null> {
    return this.getSync(key);
  }

  async delete(key: string): Promise<boolean> {
    return this.deleteSync(key);
  }

  async take(key: string): Promise<string | null> {
    return this.takeStmt.get(key, this.now()) ?? null;
  }

  async purgeExpired(): Promise<number> {
    return this.purgeStmt.run(this.now()).changes;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  close(): void {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
