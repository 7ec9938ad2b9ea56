/**
 * Stored configuration-change audit events through `GET /api/v1/audit-events`: the
 * listing, paging, filters, who may read it, that no secret or sensitive value lands in
 * the store, and that a failing store never fails the change.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openSqlite, sqlitePath } from '../src/storage/sqlite/database.js';
import { basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const ADMIN = { client_id: 'admin', client_secret: 'admin-secret' } as const;
const OPS = { client_id: 'ops', client_secret: 'ops-secret' } as const;
const CONFIG = '/api/v1/configuration';
const EVENTS = '/api/v1/audit-events';
const SENSITIVE = ['first-S3NSITIVE-value', 'second-S3NSITIVE-value', 'third-S3NSITIVE-value'];

type Event = Record<string, unknown> & { id: number };

describe('stored audit events', () => {
  let r: TestRegistrar;
  const call = (
    method: string,
    url: string,
    payload?: unknown,
    who: { client_id: string; client_secret: string } = ADMIN,
  ) =>
    r.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: basic(who.client_id, who.client_secret) },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const json = (body: string) => JSON.parse(body) as Record<string, unknown>;
  const list = async (query = '') => {
    const res = await call('GET', `${EVENTS}${query}`);
    assert.equal(res.statusCode, 200, res.body);
    return json(res.body) as { items: Event[]; next_cursor: string | null };
  };
  const changes = (events: Event[]) =>
    events.map((e) => `${e.client_id} ${e.action} ${e.resource} ${e.resource_id}`);

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
        { ...OPS, scopes: ['admin'] },
      ],
      identity_providers: [idp('hello', { backchannel: 'function execute() { return { status: 2000 }; }' })],
      engine: { sandbox_processes: 1 },
    });
    // The changes every test reads, oldest first.
    const made = [
      await call('POST', `${CONFIG}/properties`, { id: 'api_key', value: SENSITIVE[0], sensitive: true }),
      await call('PATCH', `${CONFIG}/properties/api_key`, { value: SENSITIVE[1] }),
      await call('PUT', `${CONFIG}/properties/api_key`, { value: SENSITIVE[2], sensitive: true }, OPS),
      await call('POST', `${CONFIG}/api-clients`, {
        client_id: 'crm',
        client_secret: 'crm-secret',
        scopes: [],
      }),
      await call(
        'PUT',
        `${CONFIG}/identity-providers/hello/scripts/backchannel`,
        {
          source: 'function execute() { return { status: 2001 }; }',
        },
        OPS,
      ),
      await call('DELETE', `${CONFIG}/api-clients/crm`),
    ];
    assert.deepEqual(
      made.map((res) => res.statusCode),
      [201, 200, 200, 201, 201, 204],
    );
  });
  after(async () => r.close());

  test('every change is listed, newest first, with id, ISO time, client, resource, action, before and after', async () => {
    const { items, next_cursor } = await list();
    assert.equal(next_cursor, null);
    assert.deepEqual(changes(items), [
      'admin delete api_client crm',
      'ops save_version script hello/backchannel',
      'admin create api_client crm',
      'ops replace property api_key',
      'admin update property api_key',
      'admin create property api_key',
    ]);
    const [deleted, saved] = items;
    assert.deepEqual(deleted?.before, { client_id: 'crm', name: null, scopes: [] });
    assert.equal(deleted?.after, null);
    assert.deepEqual(
      Object.keys((saved?.after ?? {}) as object).sort(),
      ['sha256', 'version'],
      'never the source',
    );
    for (const event of items) {
      assert.equal(typeof event.id, 'number');
      assert.equal(new Date(String(event.at)).toISOString(), event.at, 'an ISO time');
      assert.ok(Math.abs(Date.parse(String(event.at)) - Date.now()) < 60_000, 'made just now');
    }
  });

  test('pages walk every event once: limit, next_cursor, cursor', async () => {
    const all = (await list()).items.map((e) => e.id);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Event[]; next_cursor: string | null } = await list(
        `?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      );
      assert.ok(page.items.length <= 4);
      seen.push(...page.items.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, all);
  });

  test('filters by resource, resource id and client, alone and together', async () => {
    assert.deepEqual(changes((await list('?resource=api_client')).items), [
      'admin delete api_client crm',
      'admin create api_client crm',
    ]);
    assert.deepEqual(changes((await list('?resource_id=hello%2Fbackchannel')).items), [
      'ops save_version script hello/backchannel',
    ]);
    assert.deepEqual(changes((await list('?client_id=ops')).items), [
      'ops save_version script hello/backchannel',
      'ops replace property api_key',
    ]);
    assert.deepEqual(
      changes((await list('?resource=property&resource_id=api_key&client_id=admin&limit=1')).items),
      ['admin update property api_key'],
    );
    assert.deepEqual((await list('?resource=application')).items, []);
  });

  test('a bad query is invalid_request naming the field', async () => {
    for (const [query, field] of [
      ['?resource=nope', 'resource'],
      ['?cursor=abc', 'cursor'],
      ['?cursor=0', 'cursor'],
      ['?limit=0', 'limit'],
      ['?limit=201', 'limit'],
      ['?action=create', 'action'],
    ] as const) {
      const res = await call('GET', `${EVENTS}${query}`);
      assert.equal(res.statusCode, 400, query);
      const body = json(res.body);
      assert.equal(body.error, 'invalid_request');
      assert.deepEqual(
        (body.details as Array<{ field: string }>).map((d) => d.field),
        [field],
        query,
      );
    }
  });

  test('only API clients with scope admin may read them', async () => {
    const none = await r.app.inject({ method: 'GET', url: EVENTS });
    assert.equal(none.statusCode, 400);
    assert.equal(json(none.body).error, 'invalid_client');
    const portal = await call('GET', EVENTS, undefined, PORTAL);
    assert.equal(portal.statusCode, 403);
    assert.equal(json(portal.body).error, 'insufficient_permissions');
  });

  test('no secret or sensitive value ever lands in the store', async () => {
    const db = openSqlite(sqlitePath(String(r.config.storage.url)), { migrate: false });
    try {
      const rows = db.prepare('SELECT * FROM audit_events').all();
      assert.ok(rows.length >= 6);
      const text = JSON.stringify(rows);
      for (const secret of [...SENSITIVE, 'crm-secret', 'scrypt$']) {
        assert.ok(!text.includes(secret), `${secret} is not stored`);
      }
      assert.ok(text.includes('********'), 'the sensitive value is stored masked');
    } finally {
      db.close();
    }
  });

  test('a store that fails does not fail the change: the change is made, logged, and the failure logged', async () => {
    const store = r.deps.storage.auditEvents;
    const append = store.append;
    store.append = async () => {
      throw new Error('disk full');
    };
    try {
      const res = await call('POST', `${CONFIG}/properties`, { id: 'unstored', value: 'v' });
      assert.equal(res.statusCode, 201, res.body);
    } finally {
      store.append = append;
    }
    assert.equal((await call('GET', `${CONFIG}/properties/unstored`)).statusCode, 200, 'the change is made');
    const failure = r.logs.find((line) => line.msg === 'storing a configuration_change audit event failed');
    assert.equal(failure?.level, 50, 'logged at error level');
    assert.ok(
      r.logs.find((line) => (line.audit as { id?: string } | undefined)?.id === 'unstored'),
      'the event is logged',
    );
    assert.deepEqual((await list('?resource_id=unstored')).items, []);
  });
});
