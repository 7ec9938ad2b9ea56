import type { ConsoleSessionRecord, ConsoleSessionStore } from '../types.js';
import type { SqliteDatabase } from './database.js';

const COLUMNS = 'id_hash, client_id, secret_fingerprint, created_at, idle_expires_at, expires_at';

/** Console sessions in SQLite; each method is one statement. */
export class SqliteConsoleSessionStore implements ConsoleSessionStore {
  private readonly s;

  constructor(db: SqliteDatabase) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO console_sessions (${COLUMNS})
         VALUES (@id_hash, @client_id, @secret_fingerprint, @created_at, @idle_expires_at, @expires_at)`,
      ),
      use: db.prepare<[number, number, string, number, number], ConsoleSessionRecord>(
        `UPDATE console_sessions SET idle_expires_at = max(idle_expires_at, min(? + ?, expires_at))
         WHERE id_hash = ? AND idle_expires_at > ? AND expires_at > ?
         RETURNING ${COLUMNS}`,
      ),
      delete: db.prepare<[string]>('DELETE FROM console_sessions WHERE id_hash = ?'),
      purge: db.prepare<[number, number]>(
        'DELETE FROM console_sessions WHERE idle_expires_at <= ? OR expires_at <= ?',
      ),
    };
  }

  async create(session: ConsoleSessionRecord): Promise<void> {
    this.s.insert.run(session);
  }

  async use(idHash: string, now: number, idleMs: number): Promise<ConsoleSessionRecord | undefined> {
    return this.s.use.get(now, idleMs, idHash, now, now);
  }

  async delete(idHash: string): Promise<boolean> {
    return this.s.delete.run(idHash).changes > 0;
  }

  async purgeExpired(now: number): Promise<number> {
    return this.s.purge.run(now, now).changes;
  }
}
