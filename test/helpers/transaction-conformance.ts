/**
 * Conformance suite for the TransactionStore: every backend (SQLite, Redis) runs these same
 * cases, written against the interface only. Fixtures give a clock the store reads, so
 * transaction expiry is tested without sleeping; claims lapse on that clock and, where the
 * backend expires them natively, in real time, so the lapse cases do both.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RegistrationTransaction, TransactionClaim, TransactionStore } from '../../src/storage/types.js';
import type { StoreFixture } from './grant-conformance.js';

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

    /** Claims `id`, failing the test when it is not claimable. */
    const claimed = async (id: string, holdMs = 60_000): Promise<TransactionClaim> => {
      const claim = await f.store.claim(id, holdMs);
      assert.ok(claim, `transaction ${id} is claimable`);
      return claim;
    };

    test('a claim returns the transaction; while it holds, others find nothing to claim or consume', async () => {
      const t = transaction();
      await f.store.create(t);
      const claim = await claimed(t.id);
      assert.deepEqual(claim.transaction, t);
      assert.equal(typeof claim.token, 'string');
      assert.equal(await f.store.claim(t.id, 60_000), null, 'a second claimant gets nothing');
      assert.equal(await f.store.consume(t.id), null, 'a consumer gets nothing');
    });

    test('a released claim leaves the transaction as it was, claimable and consumable again', async () => {
      const t = transaction();
      await f.store.create(t);
      const first = await claimed(t.id);
      assert.equal(await f.store.release(first), true);
      assert.equal(await f.store.release(first), false, 'a claim is released once');
      const second = await claimed(t.id);
      assert.deepEqual(second.transaction, t);
      assert.notEqual(second.token, first.token);
      assert.equal(await f.store.consumeClaimed(first), false, 'a released claim cannot consume');
      assert.equal(await f.store.release(second), true);
      assert.deepEqual(await f.store.consume(t.id), t);
    });

    test('the holder consumes its claim once; the transaction is then gone', async () => {
      const t = transaction();
      await f.store.create(t);
      const claim = await claimed(t.id);
      assert.equal(await f.store.consumeClaimed(claim), true);
      assert.equal(await f.store.consumeClaimed(claim), false);
      assert.equal(await f.store.release(claim), false);
      assert.equal(await f.store.claim(t.id, 60_000), null);
      assert.equal(await f.store.consume(t.id), null);
    });

    test('of 100 concurrent claimants exactly one wins', async () => {
      const t = transaction();
      await f.store.create(t);
      const claims = await Promise.all(Array.from({ length: 100 }, () => f.store.claim(t.id, 60_000)));
      assert.equal(claims.filter((c) => c !== null).length, 1);
    });

    test('an unknown or expired transaction cannot be claimed', async () => {
      assert.equal(await f.store.claim('never-created', 60_000), null);
      const t = transaction({ expires_at: f.now() + 1000 });
      await f.store.create(t);
      f.advance(1000);
      assert.equal(await f.store.claim(t.id, 60_000), null);
    });

    test('a claim lapses by itself: then another may claim, and the lapsed holder can neither consume nor release', async () => {
      const t = transaction();
      await f.store.create(t);
      const lapsed = await claimed(t.id, 100);
      // Both clocks: the store's (moved by the suite) and real time (a backend's native expiry).
      f.advance(100);
      await sleep(200);
      const next = await claimed(t.id);
      assert.equal(await f.store.consumeClaimed(lapsed), false);
      assert.equal(await f.store.release(lapsed), false);
      assert.equal(await f.store.consumeClaimed(next), true, 'the new holder still has it');
    });

    test('a lapsed claim that nobody took leaves the transaction consumable', async () => {
      const t = transaction();
      await f.store.create(t);
      await claimed(t.id, 100);
      f.advance(100);
      await sleep(200);
      assert.deepEqual(await f.store.consume(t.id), t);
    });

    test('a transaction that expires while claimed: its holder may still consume it, but released it is expired', async () => {
      const kept = transaction({ expires_at: f.now() + 1000 });
      const released = transaction({ expires_at: f.now() + 1000 });
      await f.store.create(kept);
      await f.store.create(released);
      const keptClaim = await claimed(kept.id);
      const releasedClaim = await claimed(released.id);
      f.advance(1000);
      assert.equal(await f.store.purgeExpired(), 0, 'a claimed transaction is not purged');
      assert.equal(await f.store.consumeClaimed(keptClaim), true, 'the holder checked it when it claimed');
      assert.equal(await f.store.release(releasedClaim), true);
      assert.equal(await f.store.claim(released.id, 60_000), null);
      assert.equal(await f.store.consume(released.id), null);
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
