import type { FastifyInstance } from 'fastify';
import { sendJson } from '../http/errors.js';
import type { IdTokenSigner } from './id-token.js';
import { JWKS_DOC } from './route-docs.js';

/**
 * `GET /oauth/jwks`: the public keys id_tokens are verified with, current and
 * retired. Public and unauthenticated; caching is left to the app's global
 * `Cache-Control: no-store`.
 */
export async function jwksRoute(app: FastifyInstance, deps: { signer: Pick<IdTokenSigner, 'jwks'> }) {
  app.get('/oauth/jwks', { config: { doc: JWKS_DOC } }, async (_request, reply) =>
    sendJson(reply, await deps.signer.jwks()),
  );
}
