import { z } from 'zod';
import type { ResponseDoc, RouteDoc } from '../http/route-doc.js';

/** OpenAPI docs of the OAuth endpoints (documentation only: the handlers check their own input). */

const TOO_LARGE: ResponseDoc = {
  description: '`invalid_request`: the body is larger than `server.body_limit_bytes`.',
};
const INTERNAL: ResponseDoc = { description: '`internal_server_error`: the cause is in the server log.' };

const clientId = z
  .string()
  .optional()
  .describe('Form credentials: the client id, instead of HTTP Basic (give `client_secret` too).');
const clientSecret = z.string().optional().describe('Form credentials: the client secret.');

/** Tokens as issued by `complete` and `/oauth/token`. */
export const issuedTokens = z.object({
  token_type: z.literal('bearer'),
  access_token: z.string().describe('Opaque, 256 random bits (base64url).'),
  expires_in: z.int().describe("Seconds until the access token expires (the application's TTL)."),
  refresh_token: z
    .string()
    .optional()
    .describe('Only for applications with refresh tokens enabled; single use, it rotates.'),
});

export const TOKEN_DOC: RouteDoc = {
  summary: 'Refresh tokens',
  description:
    'The `refresh_token` grant (RFC 6749 §6). The refresh token rotates: the presented one is spent and a ' +
    'new access (and refresh) token of the same grant is issued. Presenting a spent or revoked refresh ' +
    'token again revokes every token of its grant.',
  tags: ['OAuth tokens'],
  auth: { application: true },
  body: {
    'application/x-www-form-urlencoded': z.object({
      grant_type: z.literal('refresh_token').describe('Only `refresh_token` is supported.'),
      refresh_token: z.string(),
      client_id: clientId,
      client_secret: clientSecret,
    }),
  },
  responses: {
    200: {
      description: 'New tokens.',
      schema: issuedTokens.extend({ scope: z.string().describe("The grant's scopes, space-separated.") }),
    },
    400: {
      description:
        '`invalid_request` (not a form, a repeated field, no `grant_type` or `refresh_token`), `invalid_client`, ' +
        '`unsupported_grant_type` (a `grant_type` other than `refresh_token`) or `invalid_grant` (the refresh ' +
        'token is unknown, expired, revoked, already used, or belongs to another application).',
    },
    413: TOO_LARGE,
    500: INTERNAL,
  },
};

export const INTROSPECT_DOC: RouteDoc = {
  summary: 'Introspect a token',
  description:
    'RFC 7662 token introspection for resource servers. An unknown, expired, revoked or spent token is ' +
    '`{"active": false}`.',
  tags: ['OAuth tokens'],
  auth: { apiClient: 'token_introspection' },
  body: {
    'application/x-www-form-urlencoded': z.object({
      token: z.string().describe('An access or refresh token.'),
      client_id: clientId,
      client_secret: clientSecret,
    }),
  },
  responses: {
    200: {
      description: "The token's state and, when it is active, what it grants.",
      schema: z.union([
        z.object({
          active: z.literal(true),
          token_type: z.enum(['access_token', 'refresh_token']),
          scope: z.string().describe('Space-separated.'),
          client_id: z.string().describe('The application the token was issued to.'),
          sub: z.string().describe('The user id the complete script returned.'),
          exp: z.int().describe('Expiry, seconds since the epoch.'),
          iat: z.int().describe('Issued at, seconds since the epoch.'),
          amr: z.array(z.string()).describe('Authentication methods the complete script returned.'),
          user_details: z
            .record(z.string(), z.unknown())
            .describe(
              "The complete script's other user attributes, without reserved claim names and without `__proto__`, `constructor` or `prototype` members at any depth.",
            ),
        }),
        z.object({ active: z.literal(false) }),
      ]),
    },
    400: { description: '`invalid_request` (not a form, no `token`, a repeated field) or `invalid_client`.' },
    403: { description: '`insufficient_permissions`: the API client lacks scope `token_introspection`.' },
    413: TOO_LARGE,
    500: INTERNAL,
  },
};

export const REVOKE_DOC: RouteDoc = {
  summary: 'Revoke a token',
  description:
    "RFC 7009 revocation. Revokes the token when it is the calling application's; a refresh token takes " +
    'every token of its grant with it. Unknown tokens and tokens of other applications are left alone, ' +
    'with the same answer.',
  tags: ['OAuth tokens'],
  auth: { application: true },
  body: {
    'application/x-www-form-urlencoded': z.object({
      token: z.string().describe('An access or refresh token.'),
      client_id: clientId,
      client_secret: clientSecret,
    }),
  },
  responses: {
    200: { description: 'Always `{}`.', schema: z.strictObject({}) },
    400: { description: '`invalid_request` (not a form, no `token`, a repeated field) or `invalid_client`.' },
    413: TOO_LARGE,
    500: INTERNAL,
  },
};

export const JWKS_DOC: RouteDoc = {
  summary: 'id_token signing keys',
  description:
    'The public keys id_tokens are verified with (JWKS, RFC 7517): the active key first, then retired ones, ' +
    'so tokens signed before a key rotation still verify.',
  tags: ['OAuth tokens'],
  auth: 'none',
  responses: {
    200: {
      description: 'The key set.',
      schema: z.object({
        keys: z.array(
          z.object({
            kty: z.literal('EC'),
            crv: z.literal('P-256'),
            x: z.string(),
            y: z.string(),
            kid: z.string().describe('The key thumbprint (RFC 7638), as in the id_token header.'),
            alg: z.literal('ES256'),
            use: z.literal('sig'),
          }),
        ),
      }),
    },
    500: INTERNAL,
  },
};
