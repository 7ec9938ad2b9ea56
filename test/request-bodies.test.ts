import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_JSON_DEPTH } from '../src/http/json-body.js';
import { basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const ADMIN = { client_id: 'admin', client_secret: 'admin-secret' } as const;
const MOBILE = { client_id: 'mobile', client_secret: 'mobile-secret' } as const;
const ADMIN_BASE = '/api/v1/configuration';
const ECHO = 'function execute(p) { return { status: 2000, responsePayload: p, user: { id: "u" } }; }';

/** `depth` levels of arrays around `inner`: `[[0]]` is depth 2. */
const nested = (depth: number, inner = '0') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

/**
 * Request bodies on every JSON route (security review, issue 13): an empty body is no
 * body, whatever Content-Type a client adds out of habit; a body nested deeper than
 * MAX_JSON_DEPTH is `invalid_request` before any validation runs.
 */
describe('request bodies', () => {
  let r: TestRegistrar;
  const adminAuth = () => basic(ADMIN.client_id, ADMIN.client_secret);
  const inject = (method: string, url: string, headers: Record<string, string>, payload?: string) =>
    r.app.inject({
      method: method as 'POST',
      url,
      headers,
      ...(payload === undefined ? {} : { payload }),
    });
  const jsonHeaders = (authorization: string) => ({ authorization, 'content-type': 'application/json' });
  const expectError = (
    res: { statusCode: number; body: string; headers: Record<string, unknown> },
    status: number,
    error: string,
  ) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(JSON.parse(res.body).error, error);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.ok(res.headers['x-request-id'], 'a request id');
    return JSON.parse(res.body) as { error: string; error_description: string };
  };

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      identity_providers: [idp('echo', { backchannel: ECHO, complete: ECHO })],
      applications: [{ ...MOBILE, identity_providers: ['echo'] }],
      properties: [
        { id: 'doomed', value: 'x' },
        { id: 'doomed-chunked', value: 'x' },
      ],
    });
  });
  after(() => r.close());

  describe('an empty body with Content-Type: application/json is no body', () => {
    test('DELETE on the admin API deletes', async () => {
      const res = await inject('DELETE', `${ADMIN_BASE}/properties/doomed`, jsonHeaders(adminAuth()));
      assert.equal(res.statusCode, 204, res.body);
      const again = await inject('GET', `${ADMIN_BASE}/properties/doomed`, { authorization: adminAuth() });
      expectError(again, 404, 'not_found');
    });

    test('GET on the admin API answers', async () => {
      const res = await inject('GET', `${ADMIN_BASE}/properties`, jsonHeaders(adminAuth()));
      assert.equal(res.statusCode, 200, res.body);
    });

    test('POST with an optional body: complete, backchannel', async () => {
      const complete = await inject(
        'POST',
        '/oauth/custom-registration/echo/complete',
        jsonHeaders(basic(MOBILE.client_id, MOBILE.client_secret)),
      );
      assert.equal(complete.statusCode, 200, complete.body);
      assert.equal(complete.json().status, 2000);
      const backchannel = await inject(
        'POST',
        '/oauth/api/v3/custom-registration/echo/backchannel',
        jsonHeaders(basic(PORTAL.client_id, PORTAL.client_secret)),
      );
      assert.equal(backchannel.statusCode, 200, backchannel.body);
      assert.deepEqual(backchannel.json(), { status: 2000 });
    });

    test('POST where a body is required names the missing body, not bad JSON', async () => {
      const res = await inject('POST', `${ADMIN_BASE}/properties`, jsonHeaders(adminAuth()));
      const body = expectError(res, 400, 'invalid_request');
      assert.doesNotMatch(body.error_description, /not valid JSON/);
    });

    test('a method without a route is not_found, not a body error', async () => {
      expectError(await inject('OPTIONS', '/healthz', jsonHeaders(adminAuth())), 404, 'not_found');
    });

    test('over a real port, with Content-Length: 0 and with an empty chunked body', async () => {
      const base = (await r.app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
      const emptyChunked = new ReadableStream({ start: (controller) => controller.close() });
      const res = await fetch(`${base}${ADMIN_BASE}/properties/doomed-chunked`, {
        method: 'DELETE',
        headers: jsonHeaders(adminAuth()),
        body: emptyChunked,
        duplex: 'half',
      } as RequestInit);
      assert.equal(res.status, 204, await res.text());
      const lengthZero = await fetch(`${base}/oauth/custom-registration/echo/complete`, {
        method: 'POST',
        headers: jsonHeaders(basic(MOBILE.client_id, MOBILE.client_secret)),
        body: '',
      });
      assert.equal(lengthZero.status, 200, await lengthZero.text());
    });

    test('a non-empty body that is not JSON is still invalid_request', async () => {
      for (const payload of ['{', ' ', 'null x']) {
        const res = await inject(
          'DELETE',
          `${ADMIN_BASE}/properties/absent`,
          jsonHeaders(adminAuth()),
          payload,
        );
        assert.equal(
          expectError(res, 400, 'invalid_request').error_description,
          'the body is not valid JSON',
        );
      }
      const poisoned = await inject(
        'POST',
        `${ADMIN_BASE}/properties`,
        jsonHeaders(adminAuth()),
        '{"id":"p","value":"v","__proto__":{"x":1}}',
      );
      expectError(poisoned, 400, 'invalid_request');
    });
  });

  describe(`JSON bodies nest at most ${MAX_JSON_DEPTH} levels`, () => {
    const dryRun = (payload: string) =>
      inject(
        'POST',
        `${ADMIN_BASE}/identity-providers/echo/scripts/backchannel/test`,
        jsonHeaders(adminAuth()),
        payload,
      );

    test('a dry run with a cache seed 2 500 levels deep is invalid_request, not a 500', async () => {
      const res = await dryRun(`{"cache":{"seed":${nested(2500)}}}`);
      const body = expectError(res, 400, 'invalid_request');
      assert.match(body.error_description, new RegExp(`${MAX_JSON_DEPTH} levels`));
    });

    test(`exactly ${MAX_JSON_DEPTH} levels are accepted; one more is not`, async () => {
      // The body is one level, `cache` a second: the seed gets the rest.
      const fits = await dryRun(`{"cache":{"seed":${nested(MAX_JSON_DEPTH - 2)}}}`);
      assert.equal(fits.statusCode, 200, fits.body);
      expectError(await dryRun(`{"cache":{"seed":${nested(MAX_JSON_DEPTH - 1)}}}`), 400, 'invalid_request');
    });

    test('brackets inside strings do not count', async () => {
      const res = await dryRun(JSON.stringify({ data: '['.repeat(5000), cache: { seed: '{'.repeat(5000) } }));
      assert.equal(res.statusCode, 200, res.body);
    });

    test('every JSON route: admin create, complete, backchannel', async () => {
      const deep = nested(200);
      expectError(
        await inject(
          'POST',
          `${ADMIN_BASE}/api-clients`,
          jsonHeaders(adminAuth()),
          `{"client_id":"c","client_secret":"s","scopes":${deep}}`,
        ),
        400,
        'invalid_request',
      );
      expectError(
        await inject(
          'POST',
          '/oauth/custom-registration/echo/complete',
          jsonHeaders(basic(MOBILE.client_id, MOBILE.client_secret)),
          `{"data":"x","extra":${deep}}`,
        ),
        400,
        'invalid_request',
      );
      expectError(
        await inject(
          'POST',
          '/oauth/api/v3/custom-registration/echo/backchannel',
          jsonHeaders(basic(PORTAL.client_id, PORTAL.client_secret)),
          `{"data":"x","extra":${deep}}`,
        ),
        400,
        'invalid_request',
      );
    });
  });
});
