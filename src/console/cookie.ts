import type { FastifyRequest } from 'fastify';

/** The console session cookie's name. */
export const SESSION_COOKIE = 'registrar_console';

/** The request header a console change must carry (and the sign-in answer's header with its value). */
export const CSRF_HEADER = 'x-csrf-token';

/** Every value of the session cookie in a `Cookie` header (more than one is an attack or a mix-up). */
export function sessionCookies(header: string | undefined): string[] {
  if (header === undefined) return [];
  const values: string[] = [];
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === SESSION_COOKIE) values.push(pair.slice(eq + 1).trim());
  }
  return values;
}

/**
 * True when the request came over HTTPS: a TLS socket, or a proxy's `X-Forwarded-Proto`
 * naming https. The header is trusted only to add `Secure` to the cookie, which never
 * weakens it (over plain HTTP a browser then refuses the cookie).
 */
export function cameOverHttps(request: FastifyRequest): boolean {
  if (request.protocol === 'https') return true;
  const forwarded = request.headers['x-forwarded-proto'];
  const values = Array.isArray(forwarded) ? forwarded : [forwarded ?? ''];
  return values.some((value) => value.split(',').some((proto) => proto.trim().toLowerCase() === 'https'));
}

const ATTRIBUTES = 'Path=/; HttpOnly; SameSite=Strict';

/** The `Set-Cookie` value that gives the browser a session id (a session cookie: gone when the browser closes). */
export function sessionCookie(sessionId: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${sessionId}; ${ATTRIBUTES}${secure ? '; Secure' : ''}`;
}

/** The `Set-Cookie` value that makes the browser forget its session id. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Max-Age=0; ${ATTRIBUTES}${secure ? '; Secure' : ''}`;
}
