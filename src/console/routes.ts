import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RegistrarConfig } from '../config/load.js';
import { RegistrarError } from '../errors.js';
import { type ApiClientAuthenticator, requireScope } from '../http/authenticate.js';
import type { ClientCredentials } from '../http/client-credentials.js';
import { sendJson } from '../http/errors.js';
import type { RouteDoc } from '../http/route-doc.js';
import type { Storage } from '../storage/open.js';
import { requireSession } from './authenticate.js';
import { CSRF_HEADER, cameOverHttps, clearedSessionCookie, SESSION_COOKIE, sessionCookie } from './cookie.js';
import { ConsoleSessions } from './sessions.js';

/** What the console's routes work on. */
export interface ConsoleDeps {
  sessions: ConsoleSessions;
  /** Checks sign-in credentials, through the same failure throttle as every client authentication. */
  authenticator: ApiClientAuthenticator;
}

/**
 * The console's sessions as the configuration sets them up, timed by `clock`;
 * undefined when `server.console` is false (then no console route exists and no cookie
 * is accepted).
 */
export function consoleSessionsFor(
  server: RegistrarConfig['server'],
  storage: Pick<Storage, 'consoleSessions' | 'config'>,
  secretKey: Buffer,
  clock: () => number = Date.now,
): ConsoleSessions | undefined {
  if (!server.console) return undefined;
  const settings = {
    idleMs: server.console_session_idle_minutes * 60_000,
    maxMs: server.console_session_max_hours * 3_600_000,
  };
  return new ConsoleSessions(storage.consoleSessions, storage.config, secretKey, settings, clock);
}

/** The longest client id or secret a sign-in reads (the admin API's own limits are lower). */
const MAX_CREDENTIAL_CHARS = 1024;

/** The credentials of a sign-in body; missing or malformed ones are `invalid_client`, as everywhere. */
function signInCredentials(body: unknown): ClientCredentials {
  const { client_id: clientId, client_secret: clientSecret } =
    body !== null && typeof body === 'object' && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : {};
  const ok = (value: unknown): value is string =>
    typeof value === 'string' && value.length > 0 && value.length <= MAX_CREDENTIAL_CHARS;
  if (!ok(clientId) || !ok(clientSecret)) {
    throw new RegistrarError(
      'invalid_client',
      'sign in with a JSON body {"client_id": ..., "client_secret": ...} of an API client with scope admin',
    );
  }
  return { clientId, clientSecret };
}

const TAG = 'Console';
const iso = (ms: number) => new Date(ms).toISOString();

const sessionView = z.object({
  client_id: z.string(),
  csrf_token: z
    .string()
    .describe('What every POST, PUT, PATCH and DELETE made with the cookie sends as X-CSRF-Token'),
  created_at: z.string(),
  idle_expires_at: z.string().describe('When the session ends unless it is used before'),
  expires_at: z.string().describe('When the session ends however it is used'),
});

const SIGN_IN_DOC: RouteDoc = {
  summary: 'Sign in to the web console',
  description: `Takes \`{"client_id", "client_secret"}\` of an API client with scope \`admin\` (failures count against the same throttle as every client authentication) and starts a session: \`Set-Cookie: ${SESSION_COOKIE}=…; Path=/; HttpOnly; SameSite=Strict\` (\`Secure\` when the request came over HTTPS) and the session's anti-CSRF token in the \`X-CSRF-Token\` answer header. The cookie then authenticates the admin API (\`/api/v1/configuration/*\`, \`/api/v1/audit-events\`) instead of Basic credentials.`,
  tags: [TAG],
  auth: 'none',
  body: {
    'application/json': z.object({ client_id: z.string(), client_secret: z.string() }),
  },
  responses: {
    204: {
      description: 'Signed in; no body',
      headers: { 'Set-Cookie': 'The session cookie', 'X-CSRF-Token': "The session's anti-CSRF token" },
    },
    400: {
      description: '`invalid_client`: missing or wrong credentials; `invalid_request`: not a JSON body',
    },
    403: { description: '`insufficient_permissions`: the client lacks scope `admin`' },
  },
};

const SESSION_DOC: RouteDoc = {
  summary: 'The console session',
  description:
    'Who is signed in, until when, and the anti-CSRF token (for a console page that was reloaded).',
  tags: [TAG],
  auth: { consoleSession: true },
  responses: {
    200: { description: 'The session', schema: sessionView },
    400: { description: '`invalid_client`: no live session' },
    403: { description: '`insufficient_permissions`: the client no longer has scope `admin`' },
  },
};

const SIGN_OUT_DOC: RouteDoc = {
  summary: 'Sign out of the web console',
  description: 'Ends the session on the server at once and clears the cookie. Needs `X-CSRF-Token`.',
  tags: [TAG],
  auth: { consoleSession: true },
  responses: {
    204: { description: 'Signed out; no body', headers: { 'Set-Cookie': 'The cleared cookie' } },
    400: { description: '`invalid_client`: no live session' },
    403: { description: '`invalid_csrf_token`: the X-CSRF-Token header is missing or wrong' },
  },
};

/**
 * `/console/api/session`: sign in (POST), the session (GET) and sign out (DELETE). The
 * console pages themselves come later; every answer under `/console` carries the
 * console's security headers (see `headers.ts`).
 */
export async function consoleRoutes(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  const { sessions } = deps;
  const current = async (request: FastifyRequest) => {
    const session = await requireSession(request, sessions);
    requireScope(session.client, 'admin');
    return session;
  };

  app.post('/console/api/session', { config: { doc: SIGN_IN_DOC } }, async (request, reply) => {
    const client = await deps.authenticator.authenticate(signInCredentials(request.body), request.ip);
    requireScope(client, 'admin');
    const started = await sessions.start(client);
    request.log.info(
      { console: { event: 'sign_in', client_id: client.client_id } },
      'console session started',
    );
    return reply
      .code(204)
      .header('set-cookie', sessionCookie(started.id, cameOverHttps(request)))
      .header(CSRF_HEADER, started.csrfToken)
      .send();
  });

  app.get('/console/api/session', { config: { doc: SESSION_DOC } }, async (request, reply) => {
    const { id, record } = await current(request);
    return sendJson(reply, {
      client_id: record.client_id,
      csrf_token: sessions.csrfTokenOf(id),
      created_at: iso(record.created_at),
      idle_expires_at: iso(record.idle_expires_at),
      expires_at: iso(record.expires_at),
    });
  });

  app.delete('/console/api/session', { config: { doc: SIGN_OUT_DOC } }, async (request, reply) => {
    const { id, record } = await requireSession(request, sessions);
    await sessions.end(id);
    request.log.info(
      { console: { event: 'sign_out', client_id: record.client_id } },
      'console session ended',
    );
    return reply
      .code(204)
      .header('set-cookie', clearedSessionCookie(cameOverHttps(request)))
      .send();
  });
}
