/**
 * Turns a route the app registered into one fuzzed HTTP request: method, path (its
 * parameters filled with known, unknown and oddly encoded ids), headers (credentials
 * of every kind, content types, odd extras) and a body fit for the route or not.
 */
import { adminBody, adminPathId, adminQuery, adminResource, scriptParam } from './admin-bodies.js';
import { formText, type Json, jsonText, strangeBody } from './bodies.js';
import type { Rng } from './prng.js';
import { backchannelJson, dataString, formFields, pickOr, registrationJson } from './route-bodies.js';
import { CLIENTS, type FuzzClient, IDPS } from './target.js';
import {
  type CredentialKind,
  contentType,
  extraHeaders,
  malformedAuthorization,
  oddSegment,
  pathId,
  validBasic,
  wrongBasic,
  wrongClientId,
} from './values.js';

/** Tokens and transaction ids taken from earlier answers, for requests that use them. */
export interface Harvest {
  accessTokens: string[];
  refreshTokens: string[];
  transactions: string[];
}

/** One request to send, and what the oracle needs to know about it. */
export interface FuzzRequest {
  index: number;
  /** The registered route it was made from (`POST /oauth/token`). */
  route: string;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
  credentials: CredentialKind;
  /** Secrets this request writes (admin): never to be answered. */
  secrets: string[];
}

type RouteKind = 'backchannel' | 'init' | 'complete' | 'token' | 'introspect' | 'revoke' | 'admin' | 'public';

/** What kind of route a registered URL is. */
export function routeKind(url: string): RouteKind {
  if (url.startsWith('/api/v1/configuration/') || url === '/api/v1/audit-events') return 'admin';
  if (url.endsWith('/backchannel')) return 'backchannel';
  if (url.endsWith('/init')) return 'init';
  if (url.endsWith('/complete')) return 'complete';
  if (url === '/oauth/token') return 'token';
  if (url === '/oauth/introspect') return 'introspect';
  if (url === '/oauth/revoke') return 'revoke';
  return 'public';
}

const WEIGHT: Record<RouteKind, number> = {
  backchannel: 8,
  init: 3,
  complete: 3,
  token: 2,
  introspect: 2,
  revoke: 2,
  admin: 1,
  public: 1,
};

/** The valid client of each kind of route, and a valid client that lacks its scope. */
const CALLERS: Record<RouteKind, { ok: FuzzClient[]; other: FuzzClient[] }> = {
  backchannel: { ok: [CLIENTS.portal, CLIENTS.oddPortal], other: [CLIENTS.noScope, CLIENTS.admin] },
  init: { ok: [CLIENTS.app, CLIENTS.oddApp], other: [CLIENTS.app] },
  complete: { ok: [CLIENTS.app, CLIENTS.oddApp], other: [CLIENTS.app] },
  token: { ok: [CLIENTS.app, CLIENTS.oddApp], other: [CLIENTS.oddApp] },
  revoke: { ok: [CLIENTS.app, CLIENTS.oddApp], other: [CLIENTS.oddApp] },
  introspect: { ok: [CLIENTS.introspector], other: [CLIENTS.portal, CLIENTS.noScope] },
  admin: { ok: [CLIENTS.admin], other: [CLIENTS.portal, CLIENTS.noScope] },
  public: { ok: [], other: [] },
};

/** Share of requests that are clean: well-formed, with valid credentials. */
const CLEAN_SHARE = 0.3;

const READ_AS_FORM = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
];

const FORM_ROUTES = new Set<RouteKind>(['backchannel', 'token', 'introspect', 'revoke']);

/** Makes request `index` from one of `routes`. */
export function makeRequest(
  rng: Rng,
  index: number,
  routes: ReadonlyArray<{ method: string; url: string }>,
  harvest: Harvest,
): FuzzRequest {
  const route = rng.weighted(routes.map((r) => [WEIGHT[routeKind(r.url)], r] as const));
  const kind = routeKind(route.url);
  // A clean request is well-formed with valid credentials, so that deep paths are reached too.
  const clean = rng.chance(CLEAN_SHARE);
  const method = clean
    ? route.method
    : rng.weighted<() => string>([
        [85, () => route.method],
        [4, () => (kind === 'public' ? 'HEAD' : route.method)],
        [7, () => rng.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])],
        [4, () => rng.pick(['TRACE', 'PROPFIND', 'FOO', 'get', 'M-SEARCH'])],
      ])();
  const headers: Record<string, string | string[]> = clean ? {} : extraHeaders(rng);
  const secrets: string[] = [];

  // Credentials.
  const callers = CALLERS[kind];
  let credentials: CredentialKind = 'none';
  let formCredentials: Array<[string, string]> | undefined;
  let caller: FuzzClient | undefined;
  if (kind !== 'public') {
    const plan = clean
      ? FORM_ROUTES.has(kind) && rng.chance(0.3)
        ? 'form'
        : 'valid'
      : rng.weighted<string>([
          [9, 'valid'],
          [FORM_ROUTES.has(kind) ? 4 : 0, 'form'],
          [1, 'other'],
          [2, 'wrong'],
          [1.5, 'malformed'],
          [1, 'none'],
          [0.5, 'duplicate'],
        ]);
    if (plan === 'valid' || plan === 'other') {
      caller = rng.pick(plan === 'valid' ? callers.ok : callers.other);
      headers.authorization = validBasic(rng, caller);
      credentials = 'valid';
    } else if (plan === 'form') {
      const good = clean || rng.chance(0.75);
      caller = good ? rng.pick(callers.ok) : undefined;
      formCredentials = [
        ['client_id', caller ? caller.id : wrongClientId(rng)],
        ['client_secret', caller ? caller.secret : rng.string(16)],
      ];
      credentials = good ? 'valid' : 'wrong';
      if (!clean && rng.chance(0.1)) {
        headers.authorization = rng.chance(0.5) ? wrongBasic(rng) : malformedAuthorization(rng);
        credentials = 'other';
      }
    } else if (plan === 'wrong') {
      headers.authorization = wrongBasic(rng);
      credentials = 'wrong';
    } else if (plan === 'malformed') {
      headers.authorization = malformedAuthorization(rng);
      credentials = 'malformed';
    } else if (plan === 'duplicate') {
      // Node keeps the first Authorization: the valid caller's, so its changes stay on scratch ids.
      caller = callers.ok[0];
      const valid = caller ? validBasic(rng, caller) : 'Basic x';
      headers.authorization = rng.chance(0.5) ? [valid, malformedAuthorization(rng)] : [valid, valid];
      credentials = 'other';
    }
  } else if (rng.chance(0.1)) {
    headers.authorization = malformedAuthorization(rng);
    credentials = 'other';
  }
  const mayChange = kind === 'admin' && caller === CLIENTS.admin && !['GET', 'HEAD'].includes(method);

  // Path.
  let pathIdValue: string | undefined;
  const segments = route.url.split('/').map((segment) => {
    if (!segment.startsWith(':')) return segment;
    const name = segment.slice(1);
    if (name === 'kind' || name === 'version') return scriptParam(rng, name, clean);
    if (kind === 'admin') {
      const isDryRun = route.url.endsWith('/test') && method === 'POST';
      pathIdValue = adminPathId(rng, adminResource(route.url), mayChange && !isDryRun, clean);
      return pathIdValue;
    }
    if (clean) return rng.pick(kind === 'init' ? ['two'] : IDPS.filter((id) => id !== 'off'));
    return rng.chance(0.9) ? pathId(rng, IDPS) : oddSegment(rng);
  });
  let path = segments.join('/');
  if (kind === 'admin' && method === 'GET' && !clean) path += adminQuery(rng);
  if (!mayChange && !clean && rng.chance(0.05)) {
    path = rng.pick([
      `${path}/`,
      `/${path}`,
      `${path}?a=%zz`,
      `${path}?__proto__[x]=1&constructor=1`,
      `${path}/..`,
      `${path}/.`,
      `${path}%00`,
      `${path};x`,
      path.toUpperCase(),
      `/./${path.slice(1)}`,
      `/x/..${path}`,
      `${path}#f`,
    ]);
  }

  // Body.
  let body: Buffer | undefined;
  let type: string | undefined;
  const json = (value: Json) => {
    type = clean ? 'application/json' : contentType(rng, 'json');
    body = Buffer.from(clean ? JSON.stringify(value) : jsonText(rng, value));
  };
  const form = (fields: Array<[string, string]>) => {
    const made = formText(rng, [...fields, ...(formCredentials ?? [])], clean);
    type = clean ? 'application/x-www-form-urlencoded' : contentType(rng, 'form');
    // Credentials in a form the server does not read as one are no credentials at all.
    if (formCredentials && !(made.plain && type !== undefined && READ_AS_FORM.includes(type))) {
      credentials = 'other';
    }
    body = Buffer.from(made.text);
  };
  const token = () =>
    rng.weighted<() => string>([
      [clean ? 20 : 4, () => pickOr(rng, harvest.refreshTokens, 'none')],
      [3, () => pickOr(rng, harvest.accessTokens, 'none')],
      [2, () => rng.string(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')],
      [1, () => rng.pick(['', ' ', '%', 'ü', 'x'.repeat(5000)])],
    ])();
  if (formCredentials) {
    form(kind === 'backchannel' ? [['data', dataString(rng)]] : formFields(rng, kind, token, clean));
  } else if (!clean && rng.chance(0.06)) {
    body = strangeBody(rng);
    type = contentType(rng, rng.chance(0.5) ? 'json' : 'form');
  } else if (kind === 'backchannel') {
    rng.weighted<() => void>([
      [6, () => json(backchannelJson(rng, clean))],
      [2, () => form([['data', dataString(rng)]])],
      [
        clean ? 0 : 1,
        () => {
          type = rng.chance(0.5) ? 'application/json' : undefined;
        },
      ],
    ])();
  } else if (kind === 'init' || kind === 'complete') {
    if (clean || rng.chance(0.9)) json(registrationJson(rng, kind, harvest, clean));
  } else if (kind === 'token' || kind === 'introspect' || kind === 'revoke') {
    if (!clean && rng.chance(0.15)) json({ token: token() });
    else form(formFields(rng, kind, token, clean));
  } else if (
    kind === 'admin' &&
    route.url.startsWith('/api/v1/configuration/') &&
    (['POST', 'PUT', 'PATCH'].includes(method) || rng.chance(0.05))
  ) {
    const made = adminBody(rng, method, route.url, pathIdValue, clean);
    secrets.push(...made.secrets);
    json(made.body);
  }
  if (method === 'HEAD') body = undefined;
  if (type !== undefined) headers['content-type'] = type;
  if (body !== undefined && !clean && rng.chance(0.03)) {
    headers['content-type'] = [type ?? 'text/plain', 'text/plain'];
    if (formCredentials) credentials = 'other';
  }
  return {
    index,
    route: `${route.method} ${route.url}`,
    method,
    path,
    headers,
    ...(body === undefined ? {} : { body }),
    credentials,
    secrets,
  };
}
