import { AUDIT_EVENT_COLUMNS, type AuditEventRow, auditEventFromRow } from '../audit-event-rows.js';
import { pageOf } from '../paging.js';
import type {
  AuditEvent,
  AuditEventQuery,
  AuditEventStore,
  AuditRetention,
  NewAuditEvent,
} from '../types.js';
import type { SqliteDatabase } from './database.js';

/** The filters of a query, in a fixed order: each combination gets one prepared statement. */
const FILTERS = [
  ['resource', 'resource = @resource'],
  ['resourceId', 'resource_id = @resourceId'],
  ['clientId', 'client_id = @clientId'],
  ['after', 'id < @after'],
] as const;

/**
 * Audit events in SQLite. Ids come from an AUTOINCREMENT key, so they only grow and a
 * purged id is never handed out again; a purge is one transaction.
 */
export class SqliteAuditEventStore implements AuditEventStore {
  private readonly insert;
  private readonly lists = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  private readonly purgeTx;

  constructor(private readonly db: SqliteDatabase) {
    this.insert = db.prepare(
      `INSERT INTO audit_events (at, client_id, resource, resource_id, action, before, after)
       VALUES (@at, @client_id, @resource, @resource_id, @action, @before, @after)`,
    );
    const olderThan = db.prepare<[number]>('DELETE FROM audit_events WHERE at < ?');
    // The newest `keep` stay: everything up to the id just past them goes.
    const beyond = db.prepare<[number]>(
      'DELETE FROM audit_events WHERE id <= (SELECT id FROM audit_events ORDER BY id DESC LIMIT 1 OFFSET ?)',
    );
    this.purgeTx = db.transaction(
      ({ since, keep }: AuditRetention) => olderThan.run(since).changes + beyond.run(keep).changes,
    );
  }

  async append(event: NewAuditEvent): Promise<number> {
    const result = this.insert.run({
      ...event,
      before: JSON.stringify(event.before ?? null),
      after: JSON.stringify(event.after ?? null),
    });
    return Number(result.lastInsertRowid);
  }

  async list(query: AuditEventQuery): Promise<{ items: AuditEvent[]; next: string | null }> {
    const used = FILTERS.filter(([name]) => query[name] !== undefined);
    const key = used.map(([name]) => name).join(',');
    let statement = this.lists.get(key);
    if (!statement) {
      const where = used.length > 0 ? `WHERE ${used.map(([, clause]) => clause).join(' AND ')}` : '';
      statement = this.db.prepare(
        `SELECT ${AUDIT_EVENT_COLUMNS} FROM audit_events ${where} ORDER BY id DESC LIMIT @limit`,
      );
      this.lists.set(key, statement);
    }
    const params: Record<string, string | number> = { limit: query.limit + 1 };
    for (const [name] of used) params[name] = query[name] as string | number;
    const rows = statement.all(params) as AuditEventRow[];
    return pageOf(rows.map(auditEventFromRow), query.limit, (event) => String(event.id));
  }

  async purge(retention: AuditRetention): Promise<number> {
    return this.purgeTx.immediate(retention);
  }
}
