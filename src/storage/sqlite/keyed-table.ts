import { pageOf } from '../paging.js';
import type { Page, PageRequest } from '../types.js';
import type { SqliteDatabase } from './database.js';

type SqlValue = string | number | null;

/** How records of one kind map to the columns of their table. */
export interface TableSpec<T> {
  table: string;
  /** The primary-key column (a text key, also the paging key). */
  key: string & keyof T;
  /** Every column but `updated_at`, which the table maintains. */
  columns: readonly string[];
  encode(record: T): Record<string, SqlValue>;
  decode(row: Record<string, SqlValue>): T;
}

/**
 * The statements every keyed configuration table shares: get, keyset-paged list,
 * insert-if-absent, upsert and delete, each one statement (so atomic on its own).
 */
export class KeyedTable<T> {
  private readonly statements;

  constructor(
    db: SqliteDatabase,
    private readonly spec: TableSpec<T>,
  ) {
    const { table, key, columns } = spec;
    const select = `SELECT ${columns.join(', ')} FROM ${table}`;
    const insert = `INSERT INTO ${table} (${columns.join(', ')}, updated_at)
      VALUES (${columns.map((c) => `@${c}`).join(', ')}, @updated_at)`;
    const updates = columns.filter((c) => c !== key).map((c) => `${c} = excluded.${c}`);
    this.statements = {
      get: db.prepare<[string], Record<string, SqlValue>>(`${select} WHERE ${key} = ?`),
      first: db.prepare<[number], Record<string, SqlValue>>(`${select} ORDER BY ${key} LIMIT ?`),
      after: db.prepare<[string, number], Record<string, SqlValue>>(
        `${select} WHERE ${key} > ? ORDER BY ${key} LIMIT ?`,
      ),
      all: db.prepare<[], Record<string, SqlValue>>(`${select} ORDER BY ${key}`),
      insert: db.prepare(`${insert} ON CONFLICT (${key}) DO NOTHING`),
      upsert: db.prepare(
        `${insert} ON CONFLICT (${key}) DO UPDATE SET ${[...updates, 'updated_at = excluded.updated_at'].join(', ')}`,
      ),
      delete: db.prepare<[string]>(`DELETE FROM ${table} WHERE ${key} = ?`),
    };
  }

  get(key: string): T | undefined {
    const row = this.statements.get.get(key);
    return row && this.spec.decode(row);
  }

  all(): T[] {
    return this.statements.all.all().map((row) => this.spec.decode(row));
  }

  page({ limit, after }: PageRequest): Page<T> {
    // One row more than asked says whether there is a next page.
    const rows =
      after === undefined
        ? this.statements.first.all(limit + 1)
        : this.statements.after.all(after, limit + 1);
    return pageOf(
      rows.map((row) => this.spec.decode(row)),
      limit,
      (item) => String(item[this.spec.key]),
    );
  }

  /** False when the key exists (nothing changes). */
  insert(record: T): boolean {
    return this.statements.insert.run(this.params(record)).changes === 1;
  }

  upsert(record: T): void {
    this.statements.upsert.run(this.params(record));
  }

  delete(key: string): boolean {
    return this.statements.delete.run(key).changes === 1;
  }

  private params(record: T): Record<string, SqlValue> {
    return { ...this.spec.encode(record), updated_at: Date.now() };
  }
}
