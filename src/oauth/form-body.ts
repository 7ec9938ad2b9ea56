import type { FastifyInstance } from 'fastify';
import { RegistrarError } from '../errors.js';

/**
 * Makes `application/x-www-form-urlencoded` bodies arrive as URLSearchParams in this
 * plugin scope (the OAuth endpoints take forms, RFC 6749 §3.2).
 */
export function acceptForms(app: FastifyInstance): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, new URLSearchParams(body as string)),
  );
}

/** One form field that must appear at most once; absent → null. */
export function formField(body: unknown, name: string): string | null {
  if (!(body instanceof URLSearchParams)) {
    throw new RegistrarError('invalid_request', 'the body must be application/x-www-form-urlencoded');
  }
  const values = body.getAll(name);
  if (values.length > 1) throw new RegistrarError('invalid_request', `${name} must not be repeated`);
  return values[0] ?? null;
}

/** The form itself when the body is one, for client credentials sent in it. */
export function formOf(body: unknown): URLSearchParams | undefined {
  return body instanceof URLSearchParams ? body : undefined;
}
