/**
 * Conformance suites for the administration stores: AuditEventStore and
 * ConsoleSessionStore. Every backend (SQLite, PostgreSQL) runs these same cases, written
 * against the interfaces only. Session times are passed to the store, so expiry is
 * tested without sleeping.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type {
  AuditEventStore,
  ConsoleSessionRecord,
  ConsoleSessionStore,
  NewAuditEvent,
} from '../../src/storage/types.js';

/** Freshly opened, empty stores on one database. */
export interface AdminStoresFixture {
  auditEvents: AuditEventStore;
  consoleSessions: ConsoleSessionStore;
  close(): Promise<void>;
}

export function adminStoreConformance(name: string, open: () => Promise<AdminStoresFixture>): void {
  describe(`AuditEventStore conformance: ${name}`, () => {
    let f: AdminStoresFixture;
    let store: AuditEventStore;
    beforeEach(async () => {
      f = await open();
      store = f.auditEvents;
    });
    afterEach(() => f.close());

    const T0 = 1_700_000_000_000;
    const event = (extra: Partial<NewAuditEvent> = {}): NewAuditEvent => ({
      at: T0,
      client_id: 'admin',
      resource: 'property',
      resource_id: 'greeting',
      action: 'update',
      before: { id: 'greeting', value: 'hello', sensitive: false },
      after: { id: 'greeting', value: 'hi', sensitive: false },
      ...extra,
    });
    const ids = async (query: Partial<Parameters<AuditEventStore['list']>[0]> = {}) =>
      (await store.list({ limit: 100, ...query })).items.map((e) => e.id);

    test('an appended event is listed with its id and every field as given', async () => {
      const given = event({
        client_id: null,
        before: null,
        after: { nested: { list: [1, 'two', null, true] }, text: 'ü \u0000 "q"', key_order: { b: 1, a: 2 } },
      });
      const id = await store.append(given);
      const { items, next } = await store.list({ limit: 10 });
      assert.deepEqual(items, [{ ...given, id }]);
      assert.equal(next, null);
      const after = items[0]?.after as { key_order: object } | undefined;
      assert.deepEqual(Object.keys(after?.key_order ?? {}), ['b', 'a'], 'key order is kept');
    });

    test('ids grow with every append and events are listed newest first', async () => {
      const appended: number[] = [];
      for (let i = 0; i < 5; i++) appended.push(await store.append(event({ at: T0 + i })));
      for (let i = 1; i < appended.length; i++) {
        assert.ok((appended[i] as number) > (appended[i - 1] as number), 'ids increase');
      }
      assert.deepEqual(await ids(), [...appended].reverse());
    });

    test('pages: limit, next and after walk every event once, newest first', async () => {
      const appended: number[] = [];
      for (let i = 0; i < 7; i++) appended.push(await store.append(event({ resource_id: `p${i}` })));
      const seen: number[] = [];
      let after: number | undefined;
      let pages = 0;
      for (;;) {
        const page = await store.list({ limit: 3, ...(after === undefined ? {} : { after }) });
        seen.push(...page.items.map((e) => e.id));
        pages++;
        if (page.next === null) break;
        assert.equal(page.next, String(page.items.at(-1)?.id), 'next is the last id of the page');
        after = Number(page.next);
      }
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...appended].reverse());
      const exact = await store.list({ limit: 7 });
      assert.equal(exact.items.length, 7);
      assert.equal(exact.next, null, 'a page that holds the rest has no next');
    });

    test('filters: resource, resource id and client id, alone and together, with paging', async () => {
      const a = await store.append(event({ resource: 'api_client', resource_id: 'crm', client_id: 'ops' }));
      const b = await store.append(event({ resource: 'property', resource_id: 'crm', client_id: 'admin' }));
      const c = await store.append(event({ resource: 'api_client', resource_id: 'erp', client_id: 'admin' }));
      const d = await store.append(event({ resource: 'api_client', resource_id: 'crm', client_id: 'admin' }));
      assert.deepEqual(await ids({ resource: 'api_client' }), [d, c, a]);
      assert.deepEqual(await ids({ resourceId: 'crm' }), [d, b, a]);
      assert.deepEqual(await ids({ clientId: 'admin' }), [d, c, b]);
      assert.deepEqual(await ids({ resource: 'api_client', resourceId: 'crm' }), [d, a]);
      assert.deepEqual(await ids({ resource: 'api_client', resourceId: 'crm', clientId: 'ops' }), [a]);
      assert.deepEqual(await ids({ resource: 'api_client', after: d }), [c, a]);
      assert.deepEqual(await ids({ resource: 'script' }), []);
      assert.deepEqual(await ids({ clientId: 'nobody' }), []);
    });

    test('purge removes events older than the retention, and all but the newest `keep`', async () => {
      const old = await store.append(event({ at: T0 - 1 }));
      const kept: number[] = [];
      for (let i = 0; i < 4; i++) kept.push(await store.append(event({ at: T0 + i })));
      assert.equal(await store.purge({ since: T0, keep: 1000 }), 1, 'the one older event');
      assert.ok(!(await ids()).includes(old));
      assert.equal(await store.purge({ since: T0, keep: 2 }), 2, 'the two oldest beyond the cap');
      assert.deepEqual(await ids(), [kept[3], kept[2]]);
      assert.equal(await store.purge({ since: T0, keep: 2 }), 0, 'nothing more to do');
    });

    test('an id is never handed out again after a purge', async () => {
      const first = await store.append(event());
      const second = await store.append(event());
      assert.equal(await store.purge({ since: T0, keep: 0 }), 2);
      assert.deepEqual(await ids(), []);
      const third = await store.append(event());
      assert.ok(third > second && second > first, `${third} > ${second}`);
    });

    test('50 concurrent appends get 50 distinct ids and are all listed', async () => {
      const appended = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.append(event({ resource_id: `c${i}` }))),
      );
      assert.equal(new Set(appended).size, 50);
      assert.deepEqual(
        await ids(),
        [...appended].sort((x, y) => y - x),
      );
    });
  });

  describe(`ConsoleSessionStore conformance: ${name}`, () => {
    let f: AdminStoresFixture;
    let store: ConsoleSessionStore;
    beforeEach(async () => {
      f = await open();
      store = f.consoleSessions;
    });
    afterEach(() => f.close());

    const T0 = 1_700_000_000_000;
    const IDLE = 30 * 60_000;
    const MAX = 12 * 3_600_000;
    const session = (extra: Partial<ConsoleSessionRecord> = {}): ConsoleSessionRecord => ({
      id_hash: randomBytes(32).toString('hex'),
      client_id: 'admin',
      secret_fingerprint: randomBytes(32).toString('hex'),
      created_at: T0,
      idle_expires_at: T0 + IDLE,
      expires_at: T0 + MAX,
      ...extra,
    });

    test('a created session is found by its id hash with every field; its idle expiry moves on', async () => {
      const s = session();
      await store.create(s);
      assert.deepEqual(await store.use(s.id_hash, T0 + 1000, IDLE), {
        ...s,
        idle_expires_at: T0 + 1000 + IDLE,
      });
      assert.equal(await store.use('0'.repeat(64), T0, IDLE), undefined, 'an unknown hash is nothing');
    });

    test('a session is live until the millisecond of its idle expiry, and each use extends it', async () => {
      const s = session();
      await store.create(s);
      assert.ok(await store.use(s.id_hash, T0 + IDLE - 1, IDLE), 'still live 1 ms before');
      assert.ok(await store.use(s.id_hash, T0 + 2 * IDLE - 2, IDLE), 'the use moved the expiry on');
      assert.equal(await store.use(s.id_hash, T0 + 3 * IDLE - 2, IDLE), undefined, 'idle too long');
      assert.equal(await store.use(s.id_hash, T0 + 3 * IDLE, IDLE), undefined, 'and it stays ended');
    });

    test('use never moves the idle expiry past the hard expiry, which ends the session', async () => {
      const s = session({ expires_at: T0 + IDLE + 10 });
      await store.create(s);
      const used = await store.use(s.id_hash, T0 + IDLE - 5, IDLE);
      assert.equal(used?.idle_expires_at, s.expires_at);
      assert.ok(await store.use(s.id_hash, s.expires_at - 1, IDLE));
      assert.equal(await store.use(s.id_hash, s.expires_at, IDLE), undefined);
    });

    test('creating an id hash that exists is rejected and keeps the first session', async () => {
      const s = session();
      await store.create(s);
      await assert.rejects(store.create({ ...s, client_id: 'intruder' }));
      assert.equal((await store.use(s.id_hash, T0, IDLE))?.client_id, 'admin');
    });

    test('delete ends a session once', async () => {
      const s = session();
      const other = session();
      await store.create(s);
      await store.create(other);
      assert.equal(await store.delete(s.id_hash), true);
      assert.equal(await store.delete(s.id_hash), false);
      assert.equal(await store.use(s.id_hash, T0, IDLE), undefined);
      assert.ok(await store.use(other.id_hash, T0, IDLE), 'the other session lives on');
    });

    test('purgeExpired removes only sessions expired at that time', async () => {
      const idle = session({ idle_expires_at: T0 + 10 });
      const capped = session({ idle_expires_at: T0 + IDLE, expires_at: T0 + 10 });
      const live = session();
      for (const s of [idle, capped, live]) await store.create(s);
      assert.equal(await store.purgeExpired(T0 + 9), 0);
      assert.equal(await store.purgeExpired(T0 + 10), 2);
      assert.equal(await store.delete(idle.id_hash), false, 'purged');
      assert.equal(await store.delete(capped.id_hash), false, 'purged');
      assert.ok(await store.use(live.id_hash, T0 + 10, IDLE));
    });

    test('of 20 concurrent uses of a live session every one finds it, and the latest use counts', async () => {
      const s = session();
      await store.create(s);
      const uses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.use(s.id_hash, T0 + 19 - i, IDLE)),
      );
      assert.ok(uses.every((u) => u?.client_id === 'admin'));
      assert.equal(
        (await store.use(s.id_hash, T0, IDLE))?.idle_expires_at,
        T0 + 19 + IDLE,
        'never moved back',
      );
    });
  });
}
