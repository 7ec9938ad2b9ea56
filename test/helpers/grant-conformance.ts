/**
 * Conformance suites for the registration stores (TransactionStore, TokenStore): every
 * backend runs these same cases, written against the interfaces only. Fixtures give a
 * clock the store reads, so expiry is tested without sleeping.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type {
  RegistrationTransaction,
  TokenRecord,
  TokenStore,
  TransactionStore,
} from '../../src/storage/types.js';

/** A freshly opened, empty store, with a clock the test moves forward by `ms`. */
export interface StoreFixture<S> {
  store: S;
  now(): number;
  advance(ms: number): void;
  close(): Promise<void>;
}

export interface TransactionConformanceOptions {
  /**
   * Set (to the reason) when the backend expires transactions on its own (Redis), so
   * `purgeExpired` may find nothing left to count.
   */
  nativeExpiry?: string;
}

export function transactionStoreConformance(
  name: string,
  open: () => Promise<StoreFixture<TransactionStore>>,
  options: TransactionConformanceOptions = {},
): void {
  describe(`TransactionStore conformance: ${name}`, () => {
    let f: StoreFixture<TransactionStore>;
    beforeEach(async () => {
      f = await open();
    });
    afterEach(() => f.close());

    const transaction = (extra: Partial<RegistrationTransaction> = {}): RegistrationTransaction => ({
      id: randomUUID(),
      idp_id: 'two-step',
      client_id: 'mobile',
      registration_data: '{"step":1}',
      created_at: f.now(),
      expires_at: f.now() + 300_000,
      ...extra,
    });

    test('a transaction is consumed once, with every field as created', async () => {
      const t = transaction();
      await f.store.create(t);
      assert.deepEqual(await f.store.consume(t.id), t);
      assert.equal(await f.store.consume(t.id), null, 'a replay finds nothing');
    });

    test('registration data may be null', async () => {
      const t = transaction({ registration_data: null });
      await f.store.create(t);
      assert.equal((await f.store.consume(t.id))?.registration_data, null);
    });

    test('an unknown id is null', async () => {
      assert.equal(await f.store.consume('never-created'), null);
    });

    test('an expired transaction cannot be consumed, even before it is purged', async () => {
      const t = transaction({ expires_at: f.now() + 1000 });
      await f.store.create(t);
      f.advance(1000);
      assert.equal(await f.store.consume(t.id), null);
    });

    test('a transaction is live until the millisecond it expires', async () => {
      const t = transaction({ expires_at: f.now() + 1000 });
      await f.store.create(t);
      f.advance(999);
      assert.equal((await f.store.consume(t.id))?.id, t.id);
    });

    test('of 100 concurrent consumers exactly one wins', async () => {
      const t = transaction();
      await f.store.create(t);
      const results = await Promise.all(Array.from({ length: 100 }, () => f.store.consume(t.id)));
      assert.equal(results.filter((r) => r !== null).length, 1);
    });

    test('creating an id that exists fails and leaves the first one intact', async () => {
      const t = transaction();
      await f.store.create(t);
      await assert.rejects(f.store.create({ ...t, idp_id: 'other' }));
      assert.equal((await f.store.consume(t.id))?.idp_id, 'two-step');
    });

    test('purgeExpired removes only expired transactions', async () => {
      const old = transaction({ expires_at: f.now() + 10 });
      const fresh = transaction();
      await f.store.create(old);
      await f.store.create(fresh);
      f.advance(10);
      const purged = await f.store.purgeExpired();
      if (options.nativeExpiry) {
        assert.ok(purged >= 0 && purged <= 1, `purged ${purged} (${options.nativeExpiry})`);
      } else {
        assert.equal(purged, 1);
      }
      assert.equal(await f.store.consume(old.id), null, 'the expired one is gone');
      assert.equal((await f.store.consume(fresh.id))?.id, fresh.id);
    });
  });
}

export function tokenStoreConformance(name: string, open: () => Promise<StoreFixture<TokenStore>>): void {
  describe(`TokenStore conformance: ${name}`, () => {
    let f: StoreFixture<TokenStore>;
    beforeEach(async () => {
      f = await open();
    });
    afterEach(() => f.close());

    const token = (
      kind: TokenRecord['kind'],
      family: string,
      extra: Partial<TokenRecord> = {},
    ): TokenRecord => ({
      hash: randomUUID().replace(/-/g, ''),
      kind,
      family_id: family,
      client_id: 'mobile',
      idp_id: 'qr',
      sub: 'user-1',
      scopes: ['openid', 'read'],
      amr: ['qr'],
      user_details: { email: 'a@example.com', nested: { n: 1 } },
      issued_at: f.now(),
      expires_at: f.now() + (kind === 'access' ? 3_600_000 : 86_400_000),
      ...extra,
    });
    const grant = (family: string = randomUUID()) =>
      [token('access', family), token('refresh', family)] as const;

    test('saved tokens are found live with every field', async () => {
      const [access, refresh] = grant();
      await f.store.save([access, refresh]);
      assert.deepEqual(await f.store.findLive(access.hash), access);
      assert.deepEqual(await f.store.findLive(refresh.hash), refresh);
      assert.equal(await f.store.findLive('unknown'), undefined);
    });

    test('an expired token is not live', async () => {
      const access = token('access', 'fam', { expires_at: f.now() + 1000 });
      await f.store.save([access]);
      f.advance(999);
      assert.ok(await f.store.findLive(access.hash), 'live 1 ms before expiry');
      f.advance(1);
      assert.equal(await f.store.findLive(access.hash), undefined);
    });

    test('rotating a live refresh token returns it, retires it and stores its successors', async () => {
      const family = randomUUID();
      const [, refresh] = grant(family);
      await f.store.save([refresh]);
      const next = grant(family);
      const result = await f.store.rotate(refresh.hash, [...next]);
      assert.equal(result.outcome, 'rotated');
      assert.deepEqual(result.outcome === 'rotated' && result.token, refresh);
      assert.equal(await f.store.findLive(refresh.hash), undefined, 'the used token is no longer live');
      assert.ok(await f.store.findLive(next[0].hash), 'the new access token is live');
      assert.ok(await f.store.findLive(next[1].hash), 'the new refresh token is live');
    });

    test('reusing a rotated refresh token revokes its whole family', async () => {
      const family = randomUUID();
      const [access, refresh] = grant(family);
      await f.store.save([access, refresh]);
      const next = grant(family);
      await f.store.rotate(refresh.hash, [...next]);
      assert.deepEqual(await f.store.rotate(refresh.hash, [...grant(family)]), { outcome: 'reused' });
      for (const t of [access, ...next])
        assert.equal(await f.store.findLive(t.hash), undefined, `${t.kind} revoked`);
    });

    test('of concurrent rotations of one refresh token exactly one succeeds', async () => {
      const family = randomUUID();
      const [, refresh] = grant(family);
      await f.store.save([refresh]);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => f.store.rotate(refresh.hash, [...grant(family)])),
      );
      assert.equal(results.filter((r) => r.outcome === 'rotated').length, 1);
    });

    test('an access token, an unknown hash or an expired refresh token cannot be rotated', async () => {
      const [access] = grant();
      const expired = token('refresh', 'fam', { expires_at: f.now() + 10 });
      await f.store.save([access, expired]);
      f.advance(10);
      assert.deepEqual(await f.store.rotate(access.hash, []), { outcome: 'unknown' });
      assert.deepEqual(await f.store.rotate('nope', []), { outcome: 'unknown' });
      assert.deepEqual(await f.store.rotate(expired.hash, []), { outcome: 'unknown' });
    });

    test('revoke ends one token and says whether it was live', async () => {
      const [access, refresh] = grant();
      await f.store.save([access, refresh]);
      assert.equal(await f.store.revoke(access.hash), true);
      assert.equal(await f.store.revoke(access.hash), false);
      assert.equal(await f.store.findLive(access.hash), undefined);
      assert.ok(await f.store.findLive(refresh.hash), 'the other token of the grant stays live');
    });

    test('a revoked refresh token presented again revokes its family', async () => {
      const family = randomUUID();
      const [access, refresh] = grant(family);
      await f.store.save([access, refresh]);
      await f.store.revoke(refresh.hash);
      assert.deepEqual(await f.store.rotate(refresh.hash, []), { outcome: 'reused' });
      assert.equal(await f.store.findLive(access.hash), undefined);
    });

    test('revokeFamily ends every live token of one family and no other', async () => {
      const mine = grant('mine');
      const theirs = grant('theirs');
      await f.store.save([...mine, ...theirs]);
      assert.equal(await f.store.revokeFamily('mine'), 2);
      for (const t of mine) assert.equal(await f.store.findLive(t.hash), undefined);
      for (const t of theirs) assert.ok(await f.store.findLive(t.hash), 'other families stay live');
    });

    test('purgeExpired removes only expired tokens', async () => {
      const short = token('access', 'fam', { expires_at: f.now() + 10 });
      const [access] = grant();
      await f.store.save([short, access]);
      f.advance(10);
      assert.equal(await f.store.purgeExpired(), 1);
      assert.ok(await f.store.findLive(access.hash), 'the live token stays');
    });
  });
}
