/**
 * The `increment` contract (CacheStore.increment in the CACHE's key space, and the
 * declarative rate limits' CounterStore beside it), written against the interfaces only,
 * run against every backend: atomic under concurrency, TTL set only on creation, expired
 * entries start again, non-integer values left alone.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheStore, CounterStore } from '../../src/storage/types.js';

/** A freshly opened counter store. */
export interface CounterFixture {
  store: CounterStore;
  /** The same entries' `set`/`get` (CACHE key space only): for the non-integer cases. */
  cache?: Pick<CacheStore, 'set' | 'get'>;
  /** Moves the store's clock forward; without it the suite waits in real time with short TTLs. */
  now?: (ms: number) => void;
  close(): Promise<void>;
}

export function counterConformance(name: string, open: () => Promise<CounterFixture>): void {
  describe(`increment conformance: ${name}`, () => {
    let fixture: CounterFixture;
    const key = () => `n-${randomUUID()}`;
    const elapse = async (ms: number) => {
      if (fixture.now) fixture.now(ms);
      else await sleep(ms);
    };

    beforeEach(async () => {
      fixture = await open();
    });
    afterEach(async () => {
      await fixture.close();
    });

    test('an absent key starts at delta; later increments add to it, negative deltas included', async () => {
      const k = key();
      assert.equal(await fixture.store.increment(k, 1, 60_000), 1);
      assert.equal(await fixture.store.increment(k, 5, 60_000), 6);
      assert.equal(await fixture.store.increment(k, -2, 60_000), 4);
      const fresh = key();
      assert.equal(await fixture.store.increment(fresh, -3, 60_000), -3);
      assert.equal(await fixture.store.increment(fresh, 0, 60_000), -3);
    });

    test('200 concurrent increments of one key: none is lost, each caller sees a distinct count', async () => {
      const k = key();
      const results = await Promise.all(
        Array.from({ length: 200 }, () => fixture.store.increment(k, 1, 60_000)),
      );
      assert.deepEqual(
        [...results].sort((a, b) => (a ?? 0) - (b ?? 0)),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.equal(await fixture.store.increment(k, 0, 60_000), 200);
    });

    test('the TTL is set only on creation: later increments keep the first expiry', async () => {
      const k = key();
      const unit = fixture.now ? 1000 : 150;
      assert.equal(await fixture.store.increment(k, 1, 4 * unit), 1);
      await elapse(2 * unit);
      assert.equal(await fixture.store.increment(k, 1, 4 * unit), 2, 'still live: added to');
      await elapse(3 * unit);
      // Had the second increment renewed the TTL, the entry would live until 6 units.
      assert.equal(await fixture.store.increment(k, 1, 4 * unit), 1, 'expired at 4 units: starts again');
    });

    test('keys are exact: case and unicode distinguish counters', async () => {
      const k = key();
      await fixture.store.increment(k, 7, 60_000);
      assert.equal(await fixture.store.increment(k.toUpperCase(), 1, 60_000), 1);
      assert.equal(await fixture.store.increment(`${k}\u00e4`, 1, 60_000), 1);
      assert.equal(await fixture.store.increment(k, 1, 60_000), 8);
    });

    test('a count is stored as JSON integer text, readable as a CACHE value', async (t) => {
      const cache = fixture.cache;
      if (!cache) return t.skip('not the CACHE key space');
      const k = key();
      await fixture.store.increment(k, 41, 60_000);
      await fixture.store.increment(k, 1, 60_000);
      assert.equal(await cache.get(k), '42');
      const stored = key();
      await cache.set(stored, '10', 60_000);
      assert.equal(await fixture.store.increment(stored, 5, 60_000), 15, 'a stored integer is counted on');
    });

    test('a live value that is not an integer is left alone: the result is null', async (t) => {
      const cache = fixture.cache;
      if (!cache) return t.skip('not the CACHE key space');
      for (const value of ['"7"', '1.5', '{"n":1}', 'null', '"x"', '1e3', '007']) {
        const k = key();
        await cache.set(k, value, 60_000);
        assert.equal(await fixture.store.increment(k, 1, 60_000), null, value);
        assert.equal(await cache.get(k), value, `${value} unchanged`);
      }
    });

    test('an expired non-integer value does not block: the counter starts at delta', async (t) => {
      const cache = fixture.cache;
      if (!cache) return t.skip('not the CACHE key space');
      const k = key();
      const unit = fixture.now ? 1000 : 150;
      await cache.set(k, '"old"', unit);
      await elapse(2 * unit);
      assert.equal(await fixture.store.increment(k, 3, 60_000), 3);
    });

    test('purgeExpired removes expired counters only', async (t) => {
      if (!fixture.now)
        return t.skip('needs an injectable clock (a native-expiry backend purges on its own)');
      const [short, long] = [key(), key()];
      await fixture.store.increment(short, 1, 1000);
      await fixture.store.increment(long, 1, 60_000);
      await elapse(2000);
      assert.equal(await fixture.store.purgeExpired(), 1);
      assert.equal(await fixture.store.increment(long, 1, 60_000), 2);
    });
  });
}
