/**
 * The RolloutStore contract (script canaries, issue 14), run against every backend. The
 * store is the configuration store itself, so the IdP record shows the running canary.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ConfigStore, NewRollout, RolloutStore } from '../../src/storage/types.js';
import { fields, script, sha256 } from './config-conformance.js';

/** A freshly opened, empty configuration store that also keeps canaries. */
export interface RolloutFixture {
  store: ConfigStore & RolloutStore;
  close(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const policy = (extra: Partial<NewRollout> = {}): NewRollout => ({
  to_version: 2,
  percent: 20,
  margin_points: 5,
  min_executions: 50,
  promote_after: null,
  started_at: T0,
  ...extra,
});
const counts = (n: number) => ({
  from: { executions: n, failures: 0, wall_ms: n * 2 },
  to: { executions: n, failures: n, wall_ms: n * 3 },
});

export function rolloutStoreConformance(name: string, open: () => Promise<RolloutFixture>): void {
  describe(`RolloutStore conformance: ${name}`, () => {
    let f: RolloutFixture;
    let store: ConfigStore & RolloutStore;
    beforeEach(async () => {
      f = await open();
      store = f.store;
      // Version 1 active, version 2 stored beside it.
      await store.upsertIdentityProvider(fields('a'), { complete: script('c'), backchannel: script('b1') });
      await store.saveScript('a', 'backchannel', script('b2', 'two.js'), { activate: false });
    });
    afterEach(() => f.close());

    test('a started canary is read back and carried by the IdP record with its script', async () => {
      const started = await store.startRollout('a', 'backchannel', policy());
      assert.notEqual(typeof started, 'string');
      const expected = {
        idp_id: 'a',
        kind: 'backchannel',
        from_version: 1,
        to_version: 2,
        state: 'running',
        percent: 20,
        margin_points: 5,
        min_executions: 50,
        promote_after: null,
        started_at: T0,
        ended_at: null,
        reason: null,
        counts: {
          from: { executions: 0, failures: 0, wall_ms: 0 },
          to: { executions: 0, failures: 0, wall_ms: 0 },
        },
      };
      assert.deepEqual(started, expected);
      assert.deepEqual(await store.getRollout('a', 'backchannel'), expected);
      const idp = await store.getIdentityProvider('a');
      assert.equal(idp?.scripts.backchannel?.version, 1);
      const canary = idp?.canaries?.backchannel;
      assert.equal(canary?.version.version, 2);
      assert.equal(canary?.version.source, 'b2');
      assert.equal(canary?.version.filename, 'two.js');
      assert.equal(canary?.from_version, 1);
      assert.equal(canary?.percent, 20);
      assert.equal(canary?.promote_after, null);
      assert.equal(idp?.canaries?.complete, undefined);
    });

    test('refusals change nothing', async () => {
      assert.equal(await store.startRollout('nope', 'backchannel', policy()), 'no_idp');
      assert.equal(await store.startRollout('a', 'backchannel', policy({ to_version: 9 })), 'no_version');
      assert.equal(await store.startRollout('a', 'backchannel', policy({ to_version: 1 })), 'already_active');
      await store.upsertIdentityProvider(fields('n'), { complete: script('c') });
      await store.saveScript('n', 'backchannel', script('x'), { activate: false });
      assert.equal(await store.startRollout('n', 'backchannel', policy({ to_version: 1 })), 'no_active');
      assert.equal(await store.getRollout('a', 'backchannel'), undefined);
      assert.equal((await store.getIdentityProvider('a'))?.canaries, undefined);
      await store.startRollout('a', 'backchannel', policy());
      assert.equal(await store.startRollout('a', 'backchannel', policy({ percent: 50 })), 'running');
      assert.equal((await store.getRollout('a', 'backchannel'))?.percent, 20);
    });

    test('counts are added atomically for the running canary only, and the totals returned', async () => {
      await store.startRollout('a', 'backchannel', policy());
      assert.deepEqual(await store.addRolloutCounts('a', 'backchannel', 2, counts(7)), counts(7));
      await Promise.all(
        Array.from({ length: 10 }, () => store.addRolloutCounts('a', 'backchannel', 2, counts(1))),
      );
      assert.deepEqual((await store.getRollout('a', 'backchannel'))?.counts, counts(17));
      assert.equal(await store.addRolloutCounts('a', 'backchannel', 3, counts(9)), undefined);
      assert.deepEqual((await store.getRollout('a', 'backchannel'))?.counts, counts(17));
    });

    test('a rollback ends it once, adding the last counts, and leaves the active version', async () => {
      await store.startRollout('a', 'backchannel', policy());
      await store.addRolloutCounts('a', 'backchannel', 2, counts(50));
      const end = {
        to_version: 2,
        state: 'rolled_back',
        reason: 'too many failures',
        delta: counts(10),
        at: T0 + 5,
      } as const;
      const ended = await store.endRollout('a', 'backchannel', end);
      assert.equal(ended?.state, 'rolled_back');
      assert.equal(ended?.reason, 'too many failures');
      assert.equal(ended?.ended_at, T0 + 5);
      assert.deepEqual(ended?.counts, counts(60));
      assert.equal(await store.endRollout('a', 'backchannel', { ...end, state: 'aborted' }), undefined);
      assert.equal((await store.getRollout('a', 'backchannel'))?.state, 'rolled_back');
      const idp = await store.getIdentityProvider('a');
      assert.equal(idp?.scripts.backchannel?.version, 1);
      assert.equal(idp?.canaries, undefined);
    });

    test('of concurrent ends exactly one wins', async () => {
      await store.startRollout('a', 'backchannel', policy());
      const states = ['rolled_back', 'promoted', 'aborted', 'rolled_back'] as const;
      const ends = await Promise.all(
        states.map((state) =>
          store.endRollout('a', 'backchannel', {
            to_version: 2,
            state,
            reason: state,
            delta: counts(1),
            at: T0,
          }),
        ),
      );
      assert.equal(ends.filter((e) => e !== undefined).length, 1);
    });

    test('a promotion activates the new version in the same step; a new canary replaces the record', async () => {
      await store.startRollout('a', 'backchannel', policy());
      const promoted = await store.endRollout('a', 'backchannel', {
        to_version: 2,
        state: 'promoted',
        reason: 'by hand',
        delta: counts(3),
        at: T0 + 1,
      });
      assert.equal(promoted?.state, 'promoted');
      const idp = await store.getIdentityProvider('a');
      assert.equal(idp?.scripts.backchannel?.version, 2);
      assert.equal(idp?.canaries, undefined);
      await store.saveScript('a', 'backchannel', script('b3'), { activate: false });
      const next = await store.startRollout('a', 'backchannel', policy({ to_version: 3, percent: 10 }));
      assert.ok(typeof next !== 'string');
      assert.equal(next.from_version, 2);
      assert.equal(next.state, 'running');
      assert.equal(next.reason, null);
      assert.equal(next.ended_at, null);
      assert.deepEqual(next.counts, counts(0));
    });

    test('a shadow is carried by the IdP record with its script until it is stopped', async () => {
      assert.equal(
        await store.startShadow('a', 'backchannel', { version: 9, percent: 50, started_at: T0 }),
        false,
      );
      assert.equal(
        await store.startShadow('nope', 'backchannel', { version: 1, percent: 50, started_at: T0 }),
        false,
      );
      assert.equal(
        await store.startShadow('a', 'backchannel', { version: 2, percent: 50, started_at: T0 }),
        true,
      );
      const shadow = (await store.getIdentityProvider('a'))?.shadows?.backchannel;
      assert.deepEqual(shadow, {
        percent: 50,
        started_at: T0,
        version: { version: 2, source: 'b2', sha256: sha256('b2'), filename: 'two.js' },
      });
      assert.equal(
        await store.startShadow('a', 'backchannel', { version: 1, percent: 100, started_at: T0 + 1 }),
        true,
      );
      assert.equal((await store.getIdentityProvider('a'))?.shadows?.backchannel?.version.version, 1);
      assert.equal(await store.stopShadow('a', 'backchannel'), true);
      assert.equal(await store.stopShadow('a', 'backchannel'), false);
      assert.equal((await store.getIdentityProvider('a'))?.shadows, undefined);
    });

    test('a canary goes with its IdP', async () => {
      await store.startRollout('a', 'backchannel', policy());
      await store.deleteIdentityProvider('a');
      assert.equal(await store.getRollout('a', 'backchannel'), undefined);
    });
  });
}
