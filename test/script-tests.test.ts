import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const BASE = '/api/v1/configuration/identity-providers';
const ADMIN = { client_id: 'ops', client_secret: 'ops-secret' } as const;

/** Echoes `data` back as `hello <data>` with status 2000, logs it, stores it in the CACHE. */
const GOOD = `function execute(data) {
  LOG.info("greeting {}", data);
  CACHE.store("last", data);
  return { status: 2000, responsePayload: "hello " + data };
}`;
/** The same, but a bug: status 5000 and another payload for "bob". */
const BAD = `function execute(data) {
  LOG.warn("oops {}", data);
  if (data === "bob") return { status: 5000, responsePayload: "nope" };
  CACHE.store("last", data);
  return { status: 2000, responsePayload: "hello " + data };
}`;
const THROWS = 'function execute(data) { throw new Error("boom " + data); }';

const CASES = [
  {
    name: 'alice is greeted',
    input: { data: 'alice' },
    expect: {
      status: 2000,
      payload: 'hello alice',
      cache: { last: 'alice', other: null },
      logs: ['greeting alice', { level: 'info', matches: '^greeting' }],
    },
  },
  {
    name: 'bob is greeted',
    input: { data: 'bob', cache: { other: 1 } },
    expect: { status: '2xxx', payload: { matches: '^hello b' }, user: null, cache: { other: 1 } },
  },
];

type Res = Awaited<ReturnType<TestRegistrar['app']['inject']>>;

describe('stored script tests and the activation gate', () => {
  let r: TestRegistrar;
  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      identity_providers: [idp('gated', { backchannel: GOOD }), idp('plain', { backchannel: GOOD })],
    });
  });
  after(() => r.close());

  const admin = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    r.app.inject({
      method,
      url: url.startsWith('/api/') ? url : `${BASE}${url}`,
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      ...(payload === undefined ? {} : { payload }),
    });
  const expectError = (res: Res, status: number, error: string) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error, error, res.body);
  };
  const greeting = async (id: string, data: string) => {
    const res = await backchannel(r.app, id, data);
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  const history = async (id: string) => {
    const res = await admin('GET', `/${id}/scripts/backchannel/versions`);
    return res
      .json()
      .items.map((v: { version: number; active: boolean }) => `${v.version}${v.active ? '*' : ''}`)
      .join(' ');
  };
  const lastAudit = async (id: string) => {
    const res = await admin('GET', `/api/v1/audit-events?resource=script&resource_id=${id}/backchannel`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json().items[0];
  };

  test('a script without stored cases lists none and saves as before', async () => {
    const res = await admin('GET', '/plain/scripts/backchannel/tests');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { cases: [] });
    const saved = await admin('PUT', '/plain/scripts/backchannel', { source: BAD });
    assert.equal(saved.statusCode, 201, saved.body);
    assert.equal(await history('plain'), '2* 1');
  });

  test('the list is replaced whole, read back, and audited by case names', async () => {
    const put = await admin('PUT', '/gated/scripts/backchannel/tests', { cases: CASES });
    assert.equal(put.statusCode, 200, put.body);
    const got = await admin('GET', '/gated/scripts/backchannel/tests');
    assert.equal(got.json().cases.length, 2);
    assert.equal(got.json().cases[0].name, 'alice is greeted');
    assert.deepEqual(got.json().cases[1].input, CASES[1]?.input);
    const event = await lastAudit('gated');
    assert.equal(event.action, 'replace_tests');
    assert.deepEqual(event.after, { cases: ['alice is greeted', 'bob is greeted'] });
  });

  test('bad lists are invalid_request naming the field; unknown IdPs and kinds are not_found', async () => {
    const bad = async (cases: unknown, field: string) => {
      const res = await admin('PUT', '/gated/scripts/backchannel/tests', { cases: cases as object });
      expectError(res, 400, 'invalid_request');
      assert.ok(
        res.json().details.some((d: { field: string }) => d.field === field),
        `${field} in ${res.body}`,
      );
    };
    await bad(
      [
        { name: 'a', expect: {} },
        { name: 'a', expect: {} },
      ],
      'cases[1].name',
    );
    await bad([{ name: 'a', expect: { payload: { matches: '(' } } }], 'cases[0].expect.payload.matches');
    await bad([{ name: 'a', expect: { status: '3xxx' } }], 'cases[0].expect.status');
    await bad([{ name: 'a', expect: {}, extra: 1 }], 'cases[0].extra');
    await bad([{ name: '', expect: {} }], 'cases[0].name');
    await bad([{ name: 'a', input: { data: 5 }, expect: {} }], 'cases[0].input.data');
    expectError(await admin('GET', '/nope/scripts/backchannel/tests'), 404, 'not_found');
    expectError(await admin('GET', '/gated/scripts/other/tests'), 404, 'not_found');
    expectError(await admin('PUT', '/nope/scripts/backchannel/tests', { cases: [] }), 404, 'not_found');
    const stillTwo = await admin('GET', '/gated/scripts/backchannel/tests');
    assert.equal(stillTwo.json().cases.length, 2);
  });

  test('run: the active version passes; a draft fails with expected, got and logs per check', async () => {
    const active = await admin('POST', '/gated/scripts/backchannel/tests/run', {});
    assert.equal(active.statusCode, 200, active.body);
    assert.deepEqual(active.json().target, { kind: 'active', version: 1 });
    assert.equal(active.json().passed, 2, active.body);
    assert.equal(active.json().failed, 0);

    const draft = await admin('POST', '/gated/scripts/backchannel/tests/run', { source: BAD });
    const body = draft.json();
    assert.deepEqual(body.target, { kind: 'draft', version: null });
    assert.equal(body.passed, 0, draft.body);
    assert.equal(body.failed, 2);
    const bob = body.results.find((c: { name: string }) => c.name === 'bob is greeted');
    assert.equal(bob.passed, false);
    assert.deepEqual(
      bob.failures.map((f: { check: string }) => f.check),
      ['status', 'payload'],
    );
    assert.deepEqual(bob.failures[0], { check: 'status', expected: '2xxx', got: 5000 });
    assert.deepEqual(bob.logs, [{ level: 'warn', message: 'oops bob' }]);
    // alice's run expected an info line the draft does not write.
    const alice = body.results.find((c: { name: string }) => c.name === 'alice is greeted');
    assert.equal(alice.passed, false);
    assert.deepEqual(
      alice.failures.map((f: { check: string }) => f.check),
      ['logs[0]', 'logs[1]'],
    );

    const thrown = await admin('POST', '/gated/scripts/backchannel/tests/run', {
      source: THROWS,
      cases: [{ name: 'fails', expect: { status: 'error' } }],
    });
    assert.equal(thrown.json().passed, 1, thrown.body);
    assert.equal(thrown.json().results[0].error.kind, 'exception');

    // A case's property overrides reach that case's run only.
    const props = await admin('POST', '/gated/scripts/backchannel/tests/run', {
      source: 'function execute() { return { status: 2000, responsePayload: "" + PROPERTIES.get("tier") }; }',
      cases: [
        { name: 'gold', input: { properties: { tier: 'gold' } }, expect: { payload: 'gold' } },
        { name: 'none', expect: { payload: 'null' } },
      ],
    });
    assert.equal(props.json().passed, 2, props.body);

    const v1 = await admin('POST', '/gated/scripts/backchannel/tests/run', { version: 1 });
    assert.deepEqual(v1.json().target, { kind: 'version', version: 1 });
    expectError(
      await admin('POST', '/gated/scripts/backchannel/tests/run', { version: 99 }),
      404,
      'not_found',
    );
    expectError(
      await admin('POST', '/gated/scripts/backchannel/tests/run', { version: 1, source: GOOD }),
      400,
      'invalid_request',
    );
  });

  test('saving a version that fails its tests stores it inactive and answers script_tests_failed', async () => {
    const res = await admin('PUT', '/gated/scripts/backchannel', { source: BAD });
    expectError(res, 422, 'script_tests_failed');
    assert.match(res.json().error_description, /version 2 is stored but not activated: 2 of 2/);
    assert.equal(res.headers.location, `${BASE}/gated/scripts/backchannel/versions/2`);
    const details = res.json().details as Array<Record<string, unknown>>;
    const bobStatus = details.find((d) => d.case === 'bob is greeted' && d.check === 'status');
    assert.deepEqual(bobStatus?.expected, '2xxx');
    assert.equal(bobStatus?.got, 5000);
    assert.deepEqual(bobStatus?.logs, [{ level: 'warn', message: 'oops bob' }]);
    assert.equal(bobStatus?.field, 'tests.bob is greeted');
    assert.equal(await history('gated'), '2 1*');
    assert.deepEqual(await greeting('gated', 'bob'), { status: 2000, data: 'hello bob' });
    const event = await lastAudit('gated');
    assert.equal(event.action, 'save_version');
    assert.equal(event.after.version, 2);
    assert.equal(event.after.activated, false);
    assert.equal(event.after.forced, false);
    assert.deepEqual(event.after.tests, { passed: 0, failed: 2 });
  });

  test('activating the failing version is refused and changes nothing; force activates it, audited', async () => {
    const refused = await admin('POST', '/gated/scripts/backchannel/versions/2/activate');
    expectError(refused, 422, 'script_tests_failed');
    assert.match(refused.json().error_description, /version 2 was not activated/);
    assert.equal(await history('gated'), '2 1*');

    expectError(
      await admin('POST', '/gated/scripts/backchannel/versions/2/activate?force=yes'),
      400,
      'invalid_request',
    );
    const forcedRes = await admin('POST', '/gated/scripts/backchannel/versions/2/activate?force=true');
    assert.equal(forcedRes.statusCode, 200, forcedRes.body);
    assert.equal(await history('gated'), '2* 1');
    assert.deepEqual(await greeting('gated', 'bob'), { status: 5000, data: 'nope' });
    const event = await lastAudit('gated');
    assert.equal(event.action, 'activate_version');
    assert.equal(event.after.forced, true);
    assert.equal(event.after.activated, true);
    assert.ok(
      event.after.failures.some(
        (f: { case: string; check: string }) => f.case === 'bob is greeted' && f.check === 'status',
      ),
    );

    // Rolling back to the passing version goes through the gate and passes.
    const back = await admin('POST', '/gated/scripts/backchannel/versions/1/activate');
    assert.equal(back.statusCode, 200, back.body);
    assert.deepEqual((await lastAudit('gated')).after.tests, { passed: 2, failed: 0 });
  });

  test('a forced save activates a failing version at once, audited as forced', async () => {
    const res = await admin('PUT', '/gated/scripts/backchannel?force=true', {
      source: `${BAD}\n// forced`,
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().version, 3);
    assert.equal(await history('gated'), '3* 2 1');
    const event = await lastAudit('gated');
    assert.equal(event.after.forced, true);
    assert.equal(event.after.activated, true);
    assert.equal(event.after.failures.length > 0, true);
  });

  test('a passing save activates and records the test counts', async () => {
    const res = await admin('PUT', '/gated/scripts/backchannel', { source: `${GOOD}\n// v4` });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(await history('gated'), '4* 3 2 1');
    assert.deepEqual((await lastAudit('gated')).after, {
      version: 4,
      sha256: res.json().sha256,
      tests: { passed: 2, failed: 0 },
    });
  });

  test('an IdP write carrying a failing script changes nothing; force writes it', async () => {
    const patch = (query: string) =>
      r.app.inject({
        method: 'PATCH',
        url: `${BASE}/gated${query}`,
        headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
        payload: { name: 'renamed', scripts: { backchannel: { source: `${BAD}\n// patch` } } },
      });
    const refused = await patch('');
    expectError(refused, 422, 'script_tests_failed');
    assert.match(refused.json().error_description, /backchannel script was not saved and nothing changed/);
    assert.equal(await history('gated'), '4* 3 2 1');
    const idpNow = await admin('GET', '/gated');
    assert.equal(idpNow.json().name, null);
    const written = await patch('?force=true');
    assert.equal(written.statusCode, 200, written.body);
    assert.equal(await history('gated'), '5* 4 3 2 1');
    const events = await admin('GET', '/api/v1/audit-events?resource=identity_provider&resource_id=gated');
    const event = events.json().items[0];
    assert.equal(event.after.script_tests.backchannel.forced, true);
  });
});
