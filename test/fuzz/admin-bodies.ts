/**
 * Admin API requests the fuzzer makes: ids (the configured resources are only read;
 * changes go to scratch ids of the fuzzer's own), query strings, and bodies near each
 * resource's schema. Secrets the bodies write are handed back, so the oracle can
 * look for them in every later answer.
 */
import { type Json, mutate, nested } from './bodies.js';
import type { Rng } from './prng.js';
import { CLIENTS, DECOY_IDS, IDPS, SENSITIVE_PROPERTY } from './target.js';
import { encodeSegment, oddSegment, pathId } from './values.js';

/** The admin resource a route works on, from its URL. */
export type AdminResource = 'api-clients' | 'applications' | 'identity-providers' | 'properties';

const SCRATCH: Record<AdminResource, readonly string[]> = {
  'api-clients': ['fz-x-client-0', 'fz-x-client-1', 'fz-x-client-2', 'fz-x-client-3'],
  applications: ['fz-x-app-0', 'fz-x-app-1', 'fz-x-app-2', 'fz-x-app-3'],
  'identity-providers': ['fz-x-idp-0', 'fz-x-idp-1', 'fz-x-idp-2', 'fz-x-idp-3'],
  properties: ['fz-x-prop-0', 'fz-x-prop-1', 'fz-x-prop-2', 'fz-x-sprop-0', 'fz-x-sprop-1'],
};

const KNOWN: Record<AdminResource, readonly string[]> = {
  'api-clients': [
    CLIENTS.portal.id,
    CLIENTS.oddPortal.id,
    CLIENTS.admin.id,
    CLIENTS.noScope.id,
    ...DECOY_IDS,
  ],
  applications: [CLIENTS.app.id, CLIENTS.oddApp.id],
  'identity-providers': IDPS,
  properties: [SENSITIVE_PROPERTY.id, 'fz-url'],
};

/** Scratch properties that are only ever written as sensitive: their values must never be answered. */
const isSensitiveScratch = (id: string) => id.startsWith('fz-x-sprop-');

/** The resource of an admin URL (`/api/v1/configuration/{resource}/...`). */
export function adminResource(url: string): AdminResource {
  const resource = url.split('/')[4] ?? '';
  if (resource in SCRATCH) return resource as AdminResource;
  throw new Error(`not an admin resource: ${url}`);
}

/** An id for an admin path: scratch ids only when the request may change something. */
export function adminPathId(rng: Rng, resource: AdminResource, mayChange: boolean, clean = false): string {
  if (mayChange) return rng.pick(SCRATCH[resource]);
  if (clean) return encodeSegment(rng.pick(rng.chance(0.5) ? SCRATCH[resource] : KNOWN[resource]));
  return rng.chance(0.3) ? rng.pick(SCRATCH[resource]) : pathId(rng, KNOWN[resource]);
}

/** A `:kind` or `:version` path parameter. */
export function scriptParam(rng: Rng, name: 'kind' | 'version', clean = false): string {
  if (clean) return name === 'kind' ? rng.pick(['backchannel', 'complete']) : '1';
  if (name === 'kind') {
    return rng.weighted<() => string>([
      [8, () => rng.pick(['backchannel', 'complete', 'init'])],
      [1, () => rng.pick(['BACKCHANNEL', 'other', '__proto__', 'constructor'])],
      [1, () => oddSegment(rng)],
    ])();
  }
  return rng.pick([
    '1',
    '1',
    '2',
    '3',
    '0',
    '-1',
    '01',
    '1.5',
    'abc',
    '9007199254740993',
    '1e3',
    oddSegment(rng),
  ]);
}

/** A query string for a list (or junk for any other route). */
export function adminQuery(rng: Rng): string {
  if (rng.chance(0.6)) return '';
  const limit = rng.pick(['1', '2', '50', '200', '0', '201', '-1', 'abc', '', '1e1', '2.5']);
  return rng.pick([
    `?limit=${limit}`,
    `?limit=1&cursor=${rng.pick(['fz-x', 'echo', '', 'x'.repeat(2000), '%zz', '%00'])}`,
    '?limit=1&limit=2',
    '?unknown=1',
    '?cursor[]=a',
    `?${'a=1&'.repeat(200)}`,
  ]);
}

const SOURCES = [
  'function execute(p) { return { status: 2000, responsePayload: p }; }',
  'function execute() { return { status: 2000, user: { id: "x" } }; }',
  'async function execute(p) { return { status: 4000, responsePayload: { p: p } }; }',
  'function execute(p) { LOG.info("p {}", p); CACHE.store("k", p); return { status: 2000, responsePayload: String(CACHE.fetch("k")) }; }',
  'function execute() { throw new Error("boom"); }',
  'function execute() { return { status: "2000" }; }',
  'function execute() {}',
  'var notExecute = 1;',
  'function execute( {',
  'function execute() { return java.lang.System.exit(1); }',
  'function execute() { return { status: 2000, responsePayload: "x".repeat(1000) }; }',
];

/** A script source: quick and well-behaved, or one that fails in a documented way. */
export const scriptSource = (rng: Rng): string => rng.pick(SOURCES);

/** What an admin body generator gives: the body and the secrets it writes. */
export interface AdminBody {
  body: Json;
  secrets: string[];
}

/**
 * A body for an admin request to `url` with `method`; `pathIdValue` is the `:id` in
 * the path (scratch when the request may change something). Mostly valid or nearly so.
 */
export function adminBody(
  rng: Rng,
  method: string,
  url: string,
  pathIdValue: string | undefined,
  clean = false,
): AdminBody {
  const maybeMutate = (body: Json): Json => (!clean && rng.chance(0.4) ? mutate(rng, body) : body);
  const secrets: string[] = [];
  const secret = () => {
    const value = `fz-w-secret-${rng.string(20)}`;
    secrets.push(value);
    return value;
  };
  if (url.endsWith('/test')) return { body: maybeMutate(dryRunBody(rng)), secrets };
  if (url.endsWith('/scripts/:kind')) return { body: maybeMutate({ source: scriptSource(rng) }), secrets };
  const resource = adminResource(url);
  const patch = method === 'PATCH';
  const target = pathIdValue === undefined ? undefined : decodedOr(pathIdValue);
  const bodyId = (key: string, id: string, body: Record<string, Json>) =>
    patch || (method === 'PUT' && rng.chance(0.5)) ? body : { [key]: id, ...body };
  const sensitive = target === undefined ? rng.chance(0.3) : isSensitiveScratch(target);
  if (resource === 'properties' && sensitive) {
    // Sensitive scratch properties get only these bodies, never mutated: a dropped or false
    // `sensitive` would legitimately show the value.
    const value = secret();
    const id = target ?? rng.pick(SCRATCH.properties.filter(isSensitiveScratch));
    return { body: bodyId('id', id, patch ? { value } : { value, sensitive: true }), secrets };
  }
  // Any other body names no sensitive scratch property.
  const others = SCRATCH[resource].filter((id) => !isSensitiveScratch(id));
  const id =
    target !== undefined && rng.chance(0.9) ? target : rng.pick(rng.chance(0.8) ? others : KNOWN[resource]);
  const withId = (key: string, body: Record<string, Json>) => bodyId(key, id, body);
  let body: Record<string, Json> = {};
  switch (resource) {
    case 'api-clients':
      body = withId('client_id', {
        client_secret: secret(),
        name: rng.pick(['n', null, 'é'.repeat(10)]),
        scopes: rng.pick<Json>([[], ['user_registration'], ['admin', 'token_introspection']]),
      });
      break;
    case 'applications':
      body = withId('client_id', {
        client_secret: secret(),
        identity_providers: rng.pick<Json>([[], ['echo'], ['two', 'fz-x-idp-0'], ['missing']]),
        scopes: ['openid', 'profile'],
        default_scopes: rng.pick<Json>([[], ['openid'], ['nope']]),
        access_token_ttl_seconds: rng.pick([60, 3600, 59]),
        refresh_tokens: rng.chance(0.5),
      });
      break;
    case 'identity-providers': {
      const flow = rng.pick(['one_step', 'two_step']);
      const scripts: Record<string, Json> = { complete: { source: scriptSource(rng) } };
      if (flow === 'two_step' || rng.chance(0.1)) scripts.init = { source: scriptSource(rng) };
      if (rng.chance(0.7)) scripts.backchannel = rng.chance(0.9) ? { source: scriptSource(rng) } : null;
      body = withId('id', {
        name: 'scratch',
        flow,
        enabled: rng.chance(0.8),
        limits: rng.pick<Json>([{}, { cpu_time_ms: 200 }, { memory_mb: 16, wall_time_ms: 500 }]),
        scripts,
      });
      if (rng.chance(0.2)) body.http = { allow: ['https://api.example.com'] };
      break;
    }
    case 'properties':
      body = withId('id', { value: rng.pick(['v', '', 'x'.repeat(100)]), sensitive: false });
      break;
  }
  if (patch) for (const key of Object.keys(body)) if (rng.chance(0.5)) delete body[key];
  return { body: maybeMutate(body), secrets };
}

function dryRunBody(rng: Rng): Record<string, Json> {
  const body: Record<string, Json> = {};
  if (rng.chance(0.6)) body.source = scriptSource(rng);
  if (rng.chance(0.7)) body.data = rng.pick(['x', '{"a":1}', null, '']);
  if (rng.chance(0.2)) body.registration_data = rng.pick(['r', null]);
  if (rng.chance(0.2)) body.hook_context_custom_params = { a: ['b'] };
  if (rng.chance(0.3)) body.cache = { k: rng.pick(['v', 1, nested(rng.pick([3, 60]))]) };
  return body;
}

function decodedOr(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
