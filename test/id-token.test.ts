import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { inspect } from 'node:util';
import Fastify from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, errors, type JSONWebKeySet, jwtVerify } from 'jose';
import { IdTokenSigner, RESERVED_CLAIMS } from '../src/oauth/id-token.js';
import { jwksRoute } from '../src/oauth/jwks-route.js';
import { unseal } from '../src/security/sealed-box.js';
import { openSqlite, type SqliteDatabase } from '../src/storage/sqlite/database.js';
import { SqliteSigningKeyStore } from '../src/storage/sqlite/signing-key-store.js';

const ISSUER = 'https://registrar.example';
const root = mkdtempSync(join(tmpdir(), 'registrar-id-token-'));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A new database file in the temp folder. */
const freshPath = () => join(root, `db-${++counter}`, 'registrar.db');

interface SigningKeyRow {
  kid: string;
  private_jwk_sealed: string;
  public_jwk: string;
  active: number;
}

/** Verifies `token` for `aud` against a JWKS, as a relying party would. */
const verify = (token: string, jwks: JSONWebKeySet, options: { aud?: string; currentDate?: Date } = {}) =>
  jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISSUER,
    audience: options.aud ?? 'mobile-app',
    algorithms: ['ES256'],
    currentDate: options.currentDate,
  });

describe('IdTokenSigner', () => {
  let path: string;
  let db: SqliteDatabase;
  let store: SqliteSigningKeyStore;
  let secretKey: Buffer;
  const rows = () =>
    db
      .prepare<[], SigningKeyRow>('SELECT kid, private_jwk_sealed, public_jwk, active FROM signing_keys')
      .all();

  beforeEach(() => {
    path = freshPath();
    db = openSqlite(path, { migrate: true });
    store = new SqliteSigningKeyStore(db);
    secretKey = randomBytes(32);
  });
  afterEach(() => db.close());

  test('a signed id_token verifies against the JWKS, with kid, iss, sub, aud, iat, exp and amr', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const token = await signer.sign({ sub: 'user-1', aud: 'mobile-app', amr: ['qr'] }, 300);
    const { payload, protectedHeader } = await verify(token, await signer.jwks());
    assert.deepEqual(protectedHeader, { alg: 'ES256', kid: signer.activeKid, typ: 'JWT' });
    assert.equal(payload.iss, ISSUER);
    assert.equal(payload.sub, 'user-1');
    assert.equal(payload.aud, 'mobile-app');
    assert.deepEqual(payload.amr, ['qr']);
    assert.equal(typeof payload.iat, 'number');
    assert.equal(payload.exp, (payload.iat ?? 0) + 300);
  });

  test('the JWKS lists public keys only, each with kid, alg and use', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const jwks = await signer.jwks();
    assert.equal(jwks.keys.length, 1);
    const [key] = jwks.keys;
    assert.deepEqual(Object.keys(key ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.deepEqual(
      { kid: key?.kid, alg: key?.alg, use: key?.use, kty: key?.kty, crv: key?.crv },
      { kid: signer.activeKid, alg: 'ES256', use: 'sig', kty: 'EC', crv: 'P-256' },
    );
  });

  test('user attributes are claims; reserved claim names among them are dropped', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const reserved = Object.fromEntries(RESERVED_CLAIMS.map((name) => [name, `forged-${name}`]));
    const token = await signer.sign(
      {
        ...reserved,
        sub: 'user-1',
        aud: 'mobile-app',
        amr: ['qr'],
        email: 'ada@example.com',
        roles: ['admin'],
        profile: { given_name: 'Ada' },
      },
      300,
    );
    const { payload } = await verify(token, await signer.jwks());
    assert.deepEqual(Object.keys(payload).sort(), [
      'amr',
      'aud',
      'email',
      'exp',
      'iat',
      'iss',
      'profile',
      'roles',
      'sub',
    ]);
    assert.equal(payload.iss, ISSUER, 'iss is the signer’s own');
    assert.equal(payload.email, 'ada@example.com');
    assert.deepEqual(payload.roles, ['admin']);
    assert.deepEqual(payload.profile, { given_name: 'Ada' });
    for (const name of ['nbf', 'jti', 'azp', 'nonce', 'auth_time', 'at_hash', 'c_hash', 'sid']) {
      assert.ok(!(name in payload), `${name} is not in the token`);
    }
  });

  test('without amr the token has no amr claim', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const { payload } = await verify(
      await signer.sign({ sub: 'u', aud: 'mobile-app' }, 60),
      await signer.jwks(),
    );
    assert.ok(!('amr' in payload), 'no amr claim');
  });

  test('a token is valid until exp and rejected as expired after it', async () => {
    let clock = Date.UTC(2026, 0, 1);
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER, now: () => clock });
    const token = await signer.sign({ sub: 'u', aud: 'mobile-app' }, 60);
    const jwks = await signer.jwks();
    const { payload } = await verify(token, jwks, { currentDate: new Date(clock + 59_000) });
    assert.equal(payload.iat, clock / 1000);
    assert.equal(payload.exp, clock / 1000 + 60);
    await assert.rejects(verify(token, jwks, { currentDate: new Date(clock + 61_000) }), errors.JWTExpired);
    clock += 120_000;
    const later = await signer.sign({ sub: 'u', aud: 'mobile-app' }, 60);
    await verify(later, jwks, { currentDate: new Date(clock) });
  });

  test('a token for another audience is rejected', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const token = await signer.sign({ sub: 'u', aud: 'mobile-app' }, 60);
    await assert.rejects(
      verify(token, await signer.jwks(), { aud: 'other-app' }),
      errors.JWTClaimValidationFailed,
    );
  });

  test('invalid sub, aud, amr or lifetime are refused before signing', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    await assert.rejects(signer.sign({ sub: '', aud: 'a' }, 60), TypeError);
    await assert.rejects(signer.sign({ sub: 'u', aud: [] }, 60), TypeError);
    await assert.rejects(
      signer.sign({ sub: 'u', aud: 'a', amr: 'qr' as unknown as string[] }, 60),
      TypeError,
    );
    await assert.rejects(signer.sign({ sub: 'u', aud: 'a' }, 0), TypeError);
    await assert.rejects(signer.sign({ sub: 'u', aud: 'a' }, 1.5), TypeError);
  });

  test('the key survives a reload: the same kid signs, and earlier tokens verify', async () => {
    const first = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const token = await first.sign({ sub: 'u', aud: 'mobile-app' }, 300);
    db.close();
    db = openSqlite(path, { migrate: true });
    store = new SqliteSigningKeyStore(db);
    const second = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    assert.equal(second.activeKid, first.activeKid);
    assert.equal(rows().length, 1, 'no second key was generated');
    await verify(token, await second.jwks());
    const again = await second.sign({ sub: 'u', aud: 'mobile-app' }, 300);
    assert.equal(decodeProtectedHeader(again).kid, first.activeKid);
  });

  test('rotate signs with a new key; tokens signed before still verify', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const oldKid = signer.activeKid;
    const earlier = await signer.sign({ sub: 'u', aud: 'mobile-app' }, 300);
    const newKid = await signer.rotate();
    assert.notEqual(newKid, oldKid);
    assert.equal(signer.activeKid, newKid);
    const afterRotation = await signer.sign({ sub: 'u', aud: 'mobile-app' }, 300);
    assert.equal(decodeProtectedHeader(afterRotation).kid, newKid);

    const jwks = await signer.jwks();
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      [newKid, oldKid],
      'the active key first, the retired one kept',
    );
    await verify(earlier, jwks);
    await verify(afterRotation, jwks);

    const reloaded = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    assert.equal(reloaded.activeKid, newKid, 'the rotation is stored');
    assert.deepEqual(
      rows().map((r) => [r.kid, r.active]),
      [
        [oldKid, 0],
        [newKid, 1],
      ],
    );
  });

  test('the private key is stored only sealed: no column holds it in clear', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const [row] = rows();
    assert.ok(row, 'one key row');
    assert.equal(row.kid, signer.activeKid);
    assert.ok(row.private_jwk_sealed.startsWith('v1:'), 'the private JWK is a sealed value');
    assert.ok(!row.private_jwk_sealed.includes('"d"'), 'no "d" member in clear in the sealed column');
    assert.ok(!('d' in JSON.parse(row.public_jwk)), 'the public JWK has no "d" member');

    const d = (
      JSON.parse(unseal(secretKey, row.private_jwk_sealed, `signing-key:${row.kid}`)) as { d: string }
    ).d;
    assert.equal(typeof d, 'string');
    for (const [column, value] of Object.entries(row)) {
      assert.ok(!String(value).includes(d), `column ${column} does not contain the private key`);
    }
    const shown = inspect(signer, { showHidden: true, depth: 5 }) + JSON.stringify(signer);
    assert.ok(!shown.includes(d), 'inspecting or serialising the signer does not show the private key');
    assert.ok(!shown.includes(secretKey.toString('base64')), 'nor the secret key');
  });

  test('a wrong secret key fails to load with a clear error', async () => {
    await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    await assert.rejects(IdTokenSigner.load(store, randomBytes(32), { issuer: ISSUER }), (error: Error) => {
      assert.match(
        error.message,
        /cannot decrypt id_token signing key .+: the secret key \(REGISTRAR_SECRET_KEY/,
      );
      return true;
    });
    assert.equal(rows().length, 1, 'no key was generated in its place');
  });

  test('a sealed key moved to another kid fails to load', async () => {
    const signer = await IdTokenSigner.load(store, secretKey, { issuer: ISSUER });
    const oldKid = signer.activeKid;
    await signer.rotate();
    const sealedOld = rows().find((r) => r.kid === oldKid)?.private_jwk_sealed;
    db.prepare('UPDATE signing_keys SET private_jwk_sealed = ? WHERE active = 1').run(sealedOld);
    await assert.rejects(IdTokenSigner.load(store, secretKey, { issuer: ISSUER }), /cannot decrypt/);
  });

  test('an issuer is required', async () => {
    await assert.rejects(IdTokenSigner.load(store, secretKey, { issuer: '' }), TypeError);
  });
});

describe('GET /oauth/jwks', () => {
  let db: SqliteDatabase;
  let signer: IdTokenSigner;
  let app: ReturnType<typeof Fastify>;

  beforeEach(async () => {
    db = openSqlite(freshPath(), { migrate: true });
    signer = await IdTokenSigner.load(new SqliteSigningKeyStore(db), randomBytes(32), { issuer: ISSUER });
    app = Fastify();
    await app.register(jwksRoute, { signer });
  });
  afterEach(async () => {
    await app.close();
    db.close();
  });

  test('serves the JWKS as JSON, and a token verifies against it', async () => {
    const token = await signer.sign(
      { sub: 'user-1', aud: 'mobile-app', amr: ['qr'], email: 'a@example.com' },
      300,
    );
    const response = await app.inject({ method: 'GET', url: '/oauth/jwks' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/json;charset=UTF-8');
    assert.equal(response.headers['cache-control'], undefined, 'the route sets no caching of its own');
    const jwks = response.json() as JSONWebKeySet;
    assert.deepEqual(jwks, await signer.jwks());
    const { payload } = await verify(token, jwks);
    assert.equal(payload.email, 'a@example.com');
  });

  test('after a rotation it serves both keys, and tokens from either verify', async () => {
    const earlier = await signer.sign({ sub: 'u', aud: 'mobile-app' }, 300);
    await signer.rotate();
    const later = await signer.sign({ sub: 'u', aud: 'mobile-app' }, 300);
    const jwks = (await app.inject({ method: 'GET', url: '/oauth/jwks' })).json() as JSONWebKeySet;
    assert.equal(jwks.keys.length, 2);
    for (const key of jwks.keys) assert.ok(!('d' in key), `key ${key.kid} has no private member`);
    await verify(earlier, jwks);
    await verify(later, jwks);
  });
});
