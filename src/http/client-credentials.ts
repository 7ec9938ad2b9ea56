import { RegistrarError } from '../errors.js';

/** Credentials as presented by a caller. */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

const BASIC = /^Basic[ ]+([A-Za-z0-9+/]*={0,2})[ ]*$/i;

/**
 * Reads client credentials from exactly one of: the `Authorization: Basic` header
 * (RFC 6749 §2.3.1: id and secret form-urlencoded, then base64) or the form fields
 * `client_id` / `client_secret`. Both at once, neither, or anything malformed is
 * `invalid_client`.
 */
export function readClientCredentials(
  authorization: string | undefined,
  form: URLSearchParams | undefined,
): ClientCredentials {
  const formHasCredentials = form !== undefined && (form.has('client_id') || form.has('client_secret'));
  if (authorization !== undefined) {
    if (formHasCredentials) throw invalid('use one client authentication method, not both');
    return fromBasic(authorization);
  }
  if (!formHasCredentials || !form) throw invalid('client authentication is required');
  const ids = form.getAll('client_id');
  const secrets = form.getAll('client_secret');
  if (ids.length !== 1 || secrets.length !== 1 || !ids[0] || !secrets[0]) {
    throw invalid('client_id and client_secret must each be given once');
  }
  return { clientId: ids[0], clientSecret: secrets[0] };
}

function fromBasic(header: string): ClientCredentials {
  const encoded = BASIC.exec(header)?.[1];
  if (encoded === undefined) throw invalid('the Authorization header must use the Basic scheme');
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(encoded, 'base64'));
  } catch {
    throw invalid('the Basic credentials are not valid UTF-8');
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) throw invalid('the Basic credentials must be client_id:client_secret');
  const clientId = formDecode(decoded.slice(0, colon));
  const clientSecret = formDecode(decoded.slice(colon + 1));
  if (!clientId || !clientSecret) throw invalid('the Basic credentials must be client_id:client_secret');
  return { clientId, clientSecret };
}

/** application/x-www-form-urlencoded decoding of one value: `+` is a space, `%XX` a byte. */
function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw invalid('the Basic credentials are not correctly form-urlencoded');
  }
}

function invalid(description: string): RegistrarError {
  return new RegistrarError('invalid_client', description);
}
