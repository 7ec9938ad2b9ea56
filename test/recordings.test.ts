/**
 * Recording live executions and replaying them (issue 15): a failing execution is
 * recorded with its secrets masked, listed and read through the admin API, replayed to
 * the same failure against the active version and to success against a fixed draft,
 * without touching the real CACHE or the network, turned into a stored test case, and
 * purged when old. Runs on SQLite, and on PostgreSQL + Redis when
 * REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL are set.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { purgeRecordings } from '../src/registration/recorder.js';
import { closeRedis, openRedis } from '../src/storage/redis/connection.js';
import { removePrefix } from './helpers/redis-keys.js';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const BASE = '/api/v1/configuration/identity-providers';
const ADMIN = { client_id: 'ops', client_secret: 'ops-secret' } as const;
const SECRET = 'sekret-4711';
const DAY = 86_400_000;

/** Reads the CACHE, stores a marker, and throws (quoting the secret) for "boom". */
const ACTIVE = `function execute(data) {
  var key = PROPERTIES.get("crm_key");
  LOG.info("calling the CRM with {}", key);
  CACHE.fetch("seen-" + data);
  CACHE.store("seen-" + data, "1");
  if (data === "boom") throw new Error("CRM refused key " + key);
  return { status: 2000, responsePayload: "ok " + data + " " + key };
}`;
/** The fix: no throw; it stores a marker of its own and tries an outbound call. */
const FIXED = `function execute(data) {
  CACHE.store("replayed-" + data, "1");
  var reached = true;
  try { HTTP.request({ method: "GET", url: "http://127.0.0.1:9/" }); } catch (e) { reached = false; }
  return { status: 2000, responsePayload: "fixed " + data + " reached=" + reached };
}`;

/** The config both backends run (storage and cache added by the caller). */
const recordingConfig = () => ({
  api_clients: [
    { ...PORTAL, scopes: ['user_registration'] },
    { ...ADMIN, scopes: ['admin'] },
  ],
  properties: [{ id: 'crm_key', value: SECRET, sensitive: true }],
  identity_providers: [
    idp('rec', { backchannel: ACTIVE }, { record: { failures: true, sample_percent: 0 } }),
    idp('quiet', { backchannel: ACTIVE }),
  ],
});

type Item = { id: number; outcome: string; kind: string; version: number };

function recordingSuite(name: string, start: () => Promise<TestRegistrar>): void {
  describe(`recording and replay: ${name}`, () => {
    let r: TestRegistrar;
    before(async () => {
      r = await start();
    });
    after(() => r?.close());

    const admin = (method: 'GET' | 'POST', url: string, payload?: object) =>
      r.app.inject({
        method,
        url: `${BASE}${url}`,
        headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
        ...(payload === undefined ? {} : { payload }),
      });
    /** The IdP's recordings once `count` are stored (the write is not awaited by the answer). */
    const recorded = async (idpId: string, count: number, query = ''): Promise<Item[]> => {
      for (let i = 0; i < 100; i++) {
        const res = await admin('GET', `/${idpId}/recordings${query}`);
        assert.equal(res.statusCode, 200, res.body);
        const items = res.json().items as Item[];
        if (items.length >= count) return items;
        await sleep(20);
      }
      assert.fail(`${idpId} has fewer than ${count} recordings`);
    };

    let failedId = 0;

    test('a failing execution is recorded with the secret masked; successes are not (sample 0 %)', async () => {
      const ok = await backchannel(r.app, 'rec', 'alice');
      assert.equal(ok.statusCode, 200, ok.body);
      const failed = await backchannel(r.app, 'rec', 'boom');
      assert.equal(failed.statusCode, 500, failed.body);
      const [item] = await recorded('rec', 1);
      assert.ok(item);
      failedId = item.id;
      const read = await admin('GET', `/rec/recordings/${item.id}`);
      assert.equal(read.statusCode, 200, read.body);
      const view = read.json();
      assert.equal(view.outcome, 'error');
      assert.equal(view.kind, 'backchannel');
      assert.equal(view.version, 1);
      assert.deepEqual(view.args, ['boom', null, null, null]);
      assert.equal(view.result, null);
      assert.equal(view.error.kind, 'exception');
      assert.match(view.error.message, /CRM refused key \*\*\*\*\*\*\*\*/);
      assert.ok(view.logs.some((l: { message: string }) => l.message === 'calling the CRM with ********'));
      assert.ok(!read.body.includes(SECRET), 'the secret is never stored');
      assert.ok(!read.body.includes(PORTAL.client_secret), 'nor the caller’s credentials');
      await sleep(100);
      assert.equal((await recorded('rec', 1)).length, 1, 'the success is not recorded');
      assert.equal((await admin('GET', '/quiet/recordings')).json().items.length, 0);
      await backchannel(r.app, 'quiet', 'boom');
      await sleep(100);
      assert.equal(
        (await admin('GET', '/quiet/recordings')).json().items.length,
        0,
        'no policy, no recording',
      );
    });

    test('the list filters and pages; unknown ids and bad queries are refused', async () => {
      await backchannel(r.app, 'rec', 'boom');
      const both = await recorded('rec', 2);
      assert.ok((both[0]?.id ?? 0) > (both[1]?.id ?? 0), 'newest first');
      assert.equal((await recorded('rec', 2, '?outcome=error&kind=backchannel&version=1')).length, 2);
      assert.equal((await admin('GET', '/rec/recordings?outcome=success')).json().items.length, 0);
      assert.equal((await admin('GET', '/rec/recordings?version=2')).json().items.length, 0);
      assert.equal((await admin('GET', '/rec/recordings?since=2999-01-01T00:00:00Z')).json().items.length, 0);
      const first = (await admin('GET', '/rec/recordings?limit=1')).json();
      assert.equal(first.items.length, 1);
      const second = (await admin('GET', `/rec/recordings?limit=1&cursor=${first.next_cursor}`)).json();
      assert.equal(second.items[0].id, failedId);
      for (const query of ['?outcome=nope', '?kind=x', '?since=yesterday', '?cursor=abc', '?version=0']) {
        const res = await admin('GET', `/rec/recordings${query}`);
        assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
        assert.equal(res.json().error, 'invalid_request');
      }
      assert.equal((await admin('GET', '/nope/recordings')).statusCode, 404);
      assert.equal((await admin('GET', '/rec/recordings/999999')).statusCode, 404);
      assert.equal((await admin('GET', '/quiet/recordings/1')).statusCode, 404);
    });

    test('replayed against the active version it fails the same way', async () => {
      const res = await admin('POST', `/rec/recordings/${failedId}/replay`, {});
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.same, true, res.body);
      assert.equal(body.ran, 1);
      assert.deepEqual(body.differences, []);
      assert.equal(body.replayed.error.kind, 'exception');
      assert.equal(body.replayed.error.message, body.recorded.error.message);
      assert.ok(!res.body.includes(SECRET));
    });

    test('replayed against a fixed draft it succeeds, differs, and touches neither the real CACHE nor the network', async () => {
      const cache = r.deps.storage.cache;
      const before = await cache.get('seen-boom');
      const res = await admin('POST', `/rec/recordings/${failedId}/replay`, { source: FIXED });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.same, false);
      assert.equal(body.ran, 'draft');
      assert.equal(body.replayed.status, 2000);
      assert.equal(body.replayed.response_payload, 'fixed boom reached=false');
      assert.deepEqual(body.differences.map((d: { field: string }) => d.field).sort(), [
        'error',
        'response_payload',
        'status',
      ]);
      assert.deepEqual(body.report.cache, { 'replayed-boom': '1' }, 'the draft wrote to the scratch CACHE');
      assert.deepEqual(body.report.outbound, [], 'no outbound call was made');
      assert.equal(await cache.get('replayed-boom'), null, 'the real CACHE never sees it');
      assert.equal(await cache.get('seen-boom'), before);
      const badSource = await admin('POST', `/rec/recordings/${failedId}/replay`, { source: 'function (' });
      assert.equal(badSource.statusCode, 400, badSource.body);
      const both = await admin('POST', `/rec/recordings/${failedId}/replay`, { source: FIXED, version: 1 });
      assert.equal(both.statusCode, 400, both.body);
      const missing = await admin('POST', `/rec/recordings/${failedId}/replay`, { version: 9 });
      assert.equal(missing.statusCode, 404, missing.body);
    });

    test('a recording becomes a stored test case in one call', async () => {
      const res = await admin('POST', `/rec/recordings/${failedId}/test-case`, {});
      assert.equal(res.statusCode, 201, res.body);
      const made = res.json().case;
      assert.equal(made.name, `recording-${failedId}`);
      assert.deepEqual(made.expect, { status: 'error' });
      assert.equal(made.input.data, 'boom');
      const again = await admin('POST', `/rec/recordings/${failedId}/test-case`, {});
      assert.equal(again.statusCode, 409, again.body);
      const stored = (await admin('GET', '/rec/scripts/backchannel/tests')).json().cases;
      assert.deepEqual(
        stored.map((c: { name: string }) => c.name),
        [`recording-${failedId}`],
      );
      const run = await admin('POST', '/rec/scripts/backchannel/tests/run', {});
      assert.equal(run.statusCode, 200, run.body);
      assert.equal(run.json().failed, 0, run.body);
      assert.equal(run.json().passed, 1, run.body);
    });

    test('the IdP’s admin view carries its record policy; PATCH changes and removes it', async () => {
      const view = (await admin('GET', '/rec')).json();
      assert.deepEqual(view.record, {
        failures: true,
        sample_percent: 0,
        retain_days: 7,
        max_recordings: 1000,
      });
      const patch = (payload: object) =>
        r.app.inject({
          method: 'PATCH',
          url: `${BASE}/quiet`,
          headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
          payload,
        });
      const bad = await patch({ record: { sample_percent: 200 } });
      assert.equal(bad.statusCode, 400, bad.body);
      const on = await patch({ record: { failures: false, sample_percent: 100 } });
      assert.equal(on.statusCode, 200, on.body);
      assert.equal(on.json().record.sample_percent, 100);
      await backchannel(r.app, 'quiet', 'carol');
      const [item] = await recorded('quiet', 1);
      assert.equal(item?.outcome, 'success');
      const off = await patch({ record: null });
      assert.equal(off.json().record, undefined);
    });

    test('retention purges old recordings and keeps at most max_recordings', async () => {
      const store = r.deps.storage.recordings;
      const kept = await store.list({ idpId: 'rec', limit: 100 });
      const old = await store.append({
        ...(kept.items[0] as NonNullable<(typeof kept.items)[0]>),
        at: Date.now() - 8 * DAY,
      });
      assert.ok(await store.get('rec', old));
      assert.equal(
        await purgeRecordings(r.deps.storage.config, store, Date.now()),
        1,
        'older than retain_days (7)',
      );
      assert.equal(await store.get('rec', old), undefined);
      assert.equal((await store.list({ idpId: 'rec', limit: 100 })).items.length, kept.items.length);
      const quiet = (await store.list({ idpId: 'quiet', limit: 100 })).items.length;
      assert.equal(
        await purgeRecordings(r.deps.storage.config, store, Date.now() + 8 * DAY),
        kept.items.length + quiet,
        'an IdP that no longer records keeps the default retention',
      );
      assert.equal((await admin('GET', '/rec/recordings')).json().items.length, 0);
    });
  });
}

recordingSuite('SQLite', () => startRegistrar(recordingConfig()));

const POSTGRES = process.env.REGISTRAR_TEST_POSTGRES_URL;
const REDIS = process.env.REGISTRAR_TEST_REDIS_URL;
if (!POSTGRES || !REDIS) {
  test('recording and replay: PostgreSQL + Redis', {
    skip: 'REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL are not set: start them with eval "$(scripts/test-services.sh start)"',
  }, () => {});
} else {
  const database = `registrar_recordings_${randomBytes(4).toString('hex')}`;
  const prefix = `${database}:`;
  const sql = async (text: string) => {
    const client = new pg.Client({ connectionString: POSTGRES });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  after(async () => {
    await sql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    const redis = openRedis(REDIS, { connectTimeoutMs: 1000, commandTimeoutMs: 2000, keyPrefix: '' });
    await removePrefix(redis, prefix);
    await closeRedis(redis);
  });
  recordingSuite('PostgreSQL + Redis', async () => {
    await sql(`CREATE DATABASE ${database}`);
    const storageUrl = new URL(POSTGRES);
    storageUrl.pathname = `/${database}`;
    return startRegistrar({
      ...recordingConfig(),
      storage: { url: storageUrl.toString(), postgres: { connect_timeout_ms: 20_000 } },
      cache: { url: REDIS, redis: { key_prefix: prefix } },
    });
  });
}
