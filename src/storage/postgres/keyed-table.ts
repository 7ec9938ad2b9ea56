import type { Pool, QueryConfig } from 'pg';
import { pageOf } from '../paging.js';
import type { Page, PageRequest } from '../types.js';

/** A column value as sent: JSONB values go as JSON text. */
export type SqlValue = string | number | boolean | null;

/** How records of one kind map to the columns of their table. */
export interface TableSpec<T> {
  table: string;
  /** The primary-key column (a `COLLATE "C"` text key, also the paging key). */
  key: string & keyof T;
  /** Every column but `updated_at`, which the table maintains. */
  columns: readonly string[];
  /** The column values, in the order of `columns`. */
  encode(record: T): SqlValue[];
  decode(row: Record<string, unknown>): T;
}

/**
 * The statements every keyed configuration table shares: get, keyset-paged list (byte
 * order of the key), insert-if-absent, upsert and delete, each one statement (so
 * atomic on its own). Statements are named, so each connection prepares them once.
 */
export class KeyedTable<T> {
  private readonly sql;

  constructor(
    private readonly pool: Pool,
    private readonly spec: TableSpec<T>,
  ) {
    const { table, key, columns } = spec;
    const select = `SELECT ${columns.join(', ')} FROM ${table}`;
    const insert = `INSERT INTO ${table} (${columns.join(', ')}, updated_at)
      VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}, $${columns.length + 1})`;
    const updates = columns.filter((c) => c !== key).map((c) => `${c} = excluded.${c}`);
    const order = `ORDER BY ${key} COLLATE "C"`;
    this.sql = {
      get: `${select} WHERE ${key} = $1`,
      first: `${select} ${order} LIMIT $1`,
      after: `${select} WHERE ${key} COLLATE "C" > $1 ${order} LIMIT $2`,
      all: `${select} ${order}`,
      insert: `${insert} ON CONFLICT (${key}) DO NOTHING`,
      upsert: `${insert} ON CONFLICT (${key}) DO UPDATE SET ${[...updates, 'updated_at = excluded.updated_at'].join(', ')}`,
      delete: `DELETE FROM ${table} WHERE ${key} = $1`,
    };
  }

  async get(key: string): Promise<T | undefined> {
    const { rows } = await this.query('get', [key]);
    return rows[0] && this.spec.decode(rows[0]);
  }

  async all(): Promise<T[]> {
    const { rows } = await this.query('all', []);
    return rows.map((row) => this.spec.decode(row));
  }

  async page({ limit, after }: PageRequest): Promise<Page<T>> {
    // One row more than asked says whether there is a next page.
    const { rows } =
      after === undefined
        ? await this.query('first', [limit + 1])
        : await this.query('after', [after, limit + 1]);
    return pageOf(
      rows.map((row) => this.spec.decode(row)),
      limit,
      (item) => String(item[this.spec.key]),
    );
  }

  /** False when the key exists (nothing changes). */
  async insert(record: T): Promise<boolean> {
    return (await this.query('insert', this.params(record))).rowCount === 1;
  }

  async upsert(record: T): Promise<void> {
    await this.query('upsert', this.params(record));
  }

  async delete(key: string): Promise<boolean> {
    return (await this.query('delete', [key])).rowCount === 1;
  }

  private query(statement: keyof typeof this.sql, values: SqlValue[]) {
    const config: QueryConfig<SqlValue[]> = {
      name: `${this.spec.table}_${statement}`,
      text: this.sql[statement],
      values,
    };
    return this.pool.query<Record<string, unknown>>(config);
  }

  private params(record: T): SqlValue[] {
    return [...this.spec.encode(record), Date.now()];
  }
}
