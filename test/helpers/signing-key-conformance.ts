/**
 * Conformance suite for SigningKeyStore: every backend runs these same cases, written
 * against the interface only. The records are opaque to the store, so the sealed and
 * public JWKs here are placeholder text.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { SigningKeyRecord, SigningKeyStore } from '../../src/storage/types.js';

/** A freshly opened, empty store. */
export interface SigningKeyFixture {
  store: SigningKeyStore;
  close(): Promise<void>;
}

export function signingKeyStoreConformance(name: string, open: () => Promise<SigningKeyFixture>): void {
  describe(`SigningKeyStore conformance: ${name}`, () => {
    let f: SigningKeyFixture;
    beforeEach(async () => {
      f = await open();
    });
    afterEach(() => f.close());

    let created = 1_700_000_000_000;
    const key = (kid: string, extra: Partial<SigningKeyRecord> = {}): SigningKeyRecord => ({
      kid,
      alg: 'ES256',
      private_jwk_sealed: `v1:sealed-${kid}`,
      public_jwk: JSON.stringify({ kty: 'EC', crv: 'P-256', x: `x-${kid}`, y: `y-${kid}` }),
      created_at: ++created,
      active: false,
      ...extra,
    });
    const activeKids = async () => (await f.store.list()).filter((k) => k.active).map((k) => k.kid);

    test('an empty store lists no keys', async () => {
      assert.deepEqual(await f.store.list(), []);
    });

    test('an added key is listed with every field as given', async () => {
      const inactive = key('a');
      const active = key('b', { active: true });
      await f.store.add(inactive);
      await f.store.add(active);
      assert.deepEqual(await f.store.list(), [inactive, active]);
    });

    test('keys are listed oldest first, whatever the order they were added in', async () => {
      const newer = key('newer', { created_at: 2_000 });
      const older = key('older', { created_at: 1_000 });
      await f.store.add(newer);
      await f.store.add(older);
      assert.deepEqual(
        (await f.store.list()).map((k) => k.kid),
        ['older', 'newer'],
      );
    });

    test('adding a kid that exists is rejected and keeps the first key unchanged', async () => {
      const first = key('same', { active: true });
      await f.store.add(first);
      await f.store.add(key('other'));
      await assert.rejects(f.store.add(key('same', { alg: 'ES384', active: false })));
      await assert.rejects(f.store.add(key('other', { active: true })));
      assert.deepEqual((await f.store.list())[0], first);
      assert.deepEqual(await activeKids(), ['same'], 'a rejected active key deactivates nothing');
    });

    test('adding an active key makes it the only active key', async () => {
      await f.store.add(key('a', { active: true }));
      await f.store.add(key('b', { active: true }));
      assert.deepEqual(await activeKids(), ['b']);
    });

    test('adding an inactive key leaves the active key active', async () => {
      await f.store.add(key('a', { active: true }));
      await f.store.add(key('b'));
      assert.deepEqual(await activeKids(), ['a']);
    });

    test('activating a key makes it the only active key and keeps every key', async () => {
      await f.store.add(key('a', { active: true }));
      await f.store.add(key('b'));
      await f.store.add(key('c'));
      await f.store.activate('c');
      assert.deepEqual(await activeKids(), ['c']);
      await f.store.activate('a');
      assert.deepEqual(await activeKids(), ['a']);
      assert.equal((await f.store.list()).length, 3, 'no key is removed');
    });

    test('activating a key when none is active makes it active', async () => {
      await f.store.add(key('a'));
      await f.store.activate('a');
      assert.deepEqual(await activeKids(), ['a']);
    });

    test('activating the active key keeps it active', async () => {
      await f.store.add(key('a', { active: true }));
      await f.store.activate('a');
      assert.deepEqual(await activeKids(), ['a']);
    });

    test('activating an unknown kid is rejected and changes nothing', async () => {
      await f.store.add(key('a', { active: true }));
      await assert.rejects(f.store.activate('never-added'));
      assert.deepEqual(await activeKids(), ['a']);
    });

    test('of many concurrent activations, exactly one key ends up active', async () => {
      const kids = Array.from({ length: 20 }, (_, i) => `k${i}`);
      for (const kid of kids) await f.store.add(key(kid));
      await Promise.all(kids.map((kid) => f.store.activate(kid)));
      const active = await activeKids();
      assert.equal(active.length, 1, `one active key, got ${active.join(', ')}`);
    });
  });
}
