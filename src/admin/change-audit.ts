import type { FastifyRequest } from 'fastify';

/** The configuration resources the admin API changes. */
export type AdminResource = 'api_client' | 'application' | 'identity_provider' | 'script' | 'property';

export interface ConfigurationChange {
  resource: AdminResource;
  /** The resource's id (for a script, `idp/kind`). */
  id: string;
  action: 'create' | 'replace' | 'update' | 'delete' | 'save_version' | 'activate_version' | 'deactivate';
  /** The resource's admin view before and after; views never hold secrets, and sensitive values are masked. */
  before: unknown;
  after: unknown;
}

/**
 * Writes one structured `configuration_change` audit event: who (the admin client),
 * what (resource, id, action, before and after), when. Callers pass the admin views,
 * which never contain a secret or a sensitive value.
 */
export function auditChange(request: FastifyRequest, change: ConfigurationChange): void {
  request.log.info(
    {
      audit: {
        event: 'configuration_change',
        client_id: request.adminClient ?? null,
        at: new Date().toISOString(),
        ...change,
      },
    },
    `audit configuration_change ${change.action} ${change.resource} ${change.id}`,
  );
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated admin API client's id. */
    adminClient?: string;
  }
}
