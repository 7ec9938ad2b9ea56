import type { AuditEvent } from './types.js';

/** An audit event as both SQL backends store it: before and after as JSON text. */
export interface AuditEventRow {
  id: number;
  at: number;
  client_id: string | null;
  resource: AuditEvent['resource'];
  resource_id: string;
  action: AuditEvent['action'];
  before: string;
  after: string;
}

/** The columns every audit-event query selects, in {@link AuditEventRow}'s order. */
export const AUDIT_EVENT_COLUMNS = 'id, at, client_id, resource, resource_id, action, before, after';

/** An event read back from its row. */
export const auditEventFromRow = (row: AuditEventRow): AuditEvent => ({
  ...row,
  before: JSON.parse(row.before) as unknown,
  after: JSON.parse(row.after) as unknown,
});
