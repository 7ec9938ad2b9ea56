import type { FastifyInstance } from 'fastify';
import { RegistrarError } from '../errors.js';

/**
 * How deeply a JSON request body may nest objects and arrays: `{}` is one level,
 * `{"a": []}` two. Deeper bodies are `invalid_request` before any schema sees them
 * (recursive validation of a body thousands of levels deep overflows the stack).
 * Every JSON body Registrar reads has a handful of levels; a dry run's CACHE seed
 * gets what is left under `{"cache": {...}}`.
 */
export const MAX_JSON_DEPTH = 64;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when JSON text nests objects and arrays deeper than `max` levels. One pass
 * over the text, before parsing; brackets inside strings do not count. The text
 * need not be valid JSON (the parser decides that).
 */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** The error for a body nested deeper than MAX_JSON_DEPTH. */
export function tooDeep(): RegistrarError {
  return new RegistrarError(
    'invalid_request',
    `the body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`,
  );
}

/**
 * Replaces the app's `application/json` parser (before any route plugin registers,
 * so every scope inherits it): an empty body is no body (`request.body` undefined,
 * as without a Content-Type: many clients send `Content-Type: application/json` on
 * every request), a body nested deeper than MAX_JSON_DEPTH is `invalid_request`, and
 * anything else goes to Fastify's own parser (prototype-poisoning checks included).
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(null, undefined);
    if (jsonNestsDeeperThan(text, MAX_JSON_DEPTH)) return done(tooDeep(), undefined);
    return parseJson(request, text, done);
  });
}
