import type { FastifyInstance } from 'fastify';
import { RegistrarError } from '../errors.js';
import { audited } from '../http/audit.js';
import {
  type ApiClientAuthenticator,
  type ApplicationAuthenticator,
  requireScope,
} from '../http/authenticate.js';
import { sendJson } from '../http/errors.js';
import { acceptForms, formField, formOf } from './form-body.js';
import { INTROSPECT_DOC, REVOKE_DOC, TOKEN_DOC } from './route-docs.js';
import type { TokenService } from './tokens.js';
import { cleanUserAttributes } from './user-claims.js';

export interface TokenRouteDeps {
  tokens: TokenService;
  applications: ApplicationAuthenticator;
  apiClients: ApiClientAuthenticator;
}

/**
 * The OAuth token endpoints, all taking forms and client credentials (Basic or form):
 * `POST /oauth/token` (refresh_token grant, rotating), `POST /oauth/introspect`
 * (RFC 7662, for API clients with scope `token_introspection`) and
 * `POST /oauth/revoke` (RFC 7009, for the application that holds the token).
 */
export async function tokenRoutes(app: FastifyInstance, deps: TokenRouteDeps): Promise<void> {
  acceptForms(app);

  app.post('/oauth/token', { ...audited('token'), config: { doc: TOKEN_DOC } }, async (request, reply) => {
    const grantType = formField(request.body, 'grant_type');
    const refreshToken = formField(request.body, 'refresh_token');
    const application = await deps.applications.authenticateRequest(request, formOf(request.body));
    if (grantType === null) throw new RegistrarError('invalid_request', 'grant_type is required');
    if (grantType !== 'refresh_token') throw new RegistrarError('unsupported_grant_type');
    if (refreshToken === null) throw new RegistrarError('invalid_request', 'refresh_token is required');
    const issued = await deps.tokens.refresh(application, refreshToken);
    if (!issued) throw new RegistrarError('invalid_grant');
    return sendJson(reply, issued);
  });

  const introspect = { ...audited('introspect'), config: { doc: INTROSPECT_DOC } };
  app.post('/oauth/introspect', introspect, async (request, reply) => {
    const token = formField(request.body, 'token');
    const client = await deps.apiClients.authenticateRequest(request, formOf(request.body));
    requireScope(client, 'token_introspection');
    if (token === null) throw new RegistrarError('invalid_request', 'token is required');
    const record = await deps.tokens.find(token);
    const answer = record
      ? {
          active: true,
          token_type: record.kind === 'access' ? 'access_token' : 'refresh_token',
          scope: record.scopes.join(' '),
          client_id: record.client_id,
          sub: record.sub,
          exp: Math.floor(record.expires_at / 1000),
          iat: Math.floor(record.issued_at / 1000),
          amr: record.amr,
          // Cleaned again here: tokens issued before attributes were cleaned at issue time.
          user_details: cleanUserAttributes(record.user_details).attributes,
        }
      : { active: false };
    return sendJson(reply, answer);
  });

  app.post('/oauth/revoke', { ...audited('revoke'), config: { doc: REVOKE_DOC } }, async (request, reply) => {
    const token = formField(request.body, 'token');
    const application = await deps.applications.authenticateRequest(request, formOf(request.body));
    if (token === null) throw new RegistrarError('invalid_request', 'token is required');
    await deps.tokens.revoke(application, token);
    return sendJson(reply, '{}');
  });
}
