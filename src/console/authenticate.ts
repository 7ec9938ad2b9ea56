import type { FastifyRequest } from 'fastify';
import { RegistrarError } from '../errors.js';
import type { ApiClientAuthenticator } from '../http/authenticate.js';
import { readClientCredentials } from '../http/client-credentials.js';
import type { ApiClientRecord } from '../storage/types.js';
import { CSRF_HEADER, sessionCookies } from './cookie.js';
import type { ConsoleSessions, ResumedSession } from './sessions.js';

/** Methods that change nothing: they need no anti-CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A request's console session: its id (the cookie's value), record and client. */
export interface RequestSession extends ResumedSession {
  id: string;
}

/**
 * The console session a request's cookie names, live and bound to its client's current
 * secret (`invalid_client` otherwise); any method but GET, HEAD and OPTIONS must also
 * carry the session's anti-CSRF token in `X-CSRF-Token` (`invalid_csrf_token` otherwise).
 */
export async function requireSession(
  request: FastifyRequest,
  sessions: ConsoleSessions,
): Promise<RequestSession> {
  const cookies = sessionCookies(request.headers.cookie);
  if (cookies.length === 0) throw new RegistrarError('invalid_client', 'sign in to the console first');
  if (cookies.length > 1)
    throw new RegistrarError('invalid_client', 'the request has more than one console session cookie');
  const id = cookies[0] as string;
  const resumed = await sessions.resume(id);
  if (!resumed) {
    throw new RegistrarError(
      'invalid_client',
      'the console session is unknown, expired or ended: sign in again',
    );
  }
  const token = request.headers[CSRF_HEADER];
  if (
    !SAFE_METHODS.has(request.method) &&
    !sessions.csrfMatches(id, typeof token === 'string' ? token : undefined)
  ) {
    throw new RegistrarError('invalid_csrf_token');
  }
  return { id, ...resumed };
}

/**
 * The API client behind an admin API request: Basic credentials, or (when the console is
 * on) the console session cookie, as {@link requireSession} checks it. Both at once are
 * `invalid_client`, as two credential methods are everywhere else.
 */
export async function authenticateAdmin(
  request: FastifyRequest,
  authenticator: ApiClientAuthenticator,
  sessions: ConsoleSessions | undefined,
): Promise<ApiClientRecord> {
  if (sessions === undefined || sessionCookies(request.headers.cookie).length === 0) {
    return authenticator.authenticate(
      readClientCredentials(request.headers.authorization, undefined),
      request.ip,
    );
  }
  if (request.headers.authorization !== undefined) {
    throw new RegistrarError(
      'invalid_client',
      'use one client authentication method, not both: Basic credentials or the console session cookie',
    );
  }
  return (await requireSession(request, sessions)).client;
}
