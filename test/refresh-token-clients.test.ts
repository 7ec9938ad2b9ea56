import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { basic, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const APP_A = { client_id: 'app-a', client_secret: 'app-a-secret' } as const;
const APP_B = { client_id: 'app-b', client_secret: 'app-b-secret' } as const;
const INTROSPECTOR = { client_id: 'rs', client_secret: 'rs-secret' } as const;
type Credentials = { client_id: string; client_secret: string };

/** Refresh tokens belong to one application: another one presenting them changes nothing. */
describe('refresh tokens across applications', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      api_clients: [{ ...INTROSPECTOR, scopes: ['token_introspection'] }],
      identity_providers: [
        idp('direct', {
          complete: 'function execute(p) { return { status: 2000, user: { id: "user-" + p } }; }',
        }),
      ],
      applications: [APP_A, APP_B].map((app) => ({
        ...app,
        identity_providers: ['direct'],
        scopes: ['read'],
        default_scopes: ['read'],
        refresh_tokens: true,
      })),
    });
  });
  after(() => r.close());

  const form = (path: string, fields: Record<string, string>, auth: Credentials) =>
    r.app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(auth.client_id, auth.client_secret),
      },
      payload: new URLSearchParams(fields).toString(),
    });
  const register = async (app: Credentials) => {
    const res = await r.app.inject({
      method: 'POST',
      url: '/oauth/custom-registration/direct/complete',
      headers: { authorization: basic(app.client_id, app.client_secret), 'content-type': 'application/json' },
      payload: JSON.stringify({ data: app.client_id }),
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().oauth_token as { access_token: string; refresh_token: string };
  };
  const refresh = (token: string, app: Credentials) =>
    form('/oauth/token', { grant_type: 'refresh_token', refresh_token: token }, app);
  const active = async (token: string) =>
    (await form('/oauth/introspect', { token }, INTROSPECTOR)).json().active as boolean;

  test("another application replaying a used refresh token gets invalid_grant and does not revoke the owner's grant", async () => {
    const first = await register(APP_A);
    const rotated = await refresh(first.refresh_token, APP_A);
    assert.equal(rotated.statusCode, 200, rotated.body);
    const current = rotated.json() as { access_token: string; refresh_token: string };

    const foreign = await refresh(first.refresh_token, APP_B);
    assert.equal(foreign.statusCode, 400, foreign.body);
    assert.equal(foreign.json().error, 'invalid_grant');

    assert.equal(await active(current.access_token), true, "A's access token stays valid");
    assert.equal(await active(current.refresh_token), true, "A's refresh token stays valid");
    const again = await refresh(current.refresh_token, APP_A);
    assert.equal(again.statusCode, 200, `A can still refresh: ${again.body}`);
  });

  test('after a foreign attempt changed nothing, the owner replaying its used refresh token still revokes the grant', async () => {
    const grant = await register(APP_A);
    const rotated = (await refresh(grant.refresh_token, APP_A)).json() as { access_token: string };
    const foreign = await refresh(grant.refresh_token, APP_B);
    assert.equal(foreign.json().error, 'invalid_grant');
    assert.equal(await active(rotated.access_token), true);
    const owner = await refresh(grant.refresh_token, APP_A);
    assert.equal(owner.json().error, 'invalid_grant', 'the owner replaying it is still a reuse');
    assert.equal(await active(rotated.access_token), false, 'which revokes the grant');
  });
});
