import type { Pool } from 'pg';
import { AUDIT_EVENT_COLUMNS, type AuditEventRow, auditEventFromRow } from '../audit-event-rows.js';
import { pageOf } from '../paging.js';
import type {
  AuditEvent,
  AuditEventQuery,
  AuditEventStore,
  AuditRetention,
  NewAuditEvent,
} from '../types.js';
import { inTransaction } from './database.js';

/** The filters of a query, in a fixed order. */
const FILTERS = [
  ['resource', 'resource'],
  ['resourceId', 'resource_id'],
  ['clientId', 'client_id'],
] as const;

const SQL = {
  append: `INSERT INTO audit_events (at, client_id, resource, resource_id, action, before, after)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
  purgeOld: 'DELETE FROM audit_events WHERE at < $1',
  // The newest `keep` stay: everything up to the id just past them goes.
  purgeBeyond:
    'DELETE FROM audit_events WHERE id <= (SELECT id FROM audit_events ORDER BY id DESC OFFSET $1 LIMIT 1)',
} as const;

/**
 * Audit events in PostgreSQL. Ids come from an identity column: they grow in the order
 * rows are inserted and are never reused; a purge is one transaction.
 */
export class PostgresAuditEventStore implements AuditEventStore {
  constructor(private readonly pool: Pool) {}

  async append(event: NewAuditEvent): Promise<number> {
    const { rows } = await this.pool.query<{ id: number }>({
      name: 'audit_append',
      text: SQL.append,
      values: [
        event.at,
        event.client_id,
        event.resource,
        event.resource_id,
        event.action,
        JSON.stringify(event.before ?? null),
        JSON.stringify(event.after ?? null),
      ],
    });
    return Number(rows[0]?.id);
  }

  async list(query: AuditEventQuery): Promise<{ items: AuditEvent[]; next: string | null }> {
    const clauses: string[] = [];
    const values: Array<string | number> = [];
    const names: string[] = [];
    for (const [name, column] of FILTERS) {
      const value = query[name];
      if (value === undefined) continue;
      values.push(value);
      clauses.push(`${column} = $${values.length}`);
      names.push(name);
    }
    if (query.after !== undefined) {
      values.push(query.after);
      clauses.push(`id < $${values.length}`);
      names.push('after');
    }
    values.push(query.limit + 1);
    const where = clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '';
    const { rows } = await this.pool.query<AuditEventRow>({
      name: `audit_list_${names.join('_') || 'all'}`,
      text: `SELECT ${AUDIT_EVENT_COLUMNS} FROM audit_events ${where} ORDER BY id DESC LIMIT $${values.length}`,
      values,
    });
    return pageOf(rows.map(auditEventFromRow), query.limit, (event) => String(event.id));
  }

  async purge({ since, keep }: AuditRetention): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      const old = await client.query(SQL.purgeOld, [since]);
      const beyond = await client.query(SQL.purgeBeyond, [keep]);
      return (old.rowCount ?? 0) + (beyond.rowCount ?? 0);
    });
  }
}
