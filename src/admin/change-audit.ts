import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditEventStore, AuditedAction, AuditedResource } from '../storage/types.js';

/** The configuration resources the admin API changes. */
export type AdminResource = AuditedResource;

export interface ConfigurationChange {
  resource: AdminResource;
  /** The resource's id (for a script, `idp/kind`). */
  id: string;
  action: AuditedAction;
  /** The resource's admin view before and after; views never hold secrets, and sensitive values are masked. */
  before: unknown;
  after: unknown;
}

/**
 * Writes one `configuration_change` audit event: who (the admin client), what (resource,
 * id, action, before and after), when. It goes to the log at once and, on the admin
 * scopes that {@link storeChangeAudits} set up, to the audit event store. Callers pass
 * the admin views, which never contain a secret or a sensitive value.
 */
export function auditChange(request: FastifyRequest, change: ConfigurationChange): void {
  const at = Date.now();
  const clientId = request.adminClient ?? null;
  request.log.info(
    {
      audit: {
        event: 'configuration_change',
        client_id: clientId,
        at: new Date(at).toISOString(),
        ...change,
      },
    },
    `audit configuration_change ${change.action} ${change.resource} ${change.id}`,
  );
  const store = request.auditEventStore;
  if (!store) return;
  const { resource, id, action, before, after } = change;
  const write = store
    .append({ at, client_id: clientId, resource, resource_id: id, action, before, after })
    .then(
      () => undefined,
      (err: unknown) => {
        // The change is made and the event logged above: the caller still gets its answer.
        request.log.error(
          { err, audit: { event: 'configuration_change', resource, id, action } },
          'storing a configuration_change audit event failed',
        );
      },
    );
  request.pendingAuditWrites ??= [];
  request.pendingAuditWrites.push(write);
}

/**
 * Stores the `configuration_change` events of `scope`'s requests in `store`. Each event
 * is appended right after its change (not in the change's transaction); the answer waits
 * for the append, so a caller that got it finds the event listed, but never fails
 * because of it: a failed append is logged at error level and the answer goes out as it
 * would have.
 */
export function storeChangeAudits(scope: FastifyInstance, store: AuditEventStore): void {
  scope.addHook('onRequest', async (request) => {
    request.auditEventStore = store;
  });
  scope.addHook('onSend', async (request, _reply, payload) => {
    if (request.pendingAuditWrites) await Promise.all(request.pendingAuditWrites);
    return payload;
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated admin API client's id. */
    adminClient?: string;
    /** Where this request's configuration changes are stored (admin scopes only). */
    auditEventStore?: AuditEventStore;
    /** Appends of this request's audit events still in flight; they never reject. */
    pendingAuditWrites?: Array<Promise<void>>;
  }
}
