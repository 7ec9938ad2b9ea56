import type { Pool, QueryConfig } from 'pg';
import type { ConsoleSessionRecord, ConsoleSessionStore } from '../types.js';

const COLUMNS = 'id_hash, client_id, secret_fingerprint, created_at, idle_expires_at, expires_at';

const SQL = {
  create: `INSERT INTO console_sessions (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`,
  // The row lock of the UPDATE orders concurrent uses; each sees the session live or not.
  use: `UPDATE console_sessions SET idle_expires_at =
      GREATEST(idle_expires_at, LEAST($2::bigint + $3::bigint, expires_at))
    WHERE id_hash = $1 AND idle_expires_at > $2 AND expires_at > $2
    RETURNING ${COLUMNS}`,
  delete: 'DELETE FROM console_sessions WHERE id_hash = $1',
  purge: 'DELETE FROM console_sessions WHERE idle_expires_at <= $1 OR expires_at <= $1',
} as const;

/** Console sessions in PostgreSQL; each method is one statement. */
export class PostgresConsoleSessionStore implements ConsoleSessionStore {
  constructor(private readonly pool: Pool) {}

  async create(s: ConsoleSessionRecord): Promise<void> {
    await this.query('create', [
      s.id_hash,
      s.client_id,
      s.secret_fingerprint,
      s.created_at,
      s.idle_expires_at,
      s.expires_at,
    ]);
  }

  async use(idHash: string, now: number, idleMs: number): Promise<ConsoleSessionRecord | undefined> {
    const { rows } = await this.query<ConsoleSessionRecord>('use', [idHash, now, idleMs]);
    return rows[0];
  }

  async delete(idHash: string): Promise<boolean> {
    return ((await this.query('delete', [idHash])).rowCount ?? 0) > 0;
  }

  async purgeExpired(now: number): Promise<number> {
    return (await this.query('purge', [now])).rowCount ?? 0;
  }

  private query<R extends object = object>(statement: keyof typeof SQL, values: unknown[]) {
    const config: QueryConfig = { name: `console_sessions_${statement}`, text: SQL[statement], values };
    return this.pool.query<R>(config);
  }
}
