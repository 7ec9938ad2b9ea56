/**
 * Recordings keep what an execution read (CACHE values, properties) and a replay serves
 * them from the recording: it reproduces a failure that depended on a CACHE entry and a
 * property even after both changed, without touching the real CACHE.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const BASE = '/api/v1/configuration/identity-providers';
const ADMIN = { client_id: 'ops', client_secret: 'ops-secret' } as const;

/** Refuses a user the CACHE marks as blocked, when the mode property says strict. */
const GATE = `function execute(data) {
  var entry = CACHE.fetch("limit-" + data);
  var mode = PROPERTIES.get("mode");
  var unset = PROPERTIES.get("unset");
  if (entry !== null && entry.blocked && mode === "strict") return { status: 5001, responsePayload: "blocked " + data };
  return { status: 2000, responsePayload: "ok " + data + " " + mode + " " + unset };
}`;

describe('recordings keep what an execution read; replays serve it', () => {
  let r: TestRegistrar;
  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      properties: [{ id: 'mode', value: 'strict', sensitive: false }],
      identity_providers: [
        idp('gate', { backchannel: GATE }, { record: { failures: true, sample_percent: 0 } }),
      ],
    });
  });
  after(() => r.close());

  const admin = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    r.app.inject({
      method,
      url: `${BASE}${url}`,
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      ...(payload === undefined ? {} : { payload }),
    });

  test('a failure that depended on a CACHE entry and a property replays the same after both changed', async () => {
    const cache = r.deps.storage.cache;
    await cache.set('limit-eve', JSON.stringify({ blocked: true }), 60_000);
    const live = await backchannel(r.app, 'gate', 'eve');
    assert.equal(live.statusCode, 200, live.body);
    assert.equal(live.json().status, 5001);
    let items: Array<{ id: number }> = [];
    for (let i = 0; i < 100 && items.length === 0; i++) {
      items = (await admin('GET', '/gate/recordings')).json().items;
      if (items.length === 0) await sleep(20);
    }
    const id = items[0]?.id;
    assert.ok(id, 'the failure was recorded');
    const view = (await admin('GET', `/gate/recordings/${id}`)).json();
    assert.deepEqual(view.reads, {
      cache: { 'limit-eve': '{"blocked":true}' },
      properties: { mode: 'strict', unset: null },
    });

    // The world changes: the entry is gone and the property is relaxed.
    await cache.delete('limit-eve');
    const relaxed = await r.app.inject({
      method: 'PUT',
      url: '/api/v1/configuration/properties/mode',
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      payload: { value: 'lenient', sensitive: false },
    });
    assert.ok(relaxed.statusCode < 300, relaxed.body);
    // Properties reach the sandbox processes within a moment.
    let status = 0;
    for (let i = 0; i < 100 && status !== 2000; i++) {
      status = (await backchannel(r.app, 'gate', 'eve')).json().status;
      if (status !== 2000) await sleep(20);
    }
    assert.equal(status, 2000, 'live it now passes');

    const replay = await admin('POST', `/gate/recordings/${id}/replay`, {});
    assert.equal(replay.statusCode, 200, replay.body);
    assert.equal(replay.json().same, true, replay.body);
    assert.equal(replay.json().replayed.status, 5001);
    assert.equal(await cache.get('limit-eve'), null, 'the real CACHE is untouched');

    const made = await admin('POST', `/gate/recordings/${id}/test-case`, {});
    assert.equal(made.statusCode, 201, made.body);
    assert.deepEqual(made.json().case.input.cache, { 'limit-eve': { blocked: true } });
    assert.deepEqual(made.json().case.input.properties, { mode: 'strict' });
    const run = await admin('POST', '/gate/scripts/backchannel/tests/run', {});
    assert.equal(run.json().passed, 1, run.body);
  });

  test('executions of an IdP without a record policy report no reads (nothing extra on the hot path)', async () => {
    const outcome = await r.deps.engine.execute({
      idpId: 'gate',
      kind: 'backchannel',
      script: { version: 1, source: GATE, sha256: 'x'.repeat(64), filename: 'gate.js' },
      limits: { cpu_time_ms: 1000, wall_time_ms: 10_000, memory_mb: 64 },
      args: ['eve', null, null, null],
      requestId: 'no-record',
    });
    assert.equal(outcome.ok, true);
    assert.equal(outcome.reads, undefined);
  });
});

describe('recordings keep outbound calls and their answers; replays answer from them', () => {
  let r: TestRegistrar;
  let upstream: Server;
  let origin = '';
  let hits = 0;
  before(async () => {
    upstream = createServer((req, res) => {
      hits++;
      res.end(req.url?.includes('mallory') ? 'bad' : 'good');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      identity_providers: [
        idp(
          'crm',
          {
            backchannel: `function execute(data) {
              var r = HTTP.request({ url: '${origin}/score?u=' + data });
              if (r.body === 'bad') return { status: 5002, responsePayload: 'refused ' + data };
              return { status: 2000, responsePayload: r.body };
            }`,
          },
          { http: { allow: [origin] }, record: { failures: true, sample_percent: 0 } },
        ),
      ],
    });
  });
  after(async () => {
    await r.close();
    upstream.close();
  });

  test('a failure caused by an upstream answer replays the same with the upstream gone, from the recording', async () => {
    const live = await backchannel(r.app, 'crm', 'mallory');
    assert.equal(live.json().status, 5002, live.body);
    const headers = { authorization: basic(ADMIN.client_id, ADMIN.client_secret) };
    let items: Array<{ id: number }> = [];
    for (let i = 0; i < 100 && items.length === 0; i++) {
      items = (await r.app.inject({ method: 'GET', url: `${BASE}/crm/recordings`, headers })).json().items;
      if (items.length === 0) await sleep(20);
    }
    const id = items[0]?.id;
    assert.ok(id, 'the failure was recorded');
    const view = (await r.app.inject({ method: 'GET', url: `${BASE}/crm/recordings/${id}`, headers })).json();
    assert.equal(view.reads.http.length, 1);
    assert.equal(view.reads.http[0].url, `${origin}/score?u=mallory`);
    assert.equal(view.reads.http[0].result.response.body, 'bad');

    upstream.close();
    const before = hits;
    const replay = await r.app.inject({
      method: 'POST',
      url: `${BASE}/crm/recordings/${id}/replay`,
      headers,
      payload: {},
    });
    assert.equal(replay.statusCode, 200, replay.body);
    assert.equal(replay.json().same, true, replay.body);
    assert.equal(replay.json().replayed.status, 5002);
    assert.deepEqual(
      replay.json().report.outbound.map((c: { url: string; status: number }) => [c.url, c.status]),
      [[`${origin}/score`, 200]],
    );
    assert.equal(hits, before, 'the network was never touched');
    // A draft that calls elsewhere gets no answer from the recording.
    const other = await r.app.inject({
      method: 'POST',
      url: `${BASE}/crm/recordings/${id}/replay`,
      headers,
      payload: {
        source: `function execute() { try { HTTP.request({ url: '${origin}/other' }); return { status: 2000 }; } catch (e) { return { status: 5003, responsePayload: String(e.message) }; } }`,
      },
    });
    assert.equal(other.json().replayed.status, 5003, other.body);
    assert.match(other.json().replayed.response_payload, /no answer/);
  });
});
