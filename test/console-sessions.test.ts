/**
 * Console sessions (issue 12, part 1): sign-in, the cookie, CSRF on changes, sign-out,
 * revocation when the client changes, and the console's security headers. Expiry, the
 * throttle and `server.console: false` are in console-limits.test.ts.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CONSOLE_CSP } from '../src/console/headers.js';
import { ADMIN, adminCall, signIn, signInRequest } from './helpers/console.js';
import { basic, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const CLIENTS = '/api/v1/configuration/api-clients';
const PROPERTIES = '/api/v1/configuration/properties';
/** A second admin, to change the first from outside its session. */
const OPS = { client_id: 'ops', client_secret: 'ops-secret' } as const;

describe('console sessions', () => {
  let r: TestRegistrar;
  const json = (body: string) => JSON.parse(body) as Record<string, unknown>;

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
        { ...OPS, scopes: ['admin'] },
      ],
      engine: { sandbox_processes: 1 },
      // A console that is on but not built (its page answers 503): the headers hold there too.
      server: { console_dir: join(tmpdir(), 'registrar-console-not-built') },
    });
  });
  after(async () => r.close());

  test('signing in answers 204 with an HttpOnly, SameSite=Strict cookie and an anti-CSRF token', async () => {
    const login = await signIn(r.app);
    const attributes = login.setCookie.split(';').map((part) => part.trim());
    assert.match(attributes[0] ?? '', /^registrar_console=[A-Za-z0-9_-]{43}$/, '256 random bits');
    assert.deepEqual(attributes.slice(1).sort(), ['HttpOnly', 'Path=/', 'SameSite=Strict']);
    assert.match(login.csrf, /^[A-Za-z0-9_-]{43}$/);
    const other = await signIn(r.app);
    assert.notEqual(other.cookie, login.cookie, 'every sign-in gets its own session');
    assert.notEqual(other.csrf, login.csrf);
  });

  test('the cookie is Secure when the request came over HTTPS (a proxy says so)', async () => {
    const res = await signInRequest(r.app, ADMIN.client_id, ADMIN.client_secret, {
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.equal(res.statusCode, 204);
    assert.match(String(res.headers['set-cookie']), /; Secure$/);
  });

  test('the session id and the token are never logged or stored in clear', async () => {
    const login = await signIn(r.app);
    const id = login.cookie.split('=')[1] as string;
    assert.ok(!r.logs.text().includes(id), 'no session id in the log');
    assert.ok(!r.logs.text().includes(login.csrf), 'no token in the log');
    assert.ok(!r.logs.text().includes(ADMIN.client_secret), 'no secret in the log');
  });

  test('a wrong secret or an unknown client is invalid_client; a client without admin is refused', async () => {
    for (const [id, secret] of [
      [ADMIN.client_id, 'wrong'],
      ['nobody', 'x'],
    ] as const) {
      const res = await signInRequest(r.app, id, secret);
      assert.equal(res.statusCode, 400);
      assert.equal(json(res.body).error, 'invalid_client');
      assert.equal(res.headers['set-cookie'], undefined, 'no cookie');
    }
    const portal = await signInRequest(r.app, PORTAL.client_id, PORTAL.client_secret);
    assert.equal(portal.statusCode, 403);
    assert.equal(json(portal.body).error, 'insufficient_permissions');
    assert.equal(portal.headers['set-cookie'], undefined);
  });

  test('missing or malformed credentials, or a body that is not JSON, are refused', async () => {
    for (const payload of ['{}', '[]', '{"client_id": "admin"}', '{"client_id": 1, "client_secret": "x"}']) {
      const res = await r.app.inject({
        method: 'POST',
        url: '/console/api/session',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      assert.equal(res.statusCode, 400, payload);
      assert.equal(json(res.body).error, 'invalid_client', payload);
    }
    // A cross-site form cannot send JSON: a text/plain body is no credentials at all.
    const plain = await r.app.inject({
      method: 'POST',
      url: '/console/api/session',
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify({ client_id: ADMIN.client_id, client_secret: ADMIN.client_secret }),
    });
    assert.equal(plain.statusCode, 400);
    assert.equal(plain.headers['set-cookie'], undefined);
  });

  test('a GET of the admin API with the cookie works, and GET /console/api/session tells who and until when', async () => {
    const login = await signIn(r.app);
    const list = await adminCall(r.app, 'GET', CLIENTS, { login, csrf: null });
    assert.equal(list.statusCode, 200, list.body);
    assert.ok((json(list.body).items as unknown[]).length >= 3);
    const session = await r.app.inject({
      method: 'GET',
      url: '/console/api/session',
      headers: { cookie: login.cookie },
    });
    assert.equal(session.statusCode, 200);
    const body = json(session.body);
    assert.equal(body.client_id, ADMIN.client_id);
    assert.equal(body.csrf_token, login.csrf);
    const expires = Date.parse(String(body.expires_at)) - Date.parse(String(body.created_at));
    assert.equal(expires, 12 * 3_600_000, 'twelve hours by default');
  });

  test('a change with the cookie but without or with a wrong X-CSRF-Token is refused and changes nothing', async () => {
    const login = await signIn(r.app);
    for (const csrf of [null, '', 'x'.repeat(43), (await signIn(r.app)).csrf]) {
      const res = await adminCall(
        r.app,
        'POST',
        PROPERTIES,
        { login, csrf },
        { id: 'csrf-probe', value: 'v' },
      );
      assert.equal(res.statusCode, 403, `token ${csrf}`);
      assert.deepEqual(json(res.body), {
        error: 'invalid_csrf_token',
        error_description: json(res.body).error_description,
      });
      const deleted = await adminCall(r.app, 'DELETE', `${CLIENTS}/${OPS.client_id}`, { login, csrf });
      assert.equal(deleted.statusCode, 403);
    }
    const probe = await adminCall(r.app, 'GET', `${PROPERTIES}/csrf-probe`, { basic: ADMIN });
    assert.equal(probe.statusCode, 404, 'nothing was created');
    const ops = await adminCall(r.app, 'GET', `${CLIENTS}/${OPS.client_id}`, { basic: ADMIN });
    assert.equal(ops.statusCode, 200, 'nothing was deleted');
  });

  test('with the token the change is made, and its stored audit event names the client', async () => {
    const login = await signIn(r.app);
    const res = await adminCall(r.app, 'POST', PROPERTIES, { login }, { id: 'from-console', value: 'v1' });
    assert.equal(res.statusCode, 201, res.body);
    const events = await adminCall(r.app, 'GET', '/api/v1/audit-events?resource_id=from-console', { login });
    assert.equal(events.statusCode, 200, events.body);
    const [event] = json(events.body).items as Array<Record<string, unknown>>;
    assert.equal(event?.client_id, ADMIN.client_id);
    assert.equal(event?.action, 'create');
    assert.equal(event?.resource, 'property');
  });

  test('Basic credentials and the cookie at once are invalid_client', async () => {
    const login = await signIn(r.app);
    const res = await r.app.inject({
      method: 'GET',
      url: CLIENTS,
      headers: { cookie: login.cookie, authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(json(res.body).error, 'invalid_client');
  });

  test('an unknown or doubled cookie is invalid_client; other cookies beside it are fine', async () => {
    const login = await signIn(r.app);
    const get = (cookie: string) => r.app.inject({ method: 'GET', url: CLIENTS, headers: { cookie } });
    for (const cookie of [
      'registrar_console=x',
      `registrar_console=${'A'.repeat(43)}`,
      `${login.cookie}; ${login.cookie}`,
    ]) {
      const res = await get(cookie);
      assert.equal(res.statusCode, 400, cookie);
      assert.equal(json(res.body).error, 'invalid_client');
    }
    assert.equal((await get(`theme=dark; ${login.cookie}; lang=en`)).statusCode, 200);
  });

  test('signing out ends the session on the server (it needs the token) and clears the cookie', async () => {
    const login = await signIn(r.app);
    const out = (csrf?: string) =>
      r.app.inject({
        method: 'DELETE',
        url: '/console/api/session',
        headers: { cookie: login.cookie, ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }) },
      });
    const forged = await out();
    assert.equal(forged.statusCode, 403);
    assert.equal(json(forged.body).error, 'invalid_csrf_token');
    const res = await out(login.csrf);
    assert.equal(res.statusCode, 204);
    assert.match(
      String(res.headers['set-cookie']),
      /^registrar_console=; Max-Age=0; Path=\/; HttpOnly; SameSite=Strict/,
    );
    const after = await adminCall(r.app, 'GET', CLIENTS, { login });
    assert.equal(after.statusCode, 400);
    assert.equal(json(after.body).error, 'invalid_client');
    assert.equal((await out(login.csrf)).statusCode, 400, 'signing out twice finds no session');
  });

  test("rotating the client's secret or deleting the client ends its sessions at once", async () => {
    await adminCall(
      r.app,
      'POST',
      CLIENTS,
      { basic: OPS },
      {
        client_id: 'temp-admin',
        client_secret: 'temp-secret-1',
        scopes: ['admin'],
      },
    );
    const login = await signIn(r.app, { client_id: 'temp-admin', client_secret: 'temp-secret-1' });
    const renamed = await adminCall(
      r.app,
      'PATCH',
      `${CLIENTS}/temp-admin`,
      { basic: OPS },
      { name: 'Temp' },
    );
    assert.equal(renamed.statusCode, 200);
    assert.equal(
      (await adminCall(r.app, 'GET', CLIENTS, { login })).statusCode,
      200,
      'another change keeps it',
    );
    const rotated = await adminCall(
      r.app,
      'PATCH',
      `${CLIENTS}/temp-admin`,
      { basic: OPS },
      {
        client_secret: 'temp-secret-2',
      },
    );
    assert.equal(rotated.statusCode, 200);
    assert.equal((await adminCall(r.app, 'GET', CLIENTS, { login })).statusCode, 400, 'a new secret ends it');

    const again = await signIn(r.app, { client_id: 'temp-admin', client_secret: 'temp-secret-2' });
    assert.equal((await adminCall(r.app, 'GET', CLIENTS, { login: again })).statusCode, 200);
    const deleted = await adminCall(r.app, 'DELETE', `${CLIENTS}/temp-admin`, { basic: OPS });
    assert.equal(deleted.statusCode, 204);
    const res = await adminCall(r.app, 'GET', CLIENTS, { login: again });
    assert.equal(res.statusCode, 400, 'a deleted client has no session');
    assert.equal(json(res.body).error, 'invalid_client');
  });

  test('a client that lost scope admin keeps its session but may not use the admin API', async () => {
    await adminCall(
      r.app,
      'POST',
      CLIENTS,
      { basic: OPS },
      {
        client_id: 'demoted',
        client_secret: 'demoted-secret',
        scopes: ['admin'],
      },
    );
    const login = await signIn(r.app, { client_id: 'demoted', client_secret: 'demoted-secret' });
    await adminCall(r.app, 'PATCH', `${CLIENTS}/demoted`, { basic: OPS }, { scopes: [] });
    const res = await adminCall(r.app, 'GET', CLIENTS, { login });
    assert.equal(res.statusCode, 403);
    assert.equal(json(res.body).error, 'insufficient_permissions');
  });

  test('every /console answer carries the CSP, nosniff, no-referrer and no-store headers', async () => {
    const login = await signIn(r.app);
    const answers = [
      await signInRequest(r.app, ADMIN.client_id, ADMIN.client_secret),
      await signInRequest(r.app, ADMIN.client_id, 'wrong'),
      await r.app.inject({ method: 'GET', url: '/console/api/session', headers: { cookie: login.cookie } }),
      await r.app.inject({ method: 'GET', url: '/console/api/session' }),
      await r.app.inject({ method: 'GET', url: '/console/' }),
      await r.app.inject({ method: 'GET', url: '/console?x=1' }),
      await r.app.inject({ method: 'PUT', url: '/console/api/session' }),
      await r.app.inject({
        method: 'DELETE',
        url: '/console/api/session',
        headers: { cookie: login.cookie },
      }),
    ];
    assert.deepEqual(
      answers.map((a) => a.statusCode),
      [204, 400, 200, 400, 503, 503, 404, 403],
    );
    for (const a of answers) {
      assert.equal(a.headers['content-security-policy'], CONSOLE_CSP);
      assert.equal(a.headers['x-content-type-options'], 'nosniff');
      assert.equal(a.headers['referrer-policy'], 'no-referrer');
      assert.equal(a.headers['cache-control'], 'no-store');
    }
    assert.equal(
      CONSOLE_CSP,
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    const admin = await adminCall(r.app, 'GET', CLIENTS, { basic: ADMIN });
    assert.equal(admin.headers['content-security-policy'], undefined, 'only /console answers carry it');
  });
});
