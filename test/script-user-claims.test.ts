import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { basic, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const MOBILE = { client_id: 'mobile', client_secret: 'mobile-secret' } as const;
const INTROSPECTOR = { client_id: 'rs', client_secret: 'rs-secret' } as const;

/**
 * What a hostile or careless complete script returns as `user`, as JSON text: JSON.parse
 * makes `__proto__` an own member (an object literal would set the prototype instead).
 */
const HOSTILE_JSON = JSON.stringify({
  id: 'user-1',
  amr: ['pwd'],
  email: 'ada@example.com',
  PROTO: { isAdmin: 'forged-proto' },
  constructor: { prototype: { isAdmin: 'forged-constructor' } },
  prototype: { isAdmin: 'forged-prototype' },
  address: {
    city: 'Utrecht',
    PROTO: { isAdmin: 'forged-nested' },
    constructor: 'forged-nested-constructor',
    lines: [{ street: 'Main', PROTO: { isAdmin: 'forged-in-array' } }],
  },
  iss: 'forged-iss',
  sub: 'forged-sub',
  aud: 'forged-aud',
  exp: 4102444800,
  iat: 1,
  nbf: 1,
  jti: 'forged-jti',
  auth_time: 1,
  nonce: 'forged-nonce',
  azp: 'forged-azp',
  acr: 'forged-acr',
  sid: 'forged-sid',
  scope: 'forged-scope',
  client_id: 'forged-client',
  token_type: 'forged-token-type',
  active: false,
}).replaceAll('"PROTO"', '"__proto__"');
const COMPLETE = `function execute() {
  return { status: 2000, user: JSON.parse(${JSON.stringify(HOSTILE_JSON)}) };
}`;
const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'prototype'];

/** Every member name at any depth of a JSON text, own members only. */
function memberNames(json: string): string[] {
  const names: string[] = [];
  JSON.parse(json, function (this: unknown, key) {
    if (key !== '' && !Array.isArray(this)) names.push(key);
    return undefined;
  });
  return names;
}

/** A complete script's user attributes reach id_tokens and introspection only when their names are safe and not reserved. */
describe('script user attributes: reserved and prototype names', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      api_clients: [{ ...INTROSPECTOR, scopes: ['token_introspection'] }],
      identity_providers: [idp('hostile', { complete: COMPLETE })],
      applications: [
        {
          ...MOBILE,
          identity_providers: ['hostile'],
          scopes: ['openid', 'read'],
          default_scopes: ['read'],
          refresh_tokens: true,
        },
      ],
    });
  });
  after(() => r.close());

  test('the fixture really carries own __proto__ members', () => {
    const names = memberNames(HOSTILE_JSON);
    for (const name of PROTOTYPE_NAMES) assert.ok(names.includes(name), `${name} in the fixture`);
  });

  test('neither the id_token nor the introspection answer carries them; the real claims are Registrar’s', async () => {
    const res = await r.app.inject({
      method: 'POST',
      url: '/oauth/custom-registration/hostile/complete',
      headers: {
        authorization: basic(MOBILE.client_id, MOBILE.client_secret),
        'content-type': 'application/json',
      },
      payload: JSON.stringify({ scope: ['openid', 'read'] }),
    });
    assert.equal(res.statusCode, 200, res.body);
    const { id_token: idToken, access_token: accessToken } = res.json().oauth_token as Record<string, string>;

    // The id_token: its payload's JSON text, member by member.
    const payloadJson = Buffer.from(String(idToken).split('.')[1] ?? '', 'base64url').toString();
    const idNames = memberNames(payloadJson);
    for (const name of PROTOTYPE_NAMES) assert.ok(!idNames.includes(name), `no ${name} in the id_token`);
    assert.ok(!payloadJson.includes('forged'), `nothing forged in the id_token: ${payloadJson}`);
    const jwks = (await r.app.inject({ method: 'GET', url: '/oauth/jwks' })).json();
    const { payload } = await jwtVerify(String(idToken), createLocalJWKSet(jwks), { audience: 'mobile' });
    assert.equal(payload.sub, 'user-1');
    assert.equal(payload.aud, 'mobile');
    assert.deepEqual(payload.amr, ['pwd']);
    assert.notEqual(payload.exp, 4102444800, 'exp is Registrar’s');
    assert.equal(payload.email, 'ada@example.com');
    assert.deepEqual(payload.address, { city: 'Utrecht', lines: [{ street: 'Main' }] });
    for (const name of [
      'nbf',
      'jti',
      'auth_time',
      'nonce',
      'azp',
      'acr',
      'sid',
      'scope',
      'client_id',
      'token_type',
      'active',
    ]) {
      assert.ok(!(name in payload), `no ${name} in the id_token`);
    }

    // The introspection answer.
    const introspection = await r.app.inject({
      method: 'POST',
      url: '/oauth/introspect',
      headers: {
        authorization: basic(INTROSPECTOR.client_id, INTROSPECTOR.client_secret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({ token: accessToken ?? '' }).toString(),
    });
    assert.equal(introspection.statusCode, 200, introspection.body);
    const answerNames = memberNames(introspection.body);
    for (const name of PROTOTYPE_NAMES)
      assert.ok(!answerNames.includes(name), `no ${name} in the introspection`);
    assert.ok(
      !introspection.body.includes('forged'),
      `nothing forged in the introspection: ${introspection.body}`,
    );
    const answer = introspection.json();
    assert.equal(answer.active, true);
    assert.equal(answer.sub, 'user-1');
    assert.equal(answer.client_id, 'mobile');
    assert.equal(answer.scope, 'openid read');
    assert.deepEqual(answer.user_details, {
      email: 'ada@example.com',
      address: { city: 'Utrecht', lines: [{ street: 'Main' }] },
    });

    // One warning names the dropped members, never their values.
    const warnings = r.logs.lines.filter(
      (l) => l.reqId === res.headers['x-request-id'] && l.level === 40 && 'dropped' in l,
    );
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    const dropped = warnings[0]?.dropped as string[];
    for (const path of [
      '__proto__',
      'constructor',
      'prototype',
      'address.__proto__',
      'address.constructor',
      'address.lines[0].__proto__',
      'iss',
      'sub',
      'client_id',
      'active',
    ]) {
      assert.ok(dropped.includes(path), `${path} named in ${JSON.stringify(dropped)}`);
    }
    assert.ok(!JSON.stringify(warnings).includes('forged'), 'no dropped value is logged');
  });
});
