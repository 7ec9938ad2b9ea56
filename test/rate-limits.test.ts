/**
 * Declarative rate limits (`identity_providers[].rate_limits`) on one node: config
 * validation, per application and per address on init/complete and the backchannel, the
 * admin API's view and changes; and the script side (`CACHE.increment`, `RATE.take`):
 * argument errors, dry runs on the scratch CACHE. The two-node cases are in
 * counters-sqlite.test.ts and counters-postgres-redis.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { awayFromWindowEdge } from './helpers/counters-suite.js';
import { sampleValue } from './helpers/metrics.js';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const ADMIN = { client_id: 'ops', client_secret: 'ops-secret' } as const;
const APP = { client_id: 'app', client_secret: 'app-secret' } as const;
const APP2 = { client_id: 'app-2', client_secret: 'app-2-secret' } as const;
const BASE = '/api/v1/configuration/identity-providers';
const INIT = 'function execute() { return { status: 2000, registrationData: "r" }; }';
const QR_LIMITED = readFileSync(
  join(import.meta.dirname, '..', 'examples', 'scripts', 'qr-backchannel-limited.js'),
  'utf8',
);

/** The problems a raw config is refused with. */
function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, { baseDir: '/', dataDir: '/tmp/registrar-unused' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  return assert.fail('accepted');
}

const withLimits = (rate_limits: unknown) => ({
  identity_providers: [
    idp('a', { backchannel: 'function execute() { return { status: 2000 }; }' }, { rate_limits }),
  ],
});

describe('rate_limits in the config file', () => {
  test('a valid list is accepted and kept', () => {
    const rules = [
      { endpoint: 'backchannel', per: 'client', limit: 30, window_seconds: 60 },
      { endpoint: 'backchannel', per: 'address', limit: 1000, window_seconds: 86_400 },
      { endpoint: 'complete', per: 'application', limit: 5, window_seconds: 1 },
    ];
    const config = parseConfig(withLimits(rules), { baseDir: '/', dataDir: '/tmp/registrar-unused' });
    assert.deepEqual(config.identity_providers[0]?.rate_limits, rules);
  });

  test('bad values are refused, naming the path', () => {
    const rule = { endpoint: 'backchannel', per: 'client', limit: 30, window_seconds: 60 };
    const cases: Array<[unknown, string]> = [
      [[{ ...rule, limit: 0 }], 'identity_providers[0].rate_limits[0].limit'],
      [[{ ...rule, limit: 1.5 }], 'identity_providers[0].rate_limits[0].limit'],
      [[{ ...rule, limit: 2_000_000 }], 'identity_providers[0].rate_limits[0].limit'],
      [[{ ...rule, window_seconds: 0 }], 'identity_providers[0].rate_limits[0].window_seconds'],
      [[{ ...rule, window_seconds: 86_401 }], 'identity_providers[0].rate_limits[0].window_seconds'],
      [[{ ...rule, endpoint: 'token' }], 'identity_providers[0].rate_limits[0].endpoint'],
      [[{ ...rule, per: 'user' }], 'identity_providers[0].rate_limits[0].per'],
      [[{ ...rule, burst: 2 }], 'identity_providers[0].rate_limits[0]'],
      [
        [{ endpoint: 'backchannel', per: 'client', limit: 3 }],
        'identity_providers[0].rate_limits[0].window_seconds',
      ],
      [
        [{ ...rule, per: 'application' }],
        'identity_providers[0].rate_limits[0].per: the backchannel is called by API clients',
      ],
      [
        [{ ...rule, endpoint: 'complete' }],
        'identity_providers[0].rate_limits[0].per: complete is called by applications',
      ],
      [[rule, { ...rule, limit: 5 }], 'identity_providers[0].rate_limits[1]: duplicate rule'],
      ['30/min', 'identity_providers[0].rate_limits'],
      [
        Array.from({ length: 17 }, (_, i) => ({ ...rule, window_seconds: i + 1 })),
        'identity_providers[0].rate_limits',
      ],
    ];
    for (const [rules, expected] of cases) {
      const found = problems(withLimits(rules));
      assert.ok(
        found.some((p) => p.startsWith(expected)),
        `${JSON.stringify(rules).slice(0, 80)}: expected "${expected}" in ${JSON.stringify(found)}`,
      );
    }
  });
});

describe('rate limits and counters on one node', () => {
  let r: TestRegistrar;
  const admin = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown) =>
    r.app.inject({
      method,
      url: `${BASE}${url}`,
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      ...(body === undefined ? {} : { payload: body as object }),
    });
  const appCall = (
    endpoint: 'init' | 'complete',
    idpId: string,
    app: { client_id: string; client_secret: string },
    body: object = {},
  ) =>
    r.app.inject({
      method: 'POST',
      url: `/oauth/custom-registration/${idpId}/${endpoint}`,
      headers: { authorization: basic(app.client_id, app.client_secret) },
      payload: body,
    });
  const dryRun = async (source: string, cache?: Record<string, unknown>) => {
    const res = await admin('POST', '/scripts-host/scripts/backchannel/test', {
      source,
      ...(cache ? { cache } : {}),
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as {
      status: number | null;
      response_payload: string | null;
      error?: { message: string };
      cache: Record<string, unknown>;
    };
  };

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      applications: [
        { ...APP, identity_providers: ['two', 'one'] },
        { ...APP2, identity_providers: ['two', 'one'] },
      ],
      identity_providers: [
        idp(
          'two',
          { init: INIT },
          { rate_limits: [{ endpoint: 'init', per: 'application', limit: 2, window_seconds: 60 }] },
        ),
        idp(
          'one',
          {},
          { rate_limits: [{ endpoint: 'complete', per: 'address', limit: 3, window_seconds: 60 }] },
        ),
        idp('scripts-host', { backchannel: 'function execute() { return { status: 2000 }; }' }),
        idp('qr-limited', { backchannel: QR_LIMITED }),
      ],
    });
  });
  after(async () => {
    await r.close();
  });

  test('per application on init: the third init of one application is 429; another application passes', async () => {
    await awayFromWindowEdge(60);
    for (let i = 0; i < 2; i++) assert.equal((await appCall('init', 'two', APP)).statusCode, 200);
    const limited = await appCall('init', 'two', APP);
    assert.equal(limited.statusCode, 429, limited.body);
    assert.equal(limited.json().error, 'too_many_requests');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal((await appCall('init', 'two', APP2)).statusCode, 200);
    assert.equal(
      await sampleValue(r.deps.metrics, 'registrar_rate_limited_total', {
        idp: 'two',
        endpoint: 'init',
        per: 'application',
      }),
      1,
    );
  });

  test('per address on complete: every application from one address shares the count', async () => {
    await awayFromWindowEdge(60);
    assert.equal((await appCall('complete', 'one', APP)).statusCode, 200);
    assert.equal((await appCall('complete', 'one', APP2)).statusCode, 200);
    assert.equal((await appCall('complete', 'one', APP)).statusCode, 200);
    const limited = await appCall('complete', 'one', APP2);
    assert.equal(limited.statusCode, 429, limited.body);
    assert.ok(!('oauth_token' in limited.json()));
  });

  test('the checks before the limit keep their answers: a limit never hides invalid_client or invalid_scope', async () => {
    const wrong = await appCall('complete', 'one', {
      client_id: 'app',
      client_secret: 'nope',
    } as unknown as typeof APP);
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().error, 'invalid_client');
    const scope = await appCall('complete', 'one', APP, { scope: ['admin'] });
    assert.equal(scope.json().error, 'invalid_scope');
  });

  test('the admin API shows, changes and validates rate_limits, and a change applies at once', async () => {
    const rules = [{ endpoint: 'backchannel', per: 'client', limit: 1, window_seconds: 60 }];
    const created = await admin('POST', '', {
      id: 'admin-limited',
      scripts: {
        complete: { source: 'function execute() { return { status: 2000, user: { id: "u" } }; }' },
        backchannel: { source: 'function execute() { return { status: 2000 }; }' },
      },
      rate_limits: rules,
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(created.json().rate_limits, rules);
    await awayFromWindowEdge(60);
    assert.equal((await backchannel(r.app, 'admin-limited')).statusCode, 200);
    assert.equal((await backchannel(r.app, 'admin-limited')).statusCode, 429);
    const removed = await admin('PATCH', '/admin-limited', { rate_limits: null });
    assert.equal(removed.statusCode, 200, removed.body);
    assert.ok(!('rate_limits' in removed.json()));
    assert.equal((await backchannel(r.app, 'admin-limited')).statusCode, 200, 'no limit any more');
    const bad = await admin('PATCH', '/admin-limited', {
      rate_limits: [{ endpoint: 'init', per: 'client', limit: 1, window_seconds: 60 }],
    });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(bad.json().error, 'invalid_request');
    assert.ok(
      (bad.json().details as Array<{ field: string }>).some((d) => d.field.startsWith('rate_limits[0].per')),
      bad.body,
    );
    const kept = await admin('PATCH', '/admin-limited', { enabled: true });
    assert.ok(!('rate_limits' in kept.json()));
    const patched = await admin('PATCH', '/admin-limited', { rate_limits: rules });
    assert.deepEqual(patched.json().rate_limits, rules);
    const other = await admin('PATCH', '/admin-limited', { name: 'renamed' });
    assert.deepEqual(other.json().rate_limits, rules, 'a patch without rate_limits keeps them');
  });

  test('the documented abuse-limiting QR backchannel: 5 codes a minute per user, then 4290 with retry_after', async () => {
    await awayFromWindowEdge(60);
    const user = JSON.stringify({ userId: `alice-${Date.now()}` });
    for (let i = 0; i < 5; i++) {
      const res = await backchannel(r.app, 'qr-limited', user);
      assert.equal(res.json().status, 2000, res.body);
      assert.match(res.json().data, /^[0-9a-f-]{36}$/);
    }
    const limited = await backchannel(r.app, 'qr-limited', user);
    assert.equal(limited.statusCode, 200, 'a script status, not an HTTP error');
    assert.equal(limited.json().status, 4290);
    const retryAfter = JSON.parse(limited.json().data).retry_after;
    assert.ok(retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
    const other = await backchannel(r.app, 'qr-limited', JSON.stringify({ userId: `bob-${Date.now()}` }));
    assert.equal(other.json().status, 2000, 'another user has a count of their own');
  });

  test('dry runs count on the scratch CACHE: increment and RATE.take, the real CACHE untouched', async () => {
    const report = await dryRun(
      `function execute() {
        CACHE.increment('n');
        var n = CACHE.increment('n', 2, 60);
        var first = RATE.take('login', 1, 60);
        var second = RATE.take('login', 1, 60);
        return { status: 2000, responsePayload: JSON.stringify([n, CACHE.fetch('n'), first, second.allowed, second.remaining]) };
      }`,
      { n: 5 },
    );
    assert.equal(report.status, 2000, JSON.stringify(report));
    const [n, fetched, first, allowed, remaining] = JSON.parse(report.response_payload ?? '');
    assert.equal(n, 8);
    assert.equal(fetched, 8);
    assert.equal(first.allowed, true);
    assert.equal(first.remaining, 0);
    assert.ok(first.resetSeconds >= 1 && first.resetSeconds <= 60);
    assert.equal(allowed, false);
    assert.equal(remaining, 0);
    assert.equal(report.cache.n, 8);
    const rateKeys = Object.keys(report.cache).filter(
      (k) => k.startsWith('RATE:60:') && k.endsWith(':login'),
    );
    assert.equal(rateKeys.length, 1, JSON.stringify(report.cache));
    assert.equal(report.cache[rateKeys[0] as string], 2);
    assert.equal(await r.deps.storage.cache.get('n'), null, 'the real CACHE was not touched');
  });

  test('bad arguments are clear script errors', async () => {
    const cases: Array<[string, string]> = [
      ['CACHE.increment(1)', 'CACHE.increment: key must be a string'],
      ['CACHE.increment("k", 1.5)', 'CACHE.increment: delta must be an integer'],
      ['CACHE.increment("k", "2")', 'CACHE.increment: delta must be an integer'],
      ['CACHE.increment("k", 1, 0)', 'CACHE.increment: ttlSeconds must be a positive number'],
      ['CACHE.increment("k", 1, 86401)', 'CACHE.increment: ttlSeconds must be between 0 and 86400'],
      ['CACHE.increment("x".repeat(1025))', 'CACHE.increment: the key is 1025 bytes; the limit is 1024'],
      ['CACHE.increment("text")', 'CACHE.increment: the value under this key is not an integer'],
      ['CACHE.store("s", 1); CACHE.increment("s")', 'CACHE.increment: this execution stored the key'],
      ['for (var i = 0; i < 101; i++) CACHE.increment("many")', 'at most 100 times'],
      ['RATE.take(1, 1, 60)', 'RATE.take: key must be a string'],
      ['RATE.take("k", 0, 60)', 'RATE.take: limit must be an integer from 1 to 1000000000'],
      ['RATE.take("k", 1.5, 60)', 'RATE.take: limit must be an integer'],
      ['RATE.take("k", 1, 0)', 'RATE.take: windowSeconds must be an integer from 1 to 86400'],
      ['RATE.take("k", 1, "60")', 'RATE.take: windowSeconds must be an integer'],
      ['RATE.take("x".repeat(1025), 1, 60)', 'RATE.take: the key is 1025 bytes; the limit is 1024'],
    ];
    for (const [call, message] of cases) {
      const report = await dryRun(`function execute() { ${call}; return { status: 2000 }; }`, {
        text: 'abc',
      });
      assert.equal(report.status, null, `${call} failed`);
      assert.ok(report.error?.message.includes(message), `${call}: ${report.error?.message}`);
    }
  });
});
