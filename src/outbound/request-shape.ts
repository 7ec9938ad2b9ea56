/**
 * Validation of what a script passes to `HTTP.request` (method, header names and values,
 * body, timeout) and resolution of `{ $property }` references. Messages are script-facing:
 * they name headers, methods and property ids, never a header or property value.
 */
import { type OutboundContext, OutboundError, type ScriptHttpRequest } from './types.js';

/** The methods a script may use. */
export const ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export type AllowedMethod = (typeof ALLOWED_METHODS)[number];

/**
 * Headers a script must not set: connection management and message framing belong to the
 * client, and `accept-encoding` is refused because the response body is handed over as text
 * without decompression.
 */
export const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'expect',
  'accept-encoding',
]);

/** One header to send, lower-cased; `fromProperty` marks a value resolved from a property. */
export interface PreparedHeader {
  readonly name: string;
  readonly value: string;
  readonly fromProperty: boolean;
}

/** A validated request with property references resolved. */
export interface PreparedRequest {
  readonly method: AllowedMethod;
  readonly headers: readonly PreparedHeader[];
  readonly body: string | undefined;
  /** Whether the body was resolved from a property (never re-sent to another origin). */
  readonly bodyFromProperty: boolean;
  /** The script's own timeout, or Infinity when it set none. */
  readonly timeoutMs: number;
}

const PREFIX = 'HTTP.request:';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What undici (and RFC 9110) accept in a field value: no control characters but tab, Latin-1 only. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function badRequest(problem: string): OutboundError {
  return new OutboundError('bad_request', `${PREFIX} ${problem}`);
}

/** A short, quoted rendering of script-supplied non-secret text (a method or header name). */
function quoted(text: string): string {
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return JSON.stringify(shown);
}

function isPropertyRef(value: unknown): value is { $property: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.keys(value).length === 1 &&
    typeof (value as { $property?: unknown }).$property === 'string'
  );
}

function resolveProperty(id: string, properties: OutboundContext['properties']): string {
  const value = properties.get(id);
  if (value === undefined) throw badRequest(`unknown property ${quoted(id)}`);
  return value;
}

/** The upper-cased method, or a bad_request error. */
export function checkMethod(method: unknown): AllowedMethod {
  const upper = typeof method === 'string' ? method.toUpperCase() : '';
  const allowed = ALLOWED_METHODS.find((candidate) => candidate === upper);
  if (allowed === undefined) {
    const shown = typeof method === 'string' ? quoted(method) : typeof method;
    throw badRequest(`method ${shown} is not allowed (use one of ${ALLOWED_METHODS.join(', ')})`);
  }
  return allowed;
}

function prepareHeaders(headers: unknown, properties: OutboundContext['properties']): PreparedHeader[] {
  if (headers === undefined || headers === null) return [];
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    throw badRequest('headers must be an object of name → value');
  }
  const prepared: PreparedHeader[] = [];
  const seen = new Set<string>();
  for (const [name, raw] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw badRequest(`header name ${quoted(name)} is not a valid token`);
    const lower = name.toLowerCase();
    if (FORBIDDEN_HEADERS.has(lower) || lower.startsWith('proxy-')) {
      throw badRequest(`header ${lower} may not be set by a script`);
    }
    if (seen.has(lower)) throw badRequest(`header ${lower} is given more than once`);
    seen.add(lower);
    let value: string;
    let fromProperty = false;
    if (typeof raw === 'string') value = raw;
    else if (isPropertyRef(raw)) {
      value = resolveProperty(raw.$property, properties);
      fromProperty = true;
    } else {
      throw badRequest(`header ${lower} must be a string or { $property: id }`);
    }
    if (!FIELD_VALUE.test(value)) {
      const source = fromProperty ? `property ${quoted((raw as { $property: string }).$property)}` : 'value';
      throw badRequest(
        `header ${lower}: the ${source} has characters not allowed in a header (line breaks, control characters or characters beyond Latin-1)`,
      );
    }
    prepared.push({ name: lower, value, fromProperty });
  }
  return prepared;
}

/**
 * Validates a script's request and resolves its `{ $property }` references from
 * `properties`. Throws an OutboundError of kind `bad_request` naming the problem.
 */
export function prepareRequest(
  req: ScriptHttpRequest,
  properties: OutboundContext['properties'],
): PreparedRequest {
  const method = checkMethod(req.method);
  if (typeof req.url !== 'string') throw badRequest('url must be a string');
  const headers = prepareHeaders(req.headers, properties);
  let body: string | undefined;
  let bodyFromProperty = false;
  if (typeof req.body === 'string') body = req.body;
  else if (isPropertyRef(req.body)) {
    body = resolveProperty(req.body.$property, properties);
    bodyFromProperty = true;
  } else if (req.body !== undefined && req.body !== null) {
    throw badRequest('body must be a string or { $property: id }');
  }
  if (body !== undefined && (method === 'GET' || method === 'HEAD')) {
    throw badRequest(`a ${method} request cannot have a body`);
  }
  const timeout: unknown = req.timeoutMs;
  if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || !(timeout >= 0))) {
    throw badRequest('timeoutMs must be a number of milliseconds, 0 or more');
  }
  const timeoutMs = typeof timeout === 'number' ? timeout : Number.POSITIVE_INFINITY;
  return { method, headers, body, bodyFromProperty, timeoutMs };
}

/** Headers whose meaning is tied to a request body; dropped when a redirect turns it into a GET. */
const BODY_HEADERS = new Set(['content-type', 'content-encoding', 'content-language', 'content-location']);

/** Headers never forwarded to another origin (besides property-valued ones). */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie']);

/**
 * The request to send after a redirect answered with `status`, following fetch: 303 (for
 * anything but GET/HEAD) and 301/302 for POST become a GET without body. On a cross-origin
 * hop, Authorization, Cookie and every property-valued header are dropped; a property-valued
 * body that would be re-sent to another origin (307/308) is refused (returns null).
 */
export function redirectedRequest(
  request: PreparedRequest,
  status: number,
  crossOrigin: boolean,
): PreparedRequest | null {
  const toGet =
    (status === 303 && request.method !== 'GET' && request.method !== 'HEAD') ||
    ((status === 301 || status === 302) && request.method === 'POST');
  let headers = request.headers;
  if (toGet) headers = headers.filter((header) => !BODY_HEADERS.has(header.name));
  if (crossOrigin) {
    headers = headers.filter((header) => !header.fromProperty && !CREDENTIAL_HEADERS.has(header.name));
  }
  if (toGet) return { ...request, method: 'GET', headers, body: undefined, bodyFromProperty: false };
  if (crossOrigin && request.bodyFromProperty) return null;
  return { ...request, headers };
}
