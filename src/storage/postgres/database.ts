import type { CustomTypesConfig, Pool, PoolClient } from 'pg';
import pg from 'pg';
import { MIGRATIONS } from './migrations.js';

/** Connection settings for one PostgreSQL pool. */
export interface PostgresOptions {
  /** Most connections the pool opens. */
  max: number;
  /** How long to wait for a connection (new or from the pool) before failing. */
  connectionTimeoutMs: number;
  /** Server-side `statement_timeout` for every statement on the pool's connections. */
  statementTimeoutMs: number;
  /** The schema to work in (the connections' `search_path`); the server's default when absent. It must exist. */
  schema?: string;
  /** Told about errors of idle connections (the pool drops them and opens new ones); ignored when absent. */
  onError?: (error: Error) => void;
}

/**
 * Advisory lock key held while migrating (`pg_advisory_xact_lock`): the bytes of
 * "registra" read as a signed 64-bit integer, so it will not collide with locks of
 * other applications by accident.
 */
export const MIGRATION_LOCK_KEY = '8243108395577799265';

const INT8_OID = 20;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** BIGINT columns hold epoch milliseconds and counts: numbers, refusing any a double cannot hold exactly. */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`BIGINT ${text} is beyond Number.MAX_SAFE_INTEGER`);
  return value;
}

/** The pool's own type parsers (the global `pg.types` stay untouched): BIGINT as number. */
const TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format ?? 'text')) as CustomTypesConfig['getTypeParser'],
};

/**
 * Opens a connection pool on a `postgres://` URL. Connections are opened lazily;
 * BIGINT values read as numbers. The schema is not migrated (see {@link migrate}).
 */
export function openPostgres(url: string, options: PostgresOptions): Pool {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new Error(`invalid PostgreSQL schema name: ${options.schema}`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    types: TYPES,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
  });
  // Without a listener, an idle connection's error (a server restart) would crash the process.
  pool.on('error', (error) => options.onError?.(error));
  return pool;
}

/**
 * Runs `work` in one transaction on one pooled connection: committed when it resolves,
 * rolled back when it throws (the error is rethrown).
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      // A connection that cannot roll back is not given back to the pool.
      broken = rollbackError as Error;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Brings the schema (the pool's `search_path`) up to date: every migration not yet in
 * `schema_migrations` runs, in order, inside one transaction holding an advisory lock,
 * so nodes starting together migrate once and the others wait, then find nothing to do.
 * Refuses a schema migrated by a newer Registrar.
 */
export async function migrate(pool: Pool): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    const schema = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
    if (!schema.rows[0]?.schema) throw new Error('no schema of the search_path exists: create it first');
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
    );
    const applied = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(applied.rows.map((row) => row.version));
    const newest = Math.max(0, ...done);
    if (newest > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${newest} is newer than this Registrar (${MIGRATIONS.length})`,
      );
    }
    for (const [index, sql] of MIGRATIONS.entries()) {
      const version = index + 1;
      if (done.has(version)) continue;
      await client.query(sql);
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
        version,
        Date.now(),
      ]);
    }
  });
}
