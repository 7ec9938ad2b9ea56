/**
 * The one registry of error codes Registrar answers with. Every HTTP error body is
 * `{"error": code, "error_description": text}`; the README's error table is checked
 * against this registry by a test, so add new codes here first.
 */
export const ERROR_REGISTRY = {
  invalid_request: {
    status: 400,
    description: 'The request body is malformed, has an unsupported media type, or has an invalid parameter.',
  },
  request_too_large: {
    code: 'invalid_request',
    status: 413,
    description: 'The request body is larger than the configured limit.',
  },
  request_timeout: {
    code: 'invalid_request',
    status: 408,
    description: 'The request did not arrive in time.',
  },
  uri_too_long: {
    code: 'invalid_request',
    status: 414,
    description: 'A path segment of the request is longer than the server accepts.',
  },
  expectation_failed: {
    code: 'invalid_request',
    status: 417,
    description: 'The request has an Expect header other than 100-continue.',
  },
  header_too_large: {
    code: 'invalid_request',
    status: 431,
    description: 'The request headers are larger than the server accepts (16 KiB).',
  },
  invalid_client: {
    status: 400,
    description: 'Client credentials used are not valid or client does not exist.',
  },
  insufficient_permissions: {
    status: 403,
    description: 'The API client does not have the required `User registration` scope.',
  },
  invalid_idp_identifier: {
    status: 404,
    description: 'The specified IdP does not exist.',
  },
  idp_disabled: {
    status: 403,
    description: 'The specified IdP is disabled.',
  },
  invalid_transaction: {
    status: 400,
    description: 'The transaction is missing, expired, already used, or was made for another IdP or client.',
  },
  invalid_scope: {
    status: 400,
    description: 'A requested scope is not allowed for this application.',
  },
  invalid_grant: {
    status: 400,
    description:
      'The refresh token is invalid, expired, revoked, already used, or was issued to another client.',
  },
  unsupported_grant_type: {
    status: 400,
    description: 'The grant type is not supported.',
  },
  not_found: {
    status: 404,
    description: 'The requested resource does not exist.',
  },
  invalid_csrf_token: {
    status: 403,
    description:
      "A change made with the console session cookie must carry the session's anti-CSRF token in X-CSRF-Token.",
  },
  conflict: {
    status: 409,
    description: 'The change conflicts with the current configuration.',
  },
  console_not_built: {
    status: 503,
    description:
      'The web console is on but not built: run `npm run build` (it builds the console into dist/console).',
  },
  too_many_requests: {
    status: 429,
    description: 'Too many calls of this endpoint; try again after the number of seconds in Retry-After.',
  },
  script_tests_failed: {
    status: 422,
    description:
      'A script version failed its stored test cases, so it was not activated; `details` lists each failure.',
  },
  internal_server_error: {
    status: 500,
    description: 'The server has encountered an internal server error.',
  },
} as const satisfies Record<string, { status: number; description: string; code?: string }>;

/** A key of the registry; usually also the wire `error` code. */
export type ErrorKind = keyof typeof ERROR_REGISTRY;

/** The `error` value sent on the wire for a registry entry. */
export function wireCode(kind: ErrorKind): string {
  const entry = ERROR_REGISTRY[kind];
  return 'code' in entry ? entry.code : kind;
}

/** One field of a request that failed validation (admin API). */
export interface FieldProblem {
  /** The field's path, e.g. `scopes[1]` or `scripts.complete`. */
  field: string;
  message: string;
  /** For a script that does not compile: where, 1-based. */
  line?: number;
  column?: number;
}

/**
 * An error that maps to one registry entry. `description` overrides the registry
 * text for 4xx answers only; 5xx answers always use the generic text, and `cause`
 * is logged, never sent.
 */
export class RegistrarError extends Error {
  readonly kind: ErrorKind;
  readonly status: number;
  readonly description: string;
  /** True when the cause was already logged where it happened (e.g. a script failure). */
  readonly logged: boolean;
  /** For a 4xx: each bad field, sent as `details`. */
  readonly details: FieldProblem[] | undefined;

  constructor(
    kind: ErrorKind,
    description?: string,
    options?: { cause?: unknown; logged?: boolean; details?: FieldProblem[] },
  ) {
    const entry = ERROR_REGISTRY[kind];
    super(description ?? entry.description, options);
    this.name = 'RegistrarError';
    this.kind = kind;
    this.status = entry.status;
    this.description = entry.status >= 500 ? entry.description : (description ?? entry.description);
    this.logged = options?.logged ?? false;
    this.details = entry.status < 500 ? options?.details : undefined;
  }

  /** The JSON body sent to the caller: `details` only when there are field problems. */
  toBody(): { error: string; error_description: string; details?: FieldProblem[] } {
    const body = { error: wireCode(this.kind), error_description: this.description };
    return this.details ? { ...body, details: this.details } : body;
  }
}
