import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const BASE = '/api/v1/configuration/identity-providers';
const ADMIN = { client_id: 'ops', client_secret: 'ops-secret' } as const;

const ACTIVE = `function execute(data) {
  CACHE.store("real-" + data, "1");
  return { status: 2000, responsePayload: "hello " + data };
}`;
/** The draft: stores its own CACHE key, answers 5000 for user-3, and tries an outbound call for user-4. */
const DRAFT = `function execute(data) {
  CACHE.store("shadow-" + data, "x");
  if (data === "user-3") return { status: 5000, responsePayload: "nope" };
  if (data === "user-4") HTTP.request({ method: "GET", url: "http://127.0.0.1:9/" });
  return { status: 2000, responsePayload: "hello " + data };
}`;

type Res = Awaited<ReturnType<TestRegistrar['app']['inject']>>;

describe('shadow mode', () => {
  let r: TestRegistrar;
  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      identity_providers: [idp('sh', { backchannel: ACTIVE })],
    });
  });
  after(() => r.close());

  const admin = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
    r.app.inject({
      method,
      url: url.startsWith('/') && !url.startsWith('/sh') ? url : `${BASE}${url}`,
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      ...(payload === undefined ? {} : { payload }),
    });
  const expectError = (res: Res, status: number, error: string) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error, error, res.body);
  };
  const shadowView = async () => (await admin('GET', '/sh/scripts/backchannel/shadow')).json();

  test('?activate=false stores a draft version without activating it', async () => {
    const saved = await admin('PUT', '/sh/scripts/backchannel?activate=false', { source: DRAFT });
    assert.equal(saved.statusCode, 201, saved.body);
    assert.equal(saved.json().version, 2);
    const versions = (await admin('GET', '/sh/scripts/backchannel/versions')).json().items;
    assert.deepEqual(
      versions.map((v: { version: number; active: boolean }) => `${v.version}${v.active ? '*' : ''}`),
      ['2', '1*'],
    );
    expectError(
      await admin('PUT', '/sh/scripts/backchannel?activate=no', { source: DRAFT }),
      400,
      'invalid_request',
    );
  });

  test('bad shadows are refused', async () => {
    expectError(await admin('GET', '/sh/scripts/backchannel/shadow'), 404, 'not_found');
    expectError(await admin('PUT', '/sh/scripts/backchannel/shadow', { version: 1 }), 409, 'conflict');
    expectError(await admin('PUT', '/sh/scripts/backchannel/shadow', { version: 9 }), 404, 'not_found');
    expectError(
      await admin('PUT', '/sh/scripts/backchannel/shadow', { version: 2, percent: 0 }),
      400,
      'invalid_request',
    );
    expectError(await admin('DELETE', '/sh/scripts/backchannel/shadow'), 404, 'not_found');
  });

  test('the shadow reports where it differs; callers and the real CACHE never see it', async () => {
    const started = await admin('PUT', '/sh/scripts/backchannel/shadow', { version: 2 });
    assert.equal(started.statusCode, 200, started.body);
    assert.equal(started.json().percent, 100);
    for (let i = 0; i < 8; i++) {
      const res = await backchannel(r.app, 'sh', `user-${i}`);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { status: 2000, data: `hello user-${i}` });
      // One copy at a time, so none is skipped.
      for (let wait = 0; wait < 100; wait++) {
        const view = await shadowView();
        if (view.compared + view.skipped === i + 1) break;
        await sleep(20);
      }
    }
    const view = await shadowView();
    assert.equal(view.compared, 8, JSON.stringify(view));
    assert.equal(view.skipped, 0);
    assert.equal(view.same, 6);
    assert.equal(view.different, 2);
    const [first, second] = view.differences;
    assert.deepEqual(first.active, { version: 1, status: 2000, payload: 'hello user-3', error: null });
    assert.deepEqual(first.shadow, { version: 2, status: 5000, payload: 'nope', error: null });
    // No outbound calls in a shadow: the draft's HTTP.request failed.
    assert.deepEqual(second.shadow, { version: 2, status: null, payload: null, error: 'exception' });
    assert.match(second.request_id, /\S/);

    const cache = r.deps.storage.cache;
    assert.equal(await cache.get('shadow-user-1'), null);
    assert.notEqual(await cache.get('real-user-1'), null);

    const metrics = await r.app.inject({ url: '/metrics' });
    assert.match(
      metrics.body,
      /registrar_script_shadow_comparisons_total\{idp="sh",kind="backchannel",result="different"\} 2/,
    );
  });

  test('stopping the shadow ends the copies; both are audited', async () => {
    const stopped = await admin('DELETE', '/sh/scripts/backchannel/shadow');
    assert.equal(stopped.statusCode, 204, stopped.body);
    expectError(await admin('GET', '/sh/scripts/backchannel/shadow'), 404, 'not_found');
    const res = await backchannel(r.app, 'sh', 'user-3');
    assert.deepEqual(res.json(), { status: 2000, data: 'hello user-3' });
    const events = (
      await admin('GET', '/api/v1/audit-events?resource=script&resource_id=sh/backchannel')
    ).json().items as Array<{ action: string }>;
    assert.deepEqual(
      events.map((e) => e.action).filter((a) => a.endsWith('_shadow')),
      ['stop_shadow', 'start_shadow'],
    );
  });
});
