import { z } from 'zod';
import type { ResponseDoc, RouteDoc } from '../http/route-doc.js';
import { issuedTokens } from '../oauth/route-docs.js';

// OpenAPI docs of the registration endpoints: documentation only, the handlers check their own input.

const idpParams = z.object({ idp: z.string().describe('The identity provider id (case-sensitive).') });

const data = z
  .string()
  .optional()
  .describe(
    'Raw registration data, given to the script as `requestPayload` exactly as sent; absent gives `null`.',
  );
const scriptStatus = z
  .int()
  .describe(
    'The status the script returned: 2000–2999 success, 4000–4999 failed but retryable, 5000–5999 failed, ' +
      'start over. A 4xxx or 5xxx status is still HTTP 200.',
  );
const responseData = z
  .string()
  .optional()
  .describe(
    "The script's `responsePayload` (a non-string one as its JSON text); absent when it returned none.",
  );

const TOO_LARGE: ResponseDoc = {
  description: '`invalid_request`: the body is larger than `server.body_limit_bytes` (256 KiB by default).',
};
const UNKNOWN_IDP: ResponseDoc = { description: '`invalid_idp_identifier`: no IdP with that id.' };
const RATE_LIMITED: ResponseDoc = {
  description:
    "`too_many_requests`: one of the IdP's declarative rate limits (`rate_limits`) is used up for this caller " +
    'in the current window; `Retry-After` gives the seconds until it ends. Checked before the script runs.',
};

export const BACKCHANNEL_DOC: RouteDoc = {
  summary: "Run an IdP's backchannel script",
  description:
    "Runs the identity provider's backchannel script with the caller's `data` and answers what it returned. " +
    'A portal calls it to prepare a registration (for example, to store data in CACHE for the complete ' +
    'script). The checks run in this order: body, client, scope, IdP, rate limits, script. A body is optional; unknown ' +
    'JSON members beside `data` are ignored; a body needs a `Content-Type`.',
  tags: ['Backchannel'],
  auth: { apiClient: 'user_registration' },
  params: idpParams,
  body: {
    'application/json': z.object({ data }),
    'application/x-www-form-urlencoded': z.object({
      client_id: z.string().describe('Form credentials, instead of HTTP Basic.'),
      client_secret: z.string(),
      data,
    }),
  },
  responses: {
    200: {
      description: 'The script ran and returned a status.',
      schema: z.object({ status: scriptStatus, data: responseData }),
    },
    400: {
      description:
        '`invalid_request` (the body does not parse, has another media type or charset, is not a JSON object, ' +
        'repeats a form field, or has a `data` that is not a string) or `invalid_client` (credentials missing, ' +
        'malformed, unknown or wrong, or Basic and form credentials at once).',
    },
    403: {
      description:
        '`insufficient_permissions` (the client lacks scope `user_registration`) or `idp_disabled` (the IdP is disabled).',
    },
    429: RATE_LIMITED,
    404: UNKNOWN_IDP,
    413: TOO_LARGE,
    500: {
      description:
        '`internal_server_error`: the IdP has no backchannel script, or the script threw, returned no integer ' +
        '`status`, or exceeded its CPU, wall or memory limit. The cause is in the server log.',
    },
  },
};

export const INIT_DOC: RouteDoc = {
  summary: 'Start a two_step registration',
  description:
    "For two_step identity providers only. Runs the IdP's init script with `data`; on a 2xxx status creates " +
    'a single-use transaction bound to the IdP and the application (it expires after ' +
    "`oauth.transaction_ttl_seconds`) and returns its id, to be passed to `complete`. The script's " +
    '`registrationData` is kept with the transaction.',
  tags: ['Custom registration'],
  auth: { application: true },
  params: idpParams,
  body: { 'application/json': z.object({ data }) },
  responses: {
    200: {
      description: 'The init script ran. `transaction_id` is present only for a 2xxx status.',
      schema: z.object({
        transaction_id: z.string().optional().describe('Pass it to `complete`; single use.'),
        status: scriptStatus,
        data: responseData,
      }),
    },
    400: {
      description:
        '`invalid_request` (the body is not a JSON object, `data` is not a string, or the IdP is not two_step) ' +
        'or `invalid_client`.',
    },
    403: { description: '`idp_disabled`: the IdP is disabled, or the application may not use it.' },
    429: RATE_LIMITED,
    404: UNKNOWN_IDP,
    413: TOO_LARGE,
    500: {
      description:
        '`internal_server_error`: the IdP has no init script, or the script failed or exceeded a limit.',
    },
  },
};

export const COMPLETE_DOC: RouteDoc = {
  summary: 'Complete a registration and get tokens',
  description:
    "Checks the transaction (two_step IdPs) and the scopes, runs the IdP's complete script with `data`, the " +
    "transaction's `registrationData` and `hook_context_custom_params`, and on a 2xxx status with a string " +
    '`user.id` issues OAuth tokens for that user (an `id_token` too when `openid` is in scope).',
  tags: ['Custom registration'],
  auth: { application: true },
  params: idpParams,
  body: {
    'application/json': z.object({
      transaction_id: z
        .string()
        .optional()
        .describe('Required for two_step IdPs: the id `init` returned; it is consumed (single use).'),
      data,
      scope: z
        .array(z.string())
        .optional()
        .describe("Requested scopes, each among the application's scopes; default: its `default_scopes`."),
      hook_context_custom_params: z
        .record(z.string(), z.array(z.string()))
        .nullable()
        .optional()
        .describe('Given to the script as its 4th argument (`hookContextCustomParams`).'),
    }),
  },
  responses: {
    200: {
      description:
        'The complete script ran. `oauth_token` is present only for a 2xxx status; a 4xxx or 5xxx status has ' +
        '`status` and `data` only.',
      schema: z.object({
        status: scriptStatus,
        data: responseData,
        oauth_token: issuedTokens
          .extend({
            id_token: z
              .string()
              .optional()
              .describe('A JWT signed ES256 (keys at `/oauth/jwks`), with `openid`.'),
          })
          .optional(),
      }),
    },
    400: {
      description:
        '`invalid_request` (the body is not a JSON object, or a member has the wrong type), `invalid_client`, ' +
        '`invalid_scope` (a requested scope is not allowed) or `invalid_transaction` (the `transaction_id` of a ' +
        'two_step IdP is missing, unknown, expired, already used, or made for another IdP or application).',
    },
    403: { description: '`idp_disabled`: the IdP is disabled, or the application may not use it.' },
    429: RATE_LIMITED,
    404: UNKNOWN_IDP,
    413: TOO_LARGE,
    500: {
      description:
        '`internal_server_error`: the IdP has no complete script, the script failed or exceeded a limit, or it ' +
        'returned a 2xxx status without a string `user.id`.',
    },
  },
};
