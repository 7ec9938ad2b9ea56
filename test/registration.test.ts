import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { tokenHash } from '../src/oauth/tokens.js';
import { backchannel, basic, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const MOBILE = { client_id: 'mobile', client_secret: 'mobile-secret' } as const;
const OTHER_APP = { client_id: 'other-app', client_secret: 'other-secret' } as const;

const INIT = `function execute(requestPayload) {
  if (requestPayload === 'fail') return { status: 4001, responsePayload: 'try again' };
  return { status: 2000, responsePayload: 'started', registrationData: 'rd:' + requestPayload };
}`;
const TWO_STEP_COMPLETE = `function execute(requestPayload, userIdentifier, registrationData, hookContextCustomParams) {
  return { status: 2000, responsePayload: JSON.stringify({ registrationData: registrationData, hook: hookContextCustomParams }),
           user: { id: 'two-step-user', amr: ['pwd'], email: 'u@example.com' } };
}`;

/** Custom registration init/complete (SPEC §4): the QR flow end to end and every error. */
describe('custom registration: init and complete', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { client_id: 'portal', client_secret: 'portal-secret', scopes: ['user_registration'] },
        { client_id: 'rs', client_secret: 'rs-secret', scopes: ['token_introspection'] },
      ],
      identity_providers: [
        {
          id: 'qr',
          scripts: {
            backchannel: 'scripts/published-qr-backchannel.js',
            complete: 'scripts/published-qr-complete.js',
          },
        },
        {
          id: 'qr-two',
          flow: 'two_step',
          scripts: {
            init: { source: 'function execute() { return { status: 2000 }; }' },
            backchannel: 'scripts/published-qr-backchannel.js',
            complete: 'scripts/published-qr-complete.js',
          },
        },
        idp('two', { init: INIT, complete: TWO_STEP_COMPLETE }),
        idp('two-off', { init: INIT, complete: TWO_STEP_COMPLETE }, { enabled: false }),
        idp('not-assigned', { backchannel: 'function execute() { return { status: 2000 }; }' }),
        idp('no-user', { complete: 'function execute() { return { status: 2000 }; }' }),
      ],
      applications: [
        {
          ...MOBILE,
          identity_providers: ['qr', 'qr-two', 'two', 'two-off', 'no-user'],
          scopes: ['openid', 'read', 'write'],
          default_scopes: ['read'],
          refresh_tokens: true,
          access_token_ttl_seconds: 600,
        },
        { ...OTHER_APP, identity_providers: ['two'], scopes: ['read'] },
      ],
    });
  });
  after(() => r.close());

  const post = (path: string, body: unknown, app: { client_id: string; client_secret: string } = MOBILE) =>
    r.app.inject({
      method: 'POST',
      url: `/oauth/custom-registration/${path}`,
      headers: { authorization: basic(app.client_id, app.client_secret), 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
  const introspectAsRs = (token: string) =>
    r.app.inject({
      method: 'POST',
      url: '/oauth/introspect',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic('rs', 'rs-secret'),
      },
      payload: new URLSearchParams({ token }).toString(),
    });
  const expectError = (res: Awaited<ReturnType<typeof post>>, status: number, error: string) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error, error, res.body);
    assert.equal(res.headers['cache-control'], 'no-store');
  };

  test('the QR flow, one_step: backchannel stores → complete fetches and deletes → tokens; a replay gets 5000', async () => {
    const portal = await backchannel(r.app, 'qr', JSON.stringify({ userId: 'alice' }));
    const qrId = portal.json().data as string;
    const res = await post('qr/complete', { data: qrId });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.status, 2000);
    assert.equal(body.oauth_token.token_type, 'bearer');
    assert.equal(body.oauth_token.expires_in, 600);
    assert.match(body.oauth_token.access_token, /^[A-Za-z0-9_-]{43}$/);
    assert.match(body.oauth_token.refresh_token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(res.headers['content-type'], 'application/json;charset=UTF-8');

    const stored = await r.deps.storage.tokens.findLive(tokenHash(body.oauth_token.access_token));
    assert.ok(stored, 'the access token is stored (by hash)');
    assert.equal(stored.sub, 'alice');
    assert.equal(stored.client_id, 'mobile');
    assert.deepEqual(stored.scopes, ['read'], 'the default scopes');
    const introspection = await introspectAsRs(body.oauth_token.access_token);
    assert.equal(introspection.json().active, true, introspection.body);
    assert.equal(introspection.json().sub, 'alice');

    const replay = await post('qr/complete', { data: qrId });
    assert.equal(replay.statusCode, 200);
    assert.deepEqual(replay.json(), { status: 5000 }, 'no tokens the second time');
  });

  test('the QR flow, two_step: portal backchannel → app init → complete with the QR id → tokens → introspection', async () => {
    const portal = await backchannel(r.app, 'qr-two', JSON.stringify({ userId: 'bob' }));
    const qrId = portal.json().data as string;
    const { transaction_id } = (await post('qr-two/init', {})).json();
    const res = await post('qr-two/complete', { transaction_id, data: qrId });
    assert.equal(res.json().status, 2000, res.body);
    const token = res.json().oauth_token.access_token as string;
    const introspection = await introspectAsRs(token);
    assert.equal(introspection.json().active, true, introspection.body);
    assert.equal(introspection.json().sub, 'bob');
    const { transaction_id: second } = (await post('qr-two/init', {})).json();
    const replay = await post('qr-two/complete', { transaction_id: second, data: qrId });
    assert.deepEqual(replay.json(), { status: 5000 }, 'the QR id is single use: no tokens');
  });

  test('two_step: init creates a transaction that complete consumes once, passing registration data and hook params', async () => {
    const init = await post('two/init', { data: 'abc' });
    assert.equal(init.statusCode, 200, init.body);
    const { transaction_id, status, data } = init.json();
    assert.equal(status, 2000);
    assert.equal(data, 'started');
    assert.ok(typeof transaction_id === 'string' && transaction_id.length >= 22, 'at least 128 bits');
    const hook = { on_behalf_of: ['user'] };
    const res = await post('two/complete', {
      transaction_id,
      data: 'x',
      scope: ['openid', 'write'],
      hook_context_custom_params: hook,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(JSON.parse(res.json().data), { registrationData: 'rd:abc', hook });
    const stored = await r.deps.storage.tokens.findLive(tokenHash(res.json().oauth_token.access_token));
    assert.deepEqual(stored?.scopes, ['openid', 'write']);
    assert.deepEqual(stored?.amr, ['pwd']);
    assert.deepEqual(stored?.user_details, { email: 'u@example.com' });
    expectError(await post('two/complete', { transaction_id }), 400, 'invalid_transaction');
  });

  test('with openid in scope, complete returns an id_token that verifies against /oauth/jwks', async () => {
    const { transaction_id } = (await post('two/init', { data: 'id' })).json();
    const res = await post('two/complete', { transaction_id, scope: ['openid'] });
    const idToken = res.json().oauth_token.id_token as string;
    assert.equal(typeof idToken, 'string', res.body);
    const jwks = await r.app.inject({ method: 'GET', url: '/oauth/jwks' });
    assert.equal(jwks.statusCode, 200);
    const { payload, protectedHeader } = await jwtVerify(idToken, createLocalJWKSet(jwks.json()), {
      issuer: r.config.oauth.issuer ?? `http://${r.config.server.host}:${r.config.server.port}`,
      audience: 'mobile',
    });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.sub, 'two-step-user');
    assert.deepEqual(payload.amr, ['pwd']);
    assert.equal(payload.email, 'u@example.com');
    assert.ok(typeof payload.exp === 'number' && typeof payload.iat === 'number', 'exp and iat');
    const { transaction_id: again } = (await post('two/init', { data: 'id' })).json();
    const withoutOpenid = await post('two/complete', { transaction_id: again, scope: ['read'] });
    assert.equal(withoutOpenid.json().oauth_token.id_token, undefined, 'no id_token without openid');
  });

  test('a non-2xxx init status creates no transaction', async () => {
    const res = await post('two/init', { data: 'fail' });
    assert.deepEqual(res.json(), { status: 4001, data: 'try again' });
  });

  test('transactions are bound to their IdP and application, and expire', async () => {
    expectError(await post('two/complete', {}), 400, 'invalid_transaction');
    expectError(await post('two/complete', { transaction_id: 'made-up' }), 400, 'invalid_transaction');
    const forOther = (await post('two/init', { data: 'a' }, OTHER_APP)).json().transaction_id;
    expectError(await post('two/complete', { transaction_id: forOther }), 400, 'invalid_transaction');
    const expiring = (await post('two/init', { data: 'a' })).json().transaction_id;
    const consumed = await r.deps.storage.transactions.consume(expiring);
    assert.ok(consumed, 'the transaction exists');
    await r.deps.storage.transactions.create({ ...consumed, expires_at: Date.now() - 1 });
    expectError(await post('two/complete', { transaction_id: expiring }), 400, 'invalid_transaction');
  });

  test('scopes: defaults, requested subsets, and invalid_scope', async () => {
    expectError(await post('two/complete', { scope: ['admin'] }), 400, 'invalid_scope');
    expectError(await post('two/complete', { scope: 'read' }), 400, 'invalid_request');
  });

  test('every registration request writes one audit event with the client id (as the reference product does)', async () => {
    const auditOf = (res: { headers: Record<string, unknown> }) =>
      r.logs.lines
        .filter((l) => l.reqId === res.headers['x-request-id'] && l.audit)
        .map((l) => l.audit as Record<string, unknown>);
    const portal = await backchannel(r.app, 'qr', JSON.stringify({ userId: 'carol' }));
    assert.deepEqual(
      auditOf(portal).map((a) => [a.event, a.client_id, a.idp, a.script_status]),
      [['backchannel_success', 'portal', 'qr', 2000]],
    );
    const done = await post('qr/complete', { data: portal.json().data });
    assert.deepEqual(
      auditOf(done).map((a) => [a.event, a.client_id, a.idp]),
      [['complete_success', 'mobile', 'qr']],
    );
    const again = await post('qr/complete', { data: portal.json().data });
    assert.deepEqual(
      auditOf(again).map((a) => [a.event, a.script_status]),
      [['complete_failure', 5000]],
    );
    const cases: Array<[Promise<Awaited<ReturnType<typeof post>>>, string]> = [
      [post('two/complete', { transaction_id: 'nope' }), 'invalid_transaction'],
      [post('two/complete', { scope: ['admin'] }), 'invalid_scope'],
      [post('missing/init', {}), 'invalid_identity_provider'],
      [post('two-off/init', {}), 'disabled_identity_provider'],
      [post('two/init', { data: 5 }), 'bad_request'],
      [post('no-user/complete', {}), 'script_error'],
      [post('two/init', {}, { client_id: 'mobile', client_secret: 'wrong' }), 'init_failure'],
    ];
    for (const [pending, event] of cases) {
      const events = auditOf(await pending);
      assert.equal(events.length, 1, `one audit event for ${event}`);
      assert.equal(events[0]?.event, event);
    }
    const badJson = await r.app.inject({
      method: 'POST',
      url: '/oauth/custom-registration/two/init',
      headers: {
        authorization: basic(MOBILE.client_id, MOBILE.client_secret),
        'content-type': 'application/json',
      },
      payload: '{"data":',
    });
    assert.deepEqual(
      auditOf(badJson).map((a) => [a.event, a.client_id]),
      [['bad_request', null]],
    );
  });

  test('errors: invalid_request, invalid_client, invalid_idp_identifier, idp_disabled, internal_server_error', async () => {
    expectError(await post('two/init', { data: 1 }), 400, 'invalid_request');
    expectError(
      await post('two/complete', { hook_context_custom_params: { a: 'not-an-array' } }),
      400,
      'invalid_request',
    );
    expectError(await post('qr/init', {}), 400, 'invalid_request');
    expectError(
      await post('two/init', {}, { client_id: 'mobile', client_secret: 'wrong' }),
      400,
      'invalid_client',
    );
    const noAuth = await r.app.inject({
      method: 'POST',
      url: '/oauth/custom-registration/two/init',
      payload: {},
    });
    expectError(noAuth, 400, 'invalid_client');
    expectError(await post('missing/init', {}), 404, 'invalid_idp_identifier');
    expectError(await post('two-off/init', {}), 403, 'idp_disabled');
    expectError(await post('not-assigned/complete', {}), 403, 'idp_disabled');
    expectError(await post('qr/complete', {}, OTHER_APP), 403, 'idp_disabled');
    expectError(await post('no-user/complete', {}), 500, 'internal_server_error');
  });
});

describe('tokens: refresh rotation, introspection, revocation', () => {
  let r: TestRegistrar;
  const INTROSPECTOR = { client_id: 'resource-server', client_secret: 'rs-secret' } as const;

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...INTROSPECTOR, scopes: ['token_introspection'] },
        { client_id: 'no-introspection', client_secret: 'x-secret', scopes: ['user_registration'] },
      ],
      identity_providers: [
        idp('direct', {
          complete:
            'function execute(p) { return { status: 2000, user: { id: "user-" + p, amr: ["mfa"], given_name: "Ada" } }; }',
        }),
      ],
      applications: [
        {
          ...MOBILE,
          identity_providers: ['direct'],
          scopes: ['read', 'write'],
          default_scopes: ['read'],
          refresh_tokens: true,
        },
        { ...OTHER_APP, identity_providers: ['direct'], scopes: ['read'], refresh_tokens: true },
      ],
    });
  });
  after(() => r.close());

  const form = (
    path: string,
    fields: Record<string, string>,
    auth?: { client_id: string; client_secret: string },
  ) =>
    r.app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(auth ? { authorization: basic(auth.client_id, auth.client_secret) } : {}),
      },
      payload: new URLSearchParams(fields).toString(),
    });
  const register = async (app: { client_id: string; client_secret: string } = MOBILE, user = 'a') => {
    const res = await r.app.inject({
      method: 'POST',
      url: '/oauth/custom-registration/direct/complete',
      headers: { authorization: basic(app.client_id, app.client_secret), 'content-type': 'application/json' },
      payload: JSON.stringify({ data: user }),
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().oauth_token as { access_token: string; refresh_token: string };
  };
  const introspect = async (token: string) =>
    (await form('/oauth/introspect', { token }, INTROSPECTOR)).json() as Record<string, unknown>;
  const refresh = (token: string, app: { client_id: string; client_secret: string } = MOBILE) =>
    form('/oauth/token', { grant_type: 'refresh_token', refresh_token: token }, app);

  test('introspection of an active access token (RFC 7662)', async () => {
    const tokens = await register(MOBILE, 'intro');
    const info = await introspect(tokens.access_token);
    assert.equal(info.active, true);
    assert.equal(info.scope, 'read');
    assert.equal(info.client_id, 'mobile');
    assert.equal(info.sub, 'user-intro');
    assert.deepEqual(info.amr, ['mfa']);
    assert.deepEqual(info.user_details, { given_name: 'Ada' });
    assert.equal(typeof info.exp, 'number');
    assert.ok((info.exp as number) > (info.iat as number), 'exp after iat');
    assert.deepEqual(await introspect('not-a-token'), { active: false });
  });

  test('introspection needs scope token_introspection and a token', async () => {
    const tokens = await register();
    const denied = await form(
      '/oauth/introspect',
      { token: tokens.access_token },
      {
        client_id: 'no-introspection',
        client_secret: 'x-secret',
      },
    );
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().error, 'insufficient_permissions');
    const missing = await form('/oauth/introspect', {}, INTROSPECTOR);
    assert.equal(missing.json().error, 'invalid_request');
    const noClient = await form('/oauth/introspect', { token: tokens.access_token });
    assert.equal(noClient.json().error, 'invalid_client');
  });

  test('a refresh token rotates: new tokens, the old refresh token is spent', async () => {
    const first = await register();
    const res = await refresh(first.refresh_token);
    assert.equal(res.statusCode, 200, res.body);
    const second = res.json();
    assert.equal(second.token_type, 'bearer');
    assert.equal(second.scope, 'read');
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.equal((await introspect(second.access_token)).active, true);
    assert.equal((await introspect(first.refresh_token)).active, false, 'the used refresh token is spent');
  });

  test('reusing a rotated refresh token revokes the whole family', async () => {
    const first = await register();
    const second = (await refresh(first.refresh_token)).json();
    const replay = await refresh(first.refresh_token);
    assert.equal(replay.statusCode, 400);
    assert.equal(replay.json().error, 'invalid_grant');
    assert.equal((await introspect(second.access_token)).active, false, 'the newer access token is revoked');
    assert.equal(
      (await refresh(second.refresh_token)).json().error,
      'invalid_grant',
      'and the newer refresh token',
    );
    assert.equal((await introspect(first.access_token)).active, false, 'and the first access token');
  });

  test('a refresh token of another application is invalid_grant and stays usable by its owner', async () => {
    const theirs = await register(OTHER_APP);
    assert.equal((await refresh(theirs.refresh_token, MOBILE)).json().error, 'invalid_grant');
    assert.equal((await refresh(theirs.refresh_token, OTHER_APP)).statusCode, 200);
  });

  test('token endpoint errors: unsupported_grant_type, invalid_request, invalid_client', async () => {
    assert.equal(
      (await form('/oauth/token', { grant_type: 'password' }, MOBILE)).json().error,
      'unsupported_grant_type',
    );
    assert.equal((await form('/oauth/token', {}, MOBILE)).json().error, 'invalid_request');
    assert.equal(
      (await form('/oauth/token', { grant_type: 'refresh_token' }, MOBILE)).json().error,
      'invalid_request',
    );
    const badClient = await refresh('x', { client_id: 'mobile', client_secret: 'nope' });
    assert.equal(badClient.json().error, 'invalid_client');
    const viaForm = await form('/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: (await register()).refresh_token,
      client_id: MOBILE.client_id,
      client_secret: MOBILE.client_secret,
    });
    assert.equal(viaForm.statusCode, 200, 'form client credentials work too');
  });

  test('revocation (RFC 7009): an access token alone; a refresh token with its grant; others untouched', async () => {
    const a = await register();
    assert.equal((await form('/oauth/revoke', { token: a.access_token }, MOBILE)).statusCode, 200);
    assert.equal((await introspect(a.access_token)).active, false);
    assert.equal(
      (await introspect(a.refresh_token)).active,
      true,
      'revoking an access token keeps the refresh token',
    );

    const b = await register();
    await form('/oauth/revoke', { token: b.refresh_token }, MOBILE);
    assert.equal((await introspect(b.access_token)).active, false, 'the grant goes with its refresh token');

    const theirs = await register(OTHER_APP);
    const foreign = await form('/oauth/revoke', { token: theirs.access_token }, MOBILE);
    assert.equal(foreign.statusCode, 200, 'always 200');
    assert.equal(
      (await introspect(theirs.access_token)).active,
      true,
      'another application cannot revoke it',
    );
    assert.equal((await form('/oauth/revoke', { token: 'unknown' }, MOBILE)).statusCode, 200);
  });
});
