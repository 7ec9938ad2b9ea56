import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { basic } from './registrar.js';

/** An API client with scope admin, for console tests. */
export const ADMIN = { client_id: 'admin', client_secret: 'admin-secret' } as const;

/** A signed-in console session: the Cookie header to send and the anti-CSRF token. */
export interface ConsoleLogin {
  cookie: string;
  csrf: string;
  setCookie: string;
}

/** `POST /console/api/session` with JSON credentials. */
export function signInRequest(
  app: FastifyInstance,
  clientId: string,
  clientSecret: string,
  extra: { remoteAddress?: string; headers?: Record<string, string> } = {},
) {
  return app.inject({
    method: 'POST',
    url: '/console/api/session',
    headers: { 'content-type': 'application/json', ...extra.headers },
    payload: JSON.stringify({ client_id: clientId, client_secret: clientSecret }),
    ...(extra.remoteAddress ? { remoteAddress: extra.remoteAddress } : {}),
  });
}

/** Signs in (asserting success) and returns the session's cookie and token. */
export async function signIn(
  app: FastifyInstance,
  client: { client_id: string; client_secret: string } = ADMIN,
): Promise<ConsoleLogin> {
  const res = await signInRequest(app, client.client_id, client.client_secret);
  assert.equal(res.statusCode, 204, res.body);
  const setCookie = String(res.headers['set-cookie']);
  const value = /^registrar_console=([^;]*);/.exec(setCookie)?.[1];
  assert.ok(value, `a session cookie in ${setCookie}`);
  const csrf = res.headers['x-csrf-token'];
  assert.equal(typeof csrf, 'string');
  return { cookie: `registrar_console=${value}`, csrf: String(csrf), setCookie };
}

/** One admin API request, with the console cookie (and a CSRF token when given) or Basic credentials. */
export function adminCall(
  app: FastifyInstance,
  method: string,
  url: string,
  auth:
    | { login: ConsoleLogin; csrf?: string | null }
    | { basic: { client_id: string; client_secret: string } },
  payload?: unknown,
) {
  const headers: Record<string, string> = {};
  if ('login' in auth) {
    headers.cookie = auth.login.cookie;
    const csrf = auth.csrf === undefined ? auth.login.csrf : auth.csrf;
    if (csrf !== null) headers['x-csrf-token'] = csrf;
  } else {
    headers.authorization = basic(auth.basic.client_id, auth.basic.client_secret);
  }
  return app.inject({
    method: method as 'GET',
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}
