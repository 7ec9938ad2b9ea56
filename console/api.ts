/**
 * The console's one way to the server: `fetch` with the session cookie (sent by the
 * browser), the anti-CSRF token kept in memory and sent on every change, and the
 * server's error shape turned into {@link ApiError}. An `invalid_client` answer means
 * the session is gone: the registered handler sends the user back to the sign-in page.
 */

/** One bad field of an `invalid_request`, as the admin API reports it. */
export interface FieldProblem {
  field: string;
  message: string;
  line?: number;
  column?: number;
}

/** An error answer of the server: `{error, error_description, details?}` and its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
    readonly details: FieldProblem[] = [],
  ) {
    super(description ? `${description}` : code);
    this.name = 'ApiError';
  }

  /** True when the answer means "not signed in (any more)". */
  get signedOut(): boolean {
    return this.code === 'invalid_client' && [400, 401, 403].includes(this.status);
  }
}

/** A page of a list: the items and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

let csrfToken: string | undefined;
let onSignedOut: () => void = () => {};

/** Remembers the session's anti-CSRF token (memory only: never stored in the browser). */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Registers what happens when the server says the session is gone. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

async function errorOf(response: Response): Promise<ApiError> {
  let body: { error?: unknown; error_description?: unknown; details?: unknown } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    // Not JSON: keep the status alone.
  }
  const code = typeof body.error === 'string' ? body.error : `http_${response.status}`;
  const description =
    typeof body.error_description === 'string' ? body.error_description : response.statusText;
  const details = Array.isArray(body.details) ? (body.details as FieldProblem[]) : [];
  return new ApiError(response.status, code, description, details);
}

/** Options of one call. */
export interface CallOptions {
  /** Do not treat `invalid_client` as "signed out" (the sign-in call itself). */
  quiet?: boolean;
}

/**
 * Calls the server: JSON in and out. Resolves with the parsed body (undefined for 204)
 * and the response; rejects with {@link ApiError} for any error answer.
 */
export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  options: CallOptions = {},
): Promise<{ data: T; response: Response }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (CHANGES.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (error.signedOut && !options.quiet) {
      csrfToken = undefined;
      onSignedOut();
    }
    throw error;
  }
  const text = response.status === 204 ? '' : await response.text();
  return { data: (text ? JSON.parse(text) : undefined) as T, response };
}

/** The admin API under `/api/v1/configuration` (and the audit events), by path. */
export const api = {
  get: async <T>(path: string) => (await call<T>('GET', path)).data,
  post: async <T>(path: string, body?: unknown) => (await call<T>('POST', path, body)).data,
  put: async <T>(path: string, body?: unknown) => (await call<T>('PUT', path, body)).data,
  patch: async <T>(path: string, body?: unknown) => (await call<T>('PATCH', path, body)).data,
  del: async (path: string) => {
    await call<undefined>('DELETE', path);
  },
};

/** `/api/v1/configuration/...` with each segment encoded. */
export function config(...segments: string[]): string {
  return `/api/v1/configuration/${segments.map(encodeURIComponent).join('/')}`;
}

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The signed-in session as `GET /console/api/session` reports it. */
export interface SessionInfo {
  client_id: string;
  csrf_token: string;
  created_at: string;
  idle_expires_at: string;
  expires_at: string;
}

/** Signs in; keeps the anti-CSRF token from the answer's `X-CSRF-Token` header. */
export async function signIn(clientId: string, clientSecret: string): Promise<void> {
  const { response } = await call<undefined>(
    'POST',
    '/console/api/session',
    { client_id: clientId, client_secret: clientSecret },
    { quiet: true },
  );
  setCsrfToken(response.headers.get('x-csrf-token') ?? undefined);
}

/** The current session (after a reload: the token comes from here), or null when signed out. */
export async function currentSession(): Promise<SessionInfo | null> {
  try {
    const { data } = await call<SessionInfo>('GET', '/console/api/session', undefined, { quiet: true });
    setCsrfToken(data.csrf_token);
    return data;
  } catch (error) {
    if (error instanceof ApiError && error.signedOut) return null;
    throw error;
  }
}

/** Ends the session on the server. */
export async function signOut(): Promise<void> {
  try {
    await call<undefined>('DELETE', '/console/api/session', undefined, { quiet: true });
  } finally {
    setCsrfToken(undefined);
  }
}
