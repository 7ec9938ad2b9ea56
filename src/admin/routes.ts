import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistrarError } from '../errors.js';
import { requireScope } from '../http/authenticate.js';
import { readClientCredentials } from '../http/client-credentials.js';
import { apiClientRoutes } from './api-clients.js';
import { applicationRoutes } from './applications.js';
import { ADMIN_PREFIX, type AdminDeps } from './deps.js';
import { identityProviderRoutes } from './identity-providers.js';
import { propertyRoutes } from './properties.js';
import { scriptRoutes } from './scripts.js';

/**
 * The admin REST API under `/api/v1/configuration/`. Every request is authenticated
 * (Basic credentials of an API client) before its body is read, and must hold the
 * scope its route declares in its doc; a route that declares none is refused, so
 * nothing is reachable by accident. Changes are written to storage, which every
 * request reads, so they apply from the next request on, without a restart.
 */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  await app.register(
    async (admin) => {
      admin.addHook('onRequest', async (request) => authorize(request, deps));
      await admin.register(apiClientRoutes, deps);
      await admin.register(applicationRoutes, deps);
      await admin.register(identityProviderRoutes, deps);
      await admin.register(scriptRoutes, deps);
      await admin.register(propertyRoutes, deps);
    },
    { prefix: ADMIN_PREFIX },
  );
}

async function authorize(request: FastifyRequest, deps: AdminDeps): Promise<void> {
  const auth = request.routeOptions.config.doc?.auth;
  // Admin bodies are JSON, so the credentials can only come as Basic.
  const client = await deps.authenticator.authenticate(
    readClientCredentials(request.headers.authorization, undefined),
    request.ip,
  );
  request.adminClient = client.client_id;
  if (auth === undefined || auth === 'none' || !('apiClient' in auth)) {
    throw new RegistrarError('insufficient_permissions', 'This route declares no scope, so it is refused.');
  }
  requireScope(client, auth.apiClient);
}
