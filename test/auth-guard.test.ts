import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { RegistrarError } from '../src/errors.js';
import { ClientAuthenticator } from '../src/http/authenticate.js';
import { AuthMetrics } from '../src/metrics/auth.js';
import { createMetricsRegistry } from '../src/metrics/registry.js';
import { AuthGuard, type AuthGuardSettings } from '../src/security/auth-guard.js';
import { CredentialCache } from '../src/security/credential-cache.js';
import { sampleValue } from './helpers/metrics.js';

const SETTINGS: AuthGuardSettings = {
  scrypt_concurrency: 2,
  scrypt_queue: 64,
  auth_failures_per_client: 10,
  auth_failures_per_address: 20,
  auth_failure_window_seconds: 60,
  auth_failure_tracked_keys: 1000,
};

interface Client {
  client_id: string;
  secret_hash: string;
}

/** The "hash" of the fake verification: the secret itself, prefixed. */
const CLIENTS: Record<string, Client> = {
  portal: { client_id: 'portal', secret_hash: 'h:portal-secret' },
  other: { client_id: 'other', secret_hash: 'h:other-secret' },
};

/**
 * An authenticator over CLIENTS whose slow verification is counted and, when `hold` is set,
 * waits for `release()`: the test decides when hashes finish.
 */
async function setUp(settings: Partial<AuthGuardSettings> = {}, hold = false) {
  const registry = createMetricsRegistry();
  const metrics = new AuthMetrics(registry);
  const clock = { now: 0 };
  let hashes = 0;
  let lookups = 0;
  const waiting: Array<() => void> = [];
  const verify = async (secret: string, hash: string) => {
    hashes++;
    if (hold) await new Promise<void>((resolve) => waiting.push(resolve));
    return hash === `h:${secret}`;
  };
  const guard = new AuthGuard({ ...SETTINGS, ...settings }, metrics, { now: () => clock.now, verify });
  const authenticator = await ClientAuthenticator.create(
    'api_client',
    async (id: string) => {
      lookups++;
      return CLIENTS[id];
    },
    new CredentialCache(60_000, () => clock.now, guard.slowVerify),
    guard,
    10,
  );
  return {
    registry,
    clock,
    authenticator,
    hashes: () => hashes,
    lookups: () => lookups,
    release: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
    attempt: (clientId: string, clientSecret: string, address?: string) =>
      authenticator.authenticate({ clientId, clientSecret }, address).then(
        () => 'ok' as const,
        (error: unknown) => {
          assert.ok(error instanceof RegistrarError, String(error));
          assert.deepEqual(
            error.toBody(),
            new RegistrarError('invalid_client').toBody(),
            'the same answer every time',
          );
          return 'invalid_client' as const;
        },
      ),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('client authentication under wrong-secret floods', () => {
  test('a throttled client id is refused without hashing, even with a right secret not verified recently', async () => {
    const t = await setUp();
    for (let i = 0; i < 10; i++)
      assert.equal(await t.attempt('portal', `wrong-${i}`, `10.0.0.${i}`), 'invalid_client');
    assert.equal(t.hashes(), 10);
    const hashes = t.hashes();
    assert.equal(await t.attempt('portal', 'portal-secret', '10.0.1.1'), 'invalid_client');
    assert.equal(t.hashes(), hashes, 'no hash');
    assert.equal(
      await t.attempt('other', 'other-secret', '10.0.1.1'),
      'ok',
      'other clients are not affected',
    );
    t.clock.now += 6_000;
    assert.equal(await t.attempt('portal', 'portal-secret', '10.0.1.1'), 'ok', 'one failure leaked away');
    assert.equal(
      await sampleValue(t.registry, 'registrar_auth_failures_total', { kind: 'wrong_secret' }),
      10,
    );
    assert.equal(await sampleValue(t.registry, 'registrar_auth_throttled_total', { reason: 'client' }), 1);
  });

  test('a flood of wrong secrets under a client id in use does not lock it out: a recently verified secret still gets in', async () => {
    const t = await setUp();
    assert.equal(await t.attempt('portal', 'portal-secret', '10.0.2.1'), 'ok');
    for (let i = 0; i < 15; i++)
      assert.equal(await t.attempt('portal', `wrong-${i}`, `10.0.3.${i}`), 'invalid_client');
    const hashes = t.hashes();
    assert.equal(await t.attempt('portal', 'portal-secret', '10.0.2.1'), 'ok', 'the portal itself is served');
    assert.equal(await t.attempt('portal', 'wrong-again', '10.0.3.99'), 'invalid_client');
    assert.equal(t.hashes(), hashes, 'neither paid a hash');
  });

  test('an address is throttled across client ids, unknown ones included, and a success does not reset it', async () => {
    const t = await setUp();
    for (let i = 0; i < 19; i++)
      assert.equal(await t.attempt(`nobody-${i}`, 'x', '192.0.2.9'), 'invalid_client');
    assert.equal(await t.attempt('portal', 'portal-secret', '192.0.2.9'), 'ok');
    assert.equal(await t.attempt('nobody-19', 'x', '192.0.2.9'), 'invalid_client');
    const hashes = t.hashes();
    assert.equal(
      await t.attempt('portal', 'other-secret-guess', '192.0.2.9'),
      'invalid_client',
      'a secret not verified recently is refused',
    );
    // A secret verified within the cache's TTL is proof already: it still gets in, unhashed.
    assert.equal(await t.attempt('portal', 'portal-secret', '192.0.2.9'), 'ok', 'a cached secret');
    assert.equal(t.hashes(), hashes);
    assert.equal(await t.attempt('portal', 'portal-secret', '192.0.2.10'), 'ok', 'from elsewhere it works');
    assert.equal(
      await sampleValue(t.registry, 'registrar_auth_failures_total', { kind: 'unknown_client' }),
      20,
    );
    assert.equal(await sampleValue(t.registry, 'registrar_auth_throttled_total', { reason: 'address' }), 2);
  });

  test('64 simultaneous distinct wrong secrets start at most 10 hashes, and a new client still gets in', async () => {
    const t = await setUp({}, true);
    const flood = Array.from({ length: 64 }, (_, i) => t.attempt('portal', `guess-${i}`, '10.9.9.9'));
    await settle();
    assert.equal(t.hashes(), 2, 'two hashes run at once');
    const fresh = t.attempt('other', 'other-secret', '10.0.0.1');
    for (let round = 0; round < 10 && t.hashes() < 11; round++) {
      t.release();
      await settle();
    }
    t.release();
    assert.deepEqual(new Set(await Promise.all(flood)), new Set(['invalid_client']));
    assert.equal(await fresh, 'ok');
    assert.equal(t.hashes(), 11, "10 of the flood's secrets and the new client's were hashed");
    assert.equal(await sampleValue(t.registry, 'registrar_auth_throttled_total', { reason: 'client' }), 54);
  });

  test('a full queue answers invalid_client at once, unhashed, counted as queue_full', async () => {
    const t = await setUp({ scrypt_concurrency: 1, scrypt_queue: 1, auth_failures_per_client: 0 }, true);
    const running = t.attempt('portal', 'a', '10.0.0.1');
    const queued = t.attempt('portal', 'b', '10.0.0.2');
    await settle();
    assert.equal(await t.attempt('other', 'other-secret', '10.0.0.3'), 'invalid_client', 'shed');
    assert.equal(await sampleValue(t.registry, 'registrar_auth_hashes', { state: 'running' }), 1);
    assert.equal(await sampleValue(t.registry, 'registrar_auth_hashes', { state: 'queued' }), 1);
    for (let i = 0; i < 3; i++) {
      t.release();
      await settle();
    }
    assert.deepEqual([await running, await queued], ['invalid_client', 'invalid_client']);
    assert.equal(t.hashes(), 2);
    assert.equal(
      await sampleValue(t.registry, 'registrar_auth_throttled_total', { reason: 'queue_full' }),
      1,
    );
    const again = t.attempt('other', 'other-secret', '10.0.0.3');
    await settle();
    t.release();
    assert.equal(await again, 'ok', 'a shed attempt is not a failure');
  });

  test('concurrent checks of one right secret share one hash and are never throttled by their number', async () => {
    const t = await setUp({}, true);
    const burst = Array.from({ length: 100 }, () => t.attempt('portal', 'portal-secret', '10.0.0.1'));
    await settle();
    t.release();
    assert.deepEqual(new Set(await Promise.all(burst)), new Set(['ok']));
    assert.equal(t.hashes(), 1);
  });
});

describe('the throttle and queue settings', () => {
  const options = { baseDir: tmpdir(), dataDir: tmpdir() };

  test('default to 2 hashes at once, 64 waiting, 10 failures per client id and 20 per address a minute', () => {
    const { server } = parseConfig({}, options);
    assert.deepEqual(
      {
        scrypt_concurrency: server.scrypt_concurrency,
        scrypt_queue: server.scrypt_queue,
        auth_failures_per_client: server.auth_failures_per_client,
        auth_failures_per_address: server.auth_failures_per_address,
        auth_failure_window_seconds: server.auth_failure_window_seconds,
        auth_failure_tracked_keys: server.auth_failure_tracked_keys,
      },
      {
        scrypt_concurrency: 2,
        scrypt_queue: 64,
        auth_failures_per_client: 10,
        auth_failures_per_address: 20,
        auth_failure_window_seconds: 60,
        auth_failure_tracked_keys: 50_000,
      },
    );
  });

  test('are validated, naming the path', () => {
    for (const [server, path] of [
      [{ scrypt_concurrency: 0 }, 'server.scrypt_concurrency'],
      [{ scrypt_queue: -1 }, 'server.scrypt_queue'],
      [{ auth_failures_per_client: 1.5 }, 'server.auth_failures_per_client'],
      [{ auth_failure_window_seconds: 0 }, 'server.auth_failure_window_seconds'],
      [{ auth_failure_tracked_keys: 10 }, 'server.auth_failure_tracked_keys'],
    ] as const) {
      assert.throws(
        () => parseConfig({ server }, options),
        (error: unknown) =>
          error instanceof ConfigError && error.problems.some((problem) => problem.startsWith(`${path}:`)),
        path,
      );
    }
  });
});
