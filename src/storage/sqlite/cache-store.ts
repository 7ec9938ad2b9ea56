import type { CacheStore, SandboxCache } from '../types.js';
import type { SqliteDatabase } from './database.js';

/**
 * The CACHE in a SQLite table; `take` is one `DELETE ... RETURNING` statement, and
 * `setMany` one transaction. The async methods serve the server, the sync ones a
 * sandbox process.
 */
export class SqliteCacheStore implements CacheStore, SandboxCache {
  private readonly setStmt;
  private readonly getStmt;
  private readonly deleteStmt;
  private readonly takeStmt;
  private readonly purgeStmt;
  private readonly setManyTx;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly now: () => number = Date.now,
    private readonly ownsDb = false,
  ) {
    this.setStmt = db.prepare<[string, string, number]>(
      `INSERT INTO cache_entries (key, value, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    );
    this.getStmt = db
      .prepare<[string, number], string>('SELECT value FROM cache_entries WHERE key = ? AND expires_at > ?')
      .pluck();
    this.deleteStmt = db
      .prepare<[string], number>('DELETE FROM cache_entries WHERE key = ? RETURNING expires_at')
      .pluck();
    this.takeStmt = db
      .prepare<[string, number], string>(
        'DELETE FROM cache_entries WHERE key = ? AND expires_at > ? RETURNING value',
      )
      .pluck();
    this.purgeStmt = db.prepare<[number]>('DELETE FROM cache_entries WHERE expires_at <= ?');
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
