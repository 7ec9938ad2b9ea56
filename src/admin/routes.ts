import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticateAdmin } from '../console/authenticate.js';
import { RegistrarError } from '../errors.js';
import { requireScope } from '../http/authenticate.js';
import { apiClientRoutes } from './api-clients.js';
import { applicationRoutes } from './applications.js';
import { auditEventRoutes } from './audit-events.js';
import { storeChangeAudits } from './change-audit.js';
import { ADMIN_PREFIX, type AdminDeps, API_PREFIX } from './deps.js';
import { dryRunRoute } from './dry-run-route.js';
import { identityProviderRoutes } from './identity-providers.js';
import { propertyRoutes } from './properties.js';
import { recordingReplayRoutes } from './recording-replay.js';
import { recordingRoutes } from './recordings.js';
import { scriptRolloutRoutes } from './script-rollout.js';
import { scriptShadowRoutes } from './script-shadow.js';
import { scriptTestRoutes } from './script-tests.js';
import { scriptRoutes } from './scripts.js';

/**
 * The admin REST API under `/api/v1/configuration/`, and the audit events at
 * `/api/v1/audit-events`. Every request is authenticated (Basic credentials of an API
 * client, or a console session cookie, which changes must back with the session's
 * anti-CSRF token) before its body is read, and must hold the scope its route declares
 * in its doc; a route that declares none is refused, so nothing is reachable by accident.
 * Changes are written to storage, which every request reads, so they apply from the next
 * request on, without a restart; each is also stored as an audit event.
 */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const guarded = (scope: FastifyInstance) => {
    scope.addHook('onRequest', async (request) => authorize(request, deps));
    storeChangeAudits(scope, deps.auditEvents);
  };
  await app.register(
    async (admin) => {
      guarded(admin);
      await admin.register(apiClientRoutes, deps);
      await admin.register(applicationRoutes, deps);
      await admin.register(identityProviderRoutes, deps);
      await admin.register(scriptRoutes, deps);
      await admin.register(dryRunRoute, deps);
      await admin.register(scriptTestRoutes, deps);
      await admin.register(scriptRolloutRoutes, deps);
      await admin.register(scriptShadowRoutes, deps);
      await admin.register(propertyRoutes, deps);
      await admin.register(recordingRoutes, deps);
      await admin.register(recordingReplayRoutes, deps);
    },
    { prefix: ADMIN_PREFIX },
  );
  await app.register(
    async (api) => {
      guarded(api);
      await api.register(auditEventRoutes, deps);
    },
    { prefix: API_PREFIX },
  );
}

async function authorize(request: FastifyRequest, deps: AdminDeps): Promise<void> {
  const auth = request.routeOptions.config.doc?.auth;
  // Admin bodies are JSON, so the credentials can only come as Basic (or the console cookie).
  const client = await authenticateAdmin(request, deps.authenticator, deps.consoleSessions);
  request.adminClient = client.client_id;
  if (auth === undefined || auth === 'none' || !('apiClient' in auth)) {
    throw new RegistrarError('insufficient_permissions', 'This route declares no scope, so it is refused.');
  }
  requireScope(client, auth.apiClient);
}
