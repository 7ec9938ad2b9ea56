import type { FastifyInstance } from 'fastify';

/** The console's Content-Security-Policy: its own scripts, styles and API only, never framed. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** True for `/console` and every path under it (the query aside). */
export function isConsolePath(url: string): boolean {
  const path = url.split('?', 1)[0] ?? '';
  return path === '/console' || path.startsWith('/console/');
}

/** The cache header of a hashed console asset: its name changes whenever its content does. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

/** True for a console asset (`/console/assets/<name>-<hash>.<ext>`), whose answers may be cached. */
export function isConsoleAssetPath(url: string): boolean {
  const path = url.split('?', 1)[0] ?? '';
  return path.startsWith('/console/assets/');
}

/**
 * Gives every answer under `/console` (errors and 404s included, and whether the console
 * is on or not) a strict Content-Security-Policy, `X-Content-Type-Options: nosniff`,
 * `Referrer-Policy: no-referrer` and `Cache-Control: no-store`, except that a console
 * asset served (200) is cached for a year as immutable (its name carries its content
 * hash) and without `Pragma: no-cache`. An app-wide onSend hook, so nothing answered under
 * that path escapes it.
 */
export function installConsoleHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (isConsolePath(request.url)) {
      reply.header('content-security-policy', CONSOLE_CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      if (reply.statusCode === 200 && isConsoleAssetPath(request.url)) {
        reply.header('cache-control', IMMUTABLE);
        reply.removeHeader('pragma');
      } else {
        reply.header('cache-control', 'no-store');
      }
    }
    return payload;
  });
}
