/**
 * The conformance suite for RecordingStore (recorded script executions): every backend
 * (SQLite, PostgreSQL) runs these same cases, written against the interfaces only. Times
 * are given to the store, so retention is tested without waiting.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ConfigStore, NewRecording, RecordingStore } from '../../src/storage/types.js';

/** Freshly opened, empty stores on one database. */
export interface RecordingStoreFixture {
  recordings: RecordingStore;
  config: ConfigStore;
  close(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;

const recording = (extra: Partial<NewRecording> = {}): NewRecording => ({
  idp_id: 'rec-a',
  kind: 'backchannel',
  version: 1,
  outcome: 'failure',
  at: T0,
  request_id: 'req-1',
  execution: {
    args: ['{"user":"x"}', null, null, { on_behalf_of: ['u'] }],
    result: { status: 5000, response_payload: 'ü "q" ********', registration_data: null, user: null },
    error: null,
    logs: [{ level: 'info', message: 'hello ********' }],
    cpu_ms: 1.5,
    wall_ms: 2.25,
  },
  ...extra,
});

export function recordingStoreConformance(name: string, open: () => Promise<RecordingStoreFixture>): void {
  describe(`RecordingStore conformance: ${name}`, () => {
    let f: RecordingStoreFixture;
    let store: RecordingStore;
    beforeEach(async () => {
      f = await open();
      store = f.recordings;
      for (const id of ['rec-a', 'rec-b']) {
        await f.config.upsertIdentityProvider(
          { id, name: null, flow: 'one_step', enabled: true, limits: {} },
          { complete: { source: 'function execute() { return { status: 2000 }; }', filename: 'c.js' } },
        );
      }
    });
    afterEach(() => f.close());

    const ids = async (query: Partial<Parameters<RecordingStore['list']>[0]> = {}) =>
      (await store.list({ idpId: 'rec-a', limit: 100, ...query })).items.map((r) => r.id);

    test('an appended recording is listed and read back with every field as given', async () => {
      const given = recording();
      const id = await store.append(given);
      const { items, next } = await store.list({ idpId: 'rec-a', limit: 10 });
      assert.deepEqual(items, [{ ...given, id }]);
      assert.equal(next, null);
      assert.deepEqual(await store.get('rec-a', id), { ...given, id });
    });

    test('get is scoped to the IdP: another IdP, or an unknown id, is undefined', async () => {
      const id = await store.append(recording());
      assert.equal(await store.get('rec-b', id), undefined);
      assert.equal(await store.get('rec-a', id + 1000), undefined);
    });

    test('lists newest first, one IdP only, with every filter combining', async () => {
      const a1 = await store.append(recording({ at: T0 }));
      const a2 = await store.append(recording({ at: T0 + 10, outcome: 'success', version: 2 }));
      const a3 = await store.append(recording({ at: T0 + 20, kind: 'complete', outcome: 'error' }));
      await store.append(recording({ idp_id: 'rec-b' }));
      assert.deepEqual(await ids(), [a3, a2, a1]);
      assert.deepEqual(await ids({ kind: 'backchannel' }), [a2, a1]);
      assert.deepEqual(await ids({ outcome: 'success' }), [a2]);
      assert.deepEqual(await ids({ version: 1 }), [a3, a1]);
      assert.deepEqual(await ids({ since: T0 + 10 }), [a3, a2]);
      assert.deepEqual(await ids({ kind: 'backchannel', version: 1, outcome: 'failure' }), [a1]);
      assert.deepEqual(await ids({ idpId: 'unknown' }), []);
    });

    test('pages with the cursor until the last page', async () => {
      const made: number[] = [];
      for (let i = 0; i < 5; i++) made.push(await store.append(recording({ at: T0 + i })));
      const seen: number[] = [];
      let after: number | undefined;
      for (;;) {
        const page = await store.list({
          idpId: 'rec-a',
          limit: 2,
          ...(after === undefined ? {} : { after }),
        });
        seen.push(...page.items.map((r) => r.id));
        if (page.next === null) break;
        after = Number(page.next);
      }
      assert.deepEqual(seen, made.reverse());
    });

    test('ids only grow, even after a purge', async () => {
      const first = await store.append(recording());
      await store.purge({ idpId: 'rec-a', since: T0 + DAY, keep: 100 });
      const second = await store.append(recording());
      assert.ok(second > first);
    });

    test('purge drops one IdP’s recordings older than since, then all but the newest keep', async () => {
      const old = await store.append(recording({ at: T0 - 8 * DAY }));
      const kept: number[] = [];
      for (let i = 0; i < 4; i++) kept.push(await store.append(recording({ at: T0 + i })));
      const other = await store.append(recording({ idp_id: 'rec-b', at: T0 - 8 * DAY }));
      assert.equal(await store.purge({ idpId: 'rec-a', since: T0 - 7 * DAY, keep: 3 }), 2);
      assert.deepEqual(await ids(), kept.slice(1).reverse());
      assert.equal(await store.get('rec-a', old), undefined);
      assert.ok(await store.get('rec-b', other), 'another IdP’s recordings stay');
      assert.equal(await store.purge({ idpId: 'rec-a', since: T0 - 7 * DAY, keep: 3 }), 0);
    });

    test('recordings go with their IdP', async () => {
      const id = await store.append(recording({ idp_id: 'rec-b' }));
      assert.ok(await f.config.deleteIdentityProvider('rec-b'));
      assert.equal(await store.get('rec-b', id), undefined);
    });

    test('an IdP’s record policy is stored and read back with it', async () => {
      const record = { failures: true, sample_percent: 12.5, retain_days: 3, max_recordings: 50 };
      await f.config.upsertIdentityProvider(
        { id: 'rec-a', name: null, flow: 'one_step', enabled: true, limits: {}, record },
        {},
      );
      assert.deepEqual((await f.config.getIdentityProvider('rec-a'))?.record, record);
      await f.config.writeIdentityProvider(
        'update',
        { id: 'rec-a', name: null, flow: 'one_step', enabled: true, limits: {} },
        {},
      );
      assert.equal((await f.config.getIdentityProvider('rec-a'))?.record, undefined);
    });
  });
}
