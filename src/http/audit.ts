import type { FastifyRequest } from 'fastify';

/** What an audited request did, filled in by its route as the checks pass. */
export interface AuditContext {
  action: 'backchannel' | 'init' | 'complete' | 'token' | 'introspect' | 'revoke';
  /** The authenticated client (never an id a failed authentication presented). */
  clientId?: string;
  idp?: string;
  /** The status the script returned, when it ran. */
  scriptStatus?: number;
  /** The error code answered, set by the error handler. */
  error?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    audit?: AuditContext;
  }
}

/** Route option that starts a request's audit record before anything (body parsing included) can fail. */
export function audited(action: AuditContext['action']) {
  return {
    onRequest: async (request: FastifyRequest) => {
      request.audit = { action };
    },
  };
}

/** Adds what a route has learned (client, IdP, script status) to the request's audit record. */
export function noteAudit(request: FastifyRequest, fields: Omit<Partial<AuditContext>, 'action'>): void {
  if (request.audit) Object.assign(request.audit, fields);
}

/** The reference product's event for an error code, where it has a specific one. */
const ERROR_EVENTS: Record<string, string> = {
  invalid_request: 'bad_request',
  invalid_idp_identifier: 'invalid_identity_provider',
  idp_disabled: 'disabled_identity_provider',
  invalid_transaction: 'invalid_transaction',
  invalid_scope: 'invalid_scope',
  internal_server_error: 'script_error',
};

/** One request's audit event, as it appears in the request's access-log line. */
export interface AuditEvent {
  event: string;
  action: AuditContext['action'];
  client_id: string | null;
  idp: string | null;
  script_status: number | null;
  error: string | null;
  http_status: number;
}

/**
 * The audit event of an audited request (registration and token requests), as the
 * reference product writes them (backchannel/init/complete success or failure, invalid or
 * disabled IdP, invalid transaction, invalid scope, bad request, script error), each with
 * the client id; undefined for other requests. A 2xxx script status is a success, any
 * other a failure. It travels in the request's one access-log line (see app.ts).
 */
export function auditEvent(request: FastifyRequest, httpStatus: number): AuditEvent | undefined {
  const record = request.audit;
  if (!record) return undefined;
  const failed =
    httpStatus >= 400 ||
    (record.scriptStatus !== undefined && (record.scriptStatus < 2000 || record.scriptStatus > 2999));
  const event = record.error
    ? (ERROR_EVENTS[record.error] ?? `${record.action}_failure`)
    : `${record.action}_${failed ? 'failure' : 'success'}`;
  return {
    event,
    action: record.action,
    client_id: record.clientId ?? null,
    idp: record.idp ?? null,
    script_status: record.scriptStatus ?? null,
    error: record.error ?? null,
    http_status: httpStatus,
  };
}
