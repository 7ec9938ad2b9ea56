/**
 * The SandboxCache contract (src/storage/types.ts), written against the interfaces
 * only: what a sandbox process reads and deletes synchronously is exactly what the
 * server's CacheStore stores, on every backend. Expiry uses real (short) TTLs, since a
 * sandbox's view of time cannot be injected across processes and Redis keeps its own.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheStore, SandboxCache } from '../../src/storage/types.js';

export interface SandboxCacheFixture {
  /** The server's side of the same backend. */
  store: CacheStore;
  /** A new sandbox's view (as another sandbox process would open it). */
  openSandbox(): SandboxCache;
  close(): Promise<void>;
}

export function sandboxCacheConformance(name: string, open: () => Promise<SandboxCacheFixture>): void {
  describe(`SandboxCache conformance: ${name}`, () => {
    let fixture: SandboxCacheFixture;
    let sandbox: SandboxCache;
    const opened: SandboxCache[] = [];
    const key = () => `k-${randomUUID()}`;

    beforeEach(async () => {
      fixture = await open();
      sandbox = fixture.openSandbox();
      opened.push(sandbox);
    });
    afterEach(async () => {
      for (const cache of opened.splice(0)) cache.close();
      await fixture.close();
    });

    test('a key never stored reads as null and deletes as false', () => {
      const k = key();
      assert.equal(sandbox.getSync(k), null);
      assert.equal(sandbox.deleteSync(k), false);
    });

    test('getSync reads exactly what the server stored, any text included', async () => {
      const values = ['{"userId":"alice"}', '""', '"ä 😀 \\u0000"', JSON.stringify('x'.repeat(64 * 1024))];
      for (const value of values) {
        const k = key();
        await fixture.store.set(k, value, 60_000);
        assert.equal(sandbox.getSync(k), value);
      }
    });

    test('setMany entries are all visible, the later entry for a key winning', async () => {
      const [a, b] = [key(), key()];
      await fixture.store.setMany([
        [a, '"first"', 60_000],
        [b, '"b"', 60_000],
        [a, '"second"', 60_000],
      ]);
      assert.equal(sandbox.getSync(a), '"second"');
      assert.equal(sandbox.getSync(b), '"b"');
    });

    test('deleteSync removes a live entry once, and the server sees it gone', async () => {
      const k = key();
      await fixture.store.set(k, '"v"', 60_000);
      assert.equal(sandbox.deleteSync(k), true);
      assert.equal(sandbox.deleteSync(k), false);
      assert.equal(await fixture.store.get(k), null);
    });

    test('an entry the server deleted is gone for the sandbox', async () => {
      const k = key();
      await fixture.store.set(k, '"v"', 60_000);
      assert.equal(await fixture.store.delete(k), true);
      assert.equal(sandbox.getSync(k), null);
    });

    test('an expired entry reads as null and deletes as false', async () => {
      const k = key();
      sandbox.getSync(key()); // a first call may pay the sandbox view's start-up
      await fixture.store.set(k, '"short"', 400);
      assert.equal(sandbox.getSync(k), '"short"');
      await sleep(600);
      assert.equal(sandbox.getSync(k), null);
      assert.equal(sandbox.deleteSync(k), false);
    });

    test('of two sandboxes deleting one key, exactly one is told it removed it', async () => {
      const other = fixture.openSandbox();
      opened.push(other);
      for (let i = 0; i < 10; i++) {
        const k = key();
        await fixture.store.set(k, '"v"', 60_000);
        const results = [sandbox.deleteSync(k), other.deleteSync(k)];
        assert.deepEqual(results.filter(Boolean).length, 1, `exactly one true in ${JSON.stringify(results)}`);
      }
    });

    test('incrementSync: sandboxes and the server count on one key without losing any', async () => {
      const other = fixture.openSandbox();
      opened.push(other);
      const k = key();
      const seen: Array<number | null> = [];
      for (let i = 0; i < 20; i++) {
        seen.push(sandbox.incrementSync(k, 1, 60_000));
        seen.push(other.incrementSync(k, 1, 60_000));
        seen.push(await fixture.store.increment(k, 1, 60_000));
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 60 }, (_, i) => i + 1),
      );
      assert.equal(await fixture.store.get(k), '60');
      assert.equal(sandbox.getSync(k), '60');
    });

    test('incrementSync leaves a non-integer value alone and keeps the first TTL', async () => {
      const k = key();
      await fixture.store.set(k, '"text"', 60_000);
      assert.equal(sandbox.incrementSync(k, 1, 60_000), null);
      assert.equal(sandbox.getSync(k), '"text"');
      const counted = key();
      sandbox.getSync(key()); // a first call may pay the sandbox view's start-up
      assert.equal(sandbox.incrementSync(counted, 1, 500), 1);
      assert.equal(sandbox.incrementSync(counted, 1, 60_000), 2);
      await sleep(700);
      assert.equal(sandbox.incrementSync(counted, 1, 60_000), 1, 'expired with its first TTL');
    });

    test('keys are exact: case, whitespace and unicode distinguish entries', async () => {
      const base = key();
      await fixture.store.set(base, '"plain"', 60_000);
      for (const variant of [base.toUpperCase(), ` ${base}`, `${base}\u00e4`]) {
        assert.equal(sandbox.getSync(variant), null, `${JSON.stringify(variant)} is another key`);
      }
    });
  });
}
