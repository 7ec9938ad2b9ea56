/**
 * The ScriptTestStore contract (stored script test cases, issue 14). Every backend
 * (SQLite, PostgreSQL) runs these same cases, written against the interfaces only.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ConfigStore, ScriptTestStore } from '../../src/storage/types.js';
import { fields, script } from './config-conformance.js';

/** Freshly opened, empty stores on one database (the config store makes the IdPs). */
export interface ScriptTestFixture {
  tests: ScriptTestStore;
  config: ConfigStore;
  close(): Promise<void>;
}

export function scriptTestStoreConformance(name: string, open: () => Promise<ScriptTestFixture>): void {
  describe(`ScriptTestStore conformance: ${name}`, () => {
    let f: ScriptTestFixture;
    beforeEach(async () => {
      f = await open();
      await f.config.upsertIdentityProvider(fields('a'), { complete: script('c') });
      await f.config.upsertIdentityProvider(fields('b'), { complete: script('c') });
    });
    afterEach(() => f.close());

    const cases = [
      { name: 'ok', input: { data: 'x' }, expect: { status: 2000 } },
      { name: 'ünïcode ✓', expect: { payload: { matches: '^a.*$' }, cache: { k: null } } },
    ];

    test('a script without stored cases lists none', async () => {
      assert.deepEqual(await f.tests.list('a', 'backchannel'), []);
      assert.deepEqual(await f.tests.list('nope', 'complete'), []);
    });

    test('a stored list comes back as given, in order, per IdP and kind', async () => {
      assert.equal(await f.tests.replace('a', 'complete', cases), true);
      assert.deepEqual(await f.tests.list('a', 'complete'), cases);
      assert.deepEqual(await f.tests.list('a', 'backchannel'), []);
      assert.deepEqual(await f.tests.list('b', 'complete'), []);
    });

    test('replace swaps the whole list; an empty list removes it', async () => {
      await f.tests.replace('a', 'complete', cases);
      const second = cases[1];
      assert.ok(second);
      assert.equal(await f.tests.replace('a', 'complete', [second]), true);
      assert.deepEqual(await f.tests.list('a', 'complete'), [second]);
      assert.equal(await f.tests.replace('a', 'complete', []), true);
      assert.deepEqual(await f.tests.list('a', 'complete'), []);
    });

    test('replace for an unknown IdP stores nothing and answers false', async () => {
      assert.equal(await f.tests.replace('nope', 'complete', cases), false);
      assert.equal(await f.tests.replace('nope', 'complete', []), false);
      assert.deepEqual(await f.tests.list('nope', 'complete'), []);
    });

    test('the cases go with their IdP', async () => {
      await f.tests.replace('a', 'complete', cases);
      await f.tests.replace('b', 'complete', cases);
      assert.equal(await f.config.deleteIdentityProvider('a'), true);
      assert.deepEqual(await f.tests.list('a', 'complete'), []);
      await f.config.upsertIdentityProvider(fields('a'), { complete: script('c') });
      assert.deepEqual(await f.tests.list('a', 'complete'), []);
      assert.deepEqual(await f.tests.list('b', 'complete'), cases);
    });

    test('concurrent replaces leave one of the lists whole', async () => {
      const lists = Array.from({ length: 8 }, (_, i) =>
        Array.from({ length: 5 }, (_, j) => ({ name: `case ${i}.${j}` })),
      );
      await Promise.all(lists.map((list) => f.tests.replace('a', 'complete', list)));
      const stored = await f.tests.list('a', 'complete');
      assert.ok(lists.some((list) => JSON.stringify(list) === JSON.stringify(stored)));
    });
  });
}
