import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
      identity_providers: [
        {
          id: 'qr',
          scripts: {
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
          identity_providers: ['qr', 'two', 'two-off', 'no-user'],
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

    const replay = await post('qr/complete', { data: qrId });
    assert.equal(replay.statusCode, 200);
    assert.deepEqual(replay.json(), { status: 5000 }, 'no tokens the second time');
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
