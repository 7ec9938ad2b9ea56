/**
 * Console sessions' limits: idle expiry and the hard cap (on a clock the test moves),
 * failed sign-ins through the authentication throttle, and `server.console: false`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { ConsoleSessions } from '../src/console/sessions.js';
import { ADMIN, adminCall, type ConsoleLogin, signIn, signInRequest } from './helpers/console.js';
import { basic, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const CLIENTS = '/api/v1/configuration/api-clients';
const MINUTE = 60_000;
const json = (body: string) => JSON.parse(body) as Record<string, unknown>;

describe('console session expiry', () => {
  let r: TestRegistrar;
  let clock = Date.now();
  const advance = (ms: number) => {
    clock += ms;
  };
  const works = async (login: ConsoleLogin) => (await adminCall(r.app, 'GET', CLIENTS, { login })).statusCode;

  before(async () => {
    r = await startRegistrar(
      { api_clients: [{ ...ADMIN, scopes: ['admin'] }], engine: { sandbox_processes: 1 } },
      { clock: () => clock },
    );
  });
  after(async () => r.close());

  test('a session unused for 30 minutes (the default) ends; each use starts the 30 minutes again', async () => {
    const login = await signIn(r.app);
    advance(29 * MINUTE);
    assert.equal(await works(login), 200);
    advance(29 * MINUTE);
    assert.equal(await works(login), 200, '58 minutes after sign-in, 29 after the last use');
    advance(30 * MINUTE);
    assert.equal(await works(login), 400, 'idle 30 minutes');
    assert.equal(await works(login), 400, 'and it stays ended');
  });

  test('a session in steady use ends 12 hours after sign-in (the default cap)', async () => {
    const login = await signIn(r.app);
    for (let elapsed = 0; elapsed + 29 * MINUTE < 12 * 60 * MINUTE; elapsed += 29 * MINUTE) {
      advance(29 * MINUTE);
      assert.equal(await works(login), 200, `${elapsed + 29} minutes after sign-in`);
    }
    advance(12 * 60 * MINUTE - 24 * 29 * MINUTE - 1);
    assert.equal(await works(login), 200, '1 ms before the cap');
    advance(1);
    const res = await adminCall(r.app, 'GET', CLIENTS, { login });
    assert.equal(res.statusCode, 400);
    assert.equal(json(res.body).error, 'invalid_client');
  });

  test('the cap and the idle time are configurable, the cap never above 12 hours', () => {
    const parse = (server: Record<string, unknown>) =>
      parseConfig({ server }, { baseDir: '.', dataDir: '.' });
    const defaults = parse({}).server;
    assert.deepEqual(
      [defaults.console, defaults.console_session_idle_minutes, defaults.console_session_max_hours],
      [true, 30, 12],
    );
    assert.equal(parse({ console_session_max_hours: 1 }).server.console_session_max_hours, 1);
    assert.throws(() => parse({ console_session_max_hours: 13 }), ConfigError);
    assert.throws(() => parse({ console_session_idle_minutes: 0 }), ConfigError);
  });
});

describe('console sessions with a short configured cap', () => {
  let r: TestRegistrar;
  let clock = Date.now();

  before(async () => {
    r = await startRegistrar(
      {
        api_clients: [{ ...ADMIN, scopes: ['admin'] }],
        server: { console_session_max_hours: 1, console_session_idle_minutes: 45 },
        engine: { sandbox_processes: 1 },
      },
      { clock: () => clock },
    );
  });
  after(async () => r.close());

  test('the session ends an hour after sign-in, its idle expiry never past that', async () => {
    const login = await signIn(r.app);
    clock += 40 * MINUTE;
    const session = await r.app.inject({
      method: 'GET',
      url: '/console/api/session',
      headers: { cookie: login.cookie },
    });
    const body = json(session.body);
    assert.equal(Date.parse(String(body.idle_expires_at)), Date.parse(String(body.expires_at)));
    clock += 20 * MINUTE;
    assert.equal((await adminCall(r.app, 'GET', CLIENTS, { login })).statusCode, 400);
  });
});

describe('console sign-in throttle', () => {
  let r: TestRegistrar;
  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...ADMIN, scopes: ['admin'] },
        { client_id: 'other', client_secret: 'other-secret', scopes: ['admin'] },
      ],
      server: { auth_failures_per_client: 3, auth_failures_per_address: 5 },
      engine: { sandbox_processes: 1 },
    });
  });
  after(async () => r.close());

  test('failed sign-ins count per client id: past the limit even the right secret is refused, unchecked', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await signInRequest(r.app, 'other', `wrong-${i}`, { remoteAddress: `10.0.0.${i + 1}` });
      assert.equal(res.statusCode, 400);
    }
    const res = await signInRequest(r.app, 'other', 'other-secret', { remoteAddress: '10.0.0.9' });
    assert.equal(res.statusCode, 400, 'throttled');
    assert.equal(json(res.body).error, 'invalid_client');
    assert.equal(res.headers['set-cookie'], undefined);
    const basicToo = await r.app.inject({
      method: 'GET',
      url: CLIENTS,
      headers: { authorization: basic('other', 'other-secret') },
      remoteAddress: '10.0.0.9',
    });
    assert.equal(basicToo.statusCode, 400, 'the same throttle as Basic authentication');
  });

  test('failed sign-ins count per address: past the limit the address is refused for every client', async () => {
    const address = '10.1.0.1';
    for (let i = 0; i < 5; i++) {
      const res = await signInRequest(r.app, `unknown-${i}`, 'x', { remoteAddress: address });
      assert.equal(res.statusCode, 400);
    }
    const res = await signInRequest(r.app, ADMIN.client_id, ADMIN.client_secret, { remoteAddress: address });
    assert.equal(res.statusCode, 400, 'the address is throttled');
    const elsewhere = await signInRequest(r.app, ADMIN.client_id, ADMIN.client_secret, {
      remoteAddress: '10.1.0.2',
    });
    assert.equal(elsewhere.statusCode, 204, 'another address signs in');
  });
});

describe('server.console: false', () => {
  let r: TestRegistrar;
  let cookie: string;
  before(async () => {
    r = await startRegistrar({
      api_clients: [{ ...ADMIN, scopes: ['admin'] }],
      server: { console: false },
      engine: { sandbox_processes: 1 },
    });
    // A live session in storage (made while the console was on): its cookie must not work now.
    const client = await r.deps.storage.config.getApiClient(ADMIN.client_id);
    assert.ok(client);
    const sessions = new ConsoleSessions(r.deps.storage.consoleSessions, r.deps.storage.config, r.secretKey, {
      idleMs: 30 * MINUTE,
      maxMs: 60 * MINUTE,
    });
    const started = await sessions.start(client);
    assert.ok(await sessions.resume(started.id), 'the session is live');
    cookie = `registrar_console=${started.id}`;
  });
  after(async () => r.close());

  test('every /console route answers 404 not_found', async () => {
    for (const [method, url] of [
      ['POST', '/console/api/session'],
      ['GET', '/console/api/session'],
      ['DELETE', '/console/api/session'],
      ['GET', '/console/'],
      ['GET', '/console'],
      ['GET', '/console/assets/main-0123ABCD.js'],
    ] as const) {
      const res = await r.app.inject({
        method,
        url,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ client_id: ADMIN.client_id, client_secret: ADMIN.client_secret }),
      });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(json(res.body).error, 'not_found');
      assert.equal(res.headers['set-cookie'], undefined);
    }
  });

  test('no cookie is accepted by the admin API: only Basic credentials', async () => {
    const res = await r.app.inject({ method: 'GET', url: CLIENTS, headers: { cookie } });
    assert.equal(res.statusCode, 400);
    assert.equal(json(res.body).error, 'invalid_client');
    const withBasic = await r.app.inject({
      method: 'GET',
      url: CLIENTS,
      headers: { cookie, authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
    });
    assert.equal(withBasic.statusCode, 200, 'a stray cookie beside Basic is ignored');
  });
});
