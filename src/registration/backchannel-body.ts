import { RegistrarError } from '../errors.js';
import { jsonNestsDeeperThan, MAX_JSON_DEPTH, tooDeep } from '../http/json-body.js';

/** The backchannel request body, parsed. */
export interface BackchannelBody {
  /** The `data` string exactly as sent, or null when absent. */
  data: string | null;
  /** The form fields, when the body was form-urlencoded (they may carry credentials). */
  form?: URLSearchParams;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a backchannel body: JSON `{"data": "..."}`, a form with `data` (and maybe
 * credentials), or nothing. Any other media type, a body that does not parse, or a
 * `data` that is present but not a string is `invalid_request`.
 */
export function parseBackchannelBody(
  contentType: string | undefined,
  raw: Buffer | undefined,
): BackchannelBody {
  const empty = raw === undefined || raw.length === 0;
  if (contentType === undefined) {
    if (empty) return { data: null };
    throw bad('a request body needs a Content-Type of application/json or application/x-www-form-urlencoded');
  }
  const [mediaType = '', ...params] = contentType.split(';').map((part) => part.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
    throw bad(`unsupported charset ${charset}; use UTF-8`);
  }
  if (mediaType === 'application/json') return empty ? { data: null } : fromJson(decode(raw));
  if (mediaType === 'application/x-www-form-urlencoded') return fromForm(empty ? '' : decode(raw));
  throw bad(
    `unsupported media type ${mediaType || '(none)'}; use application/json or application/x-www-form-urlencoded`,
  );
}

function decode(raw: Buffer): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw bad('the body is not valid UTF-8');
  }
}

function fromJson(text: string): BackchannelBody {
  if (jsonNestsDeeperThan(text, MAX_JSON_DEPTH)) throw tooDeep();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw bad('the body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw bad('the body must be a JSON object');
  if (!Object.hasOwn(body, 'data')) return { data: null };
  const data = (body as { data: unknown }).data;
  if (typeof data !== 'string') throw bad('data must be a string');
  return { data };
}

function fromForm(text: string): BackchannelBody {
  const form = new URLSearchParams(text);
  for (const name of ['data', 'client_id', 'client_secret']) {
    if (form.getAll(name).length > 1) throw bad(`${name} must not be repeated`);
  }
  return { data: form.get('data'), form };
}

function bad(description: string): RegistrarError {
  return new RegistrarError('invalid_request', description);
}
