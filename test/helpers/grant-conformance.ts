/**
 * Conformance suite for the TokenStore (the TransactionStore's is in
 * `transaction-conformance.ts`): every backend runs these same cases, written against the
 * interface only. Fixtures give a clock the store reads, so expiry is tested without
 * sleeping.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { TokenRecord, TokenStore } from '../../src/storage/types.js';

/** A freshly opened, empty store, with a clock the test moves forward by `ms`. */
export interface StoreFixture<S> {
  store: S;
  now(): number;
  advance(ms: number): void;
  close(): Promise<void>;
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
      const result = await f.store.rotate(refresh.hash, 'mobile', [...next]);
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
      await f.store.rotate(refresh.hash, 'mobile', [...next]);
      assert.deepEqual(await f.store.rotate(refresh.hash, 'mobile', [...grant(family)]), {
        outcome: 'reused',
      });
      for (const t of [access, ...next])
        assert.equal(await f.store.findLive(t.hash), undefined, `${t.kind} revoked`);
    });

    test('of concurrent rotations of one refresh token exactly one succeeds', async () => {
      const family = randomUUID();
      const [, refresh] = grant(family);
      await f.store.save([refresh]);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => f.store.rotate(refresh.hash, 'mobile', [...grant(family)])),
      );
      assert.equal(results.filter((r) => r.outcome === 'rotated').length, 1);
    });

    test('an access token, an unknown hash or an expired refresh token cannot be rotated', async () => {
      const [access] = grant();
      const expired = token('refresh', 'fam', { expires_at: f.now() + 10 });
      await f.store.save([access, expired]);
      f.advance(10);
      assert.deepEqual(await f.store.rotate(access.hash, 'mobile', []), { outcome: 'unknown' });
      assert.deepEqual(await f.store.rotate('nope', 'mobile', []), { outcome: 'unknown' });
      assert.deepEqual(await f.store.rotate(expired.hash, 'mobile', []), { outcome: 'unknown' });
    });

    test('a refresh token presented by another client is unknown to it: nothing rotates, nothing is revoked', async () => {
      const family = randomUUID();
      const [access, refresh] = grant(family);
      await f.store.save([access, refresh]);
      const stolen = grant(family);
      assert.deepEqual(await f.store.rotate(refresh.hash, 'other-app', [...stolen]), { outcome: 'unknown' });
      assert.ok(await f.store.findLive(refresh.hash), 'the live refresh token stays live');
      for (const t of stolen) assert.equal(await f.store.findLive(t.hash), undefined, 'no successor stored');

      const next = grant(family);
      assert.equal((await f.store.rotate(refresh.hash, 'mobile', [...next])).outcome, 'rotated');
      assert.deepEqual(
        await f.store.rotate(refresh.hash, 'other-app', []),
        { outcome: 'unknown' },
        'a used token replayed by another client is not a reuse of its family',
      );
      for (const t of next)
        assert.ok(await f.store.findLive(t.hash), `the owner's ${t.kind} token stays live`);

      await f.store.revoke(next[1].hash);
      assert.deepEqual(await f.store.rotate(next[1].hash, 'other-app', []), { outcome: 'unknown' });
      assert.ok(
        await f.store.findLive(next[0].hash),
        'a revoked token replayed by another client revokes nothing',
      );
      assert.deepEqual(await f.store.rotate(refresh.hash, 'mobile', []), { outcome: 'reused' });
      assert.equal(await f.store.findLive(next[0].hash), undefined, 'the owner replaying it still revokes');
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
      assert.deepEqual(await f.store.rotate(refresh.hash, 'mobile', []), { outcome: 'reused' });
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
