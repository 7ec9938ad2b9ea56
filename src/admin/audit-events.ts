import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { sendJson } from '../http/errors.js';
import { AUDITED_ACTIONS, AUDITED_RESOURCES } from '../storage/admin-types.js';
import type { AuditEvent } from '../storage/types.js';
import type { AdminDeps } from './deps.js';
import { adminDoc } from './docs.js';
import { idCursor, pageQuery, pageSchema, parseOrReject } from './validation.js';

const listQuery = z.strictObject({
  limit: pageQuery.shape.limit,
  /** The `next_cursor` of the previous page: an id. */
  cursor: idCursor,
  resource: z.enum(AUDITED_RESOURCES).optional().describe('Only events about this kind of resource'),
  resource_id: z.string().min(1).max(1024).optional().describe('Only events about the resource with this id'),
  client_id: z.string().min(1).max(1024).optional().describe('Only changes made by this admin API client'),
});

/** A stored `configuration_change` event as the admin API shows it. */
export const auditEventView = z.object({
  id: z.int().describe('Grows with every event'),
  at: z.string().describe('When the change was made (ISO 8601)'),
  client_id: z.string().nullable().describe('The admin API client that made it'),
  resource: z.enum(AUDITED_RESOURCES),
  resource_id: z.string().describe('For a script, `idp/kind`'),
  action: z.enum(AUDITED_ACTIONS),
  before: z.unknown().describe("The resource's admin view before (null for a create): never a secret"),
  after: z.unknown().describe("The resource's admin view after (null for a delete): never a secret"),
});

const view = (event: AuditEvent) => ({ ...event, at: new Date(event.at).toISOString() });

/** `GET /api/v1/audit-events`: the stored configuration changes, newest first. */
export async function auditEventRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.get(
    '/audit-events',
    adminDoc({
      summary: 'List configuration-change audit events',
      description:
        'Every change made through the admin API, newest first, as `configuration_change` events; kept for `server.audit_retention_days` and at most `server.audit_max_events`. Filters combine.',
      tags: ['Admin: audit events'],
      query: listQuery,
      ok: pageSchema(auditEventView),
    }),
    async (request, reply) => {
      const query = parseOrReject(listQuery, request.query, 'the query');
      const page = await deps.auditEvents.list({
        limit: query.limit,
        ...(query.cursor === undefined ? {} : { after: Number(query.cursor) }),
        ...(query.resource === undefined ? {} : { resource: query.resource }),
        ...(query.resource_id === undefined ? {} : { resourceId: query.resource_id }),
        ...(query.client_id === undefined ? {} : { clientId: query.client_id }),
      });
      return sendJson(reply, { items: page.items.map(view), next_cursor: page.next });
    },
  );
}
