import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const BASE = '/api/v1/configuration/identity-providers';
const ADMIN = { client_id: 'ops', client_secret: 'ops-secret' } as const;
const SECRET = 's3cr3t-value';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A backchannel script answering `status` with `payload`. */
const answer = (status: number, payload: string) =>
  `function execute() { return { status: ${status}, responsePayload: "${payload}" }; }`;
const COMPLETE = 'function execute() { return { status: 2000, user: { id: "u" } }; }';
/** Does not compile: `;` on line 3 is at column 11 (`  var b = ;`). */
const BROKEN = 'function execute() {\n  var a = 1;\n  var b = ;\n  return { status: 2000 };\n}';

type Res = Awaited<ReturnType<TestRegistrar['app']['inject']>>;

describe('admin API: identity providers and their scripts', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      identity_providers: [idp('from-file', { backchannel: answer(2100, 'file') }), idp('in-use', {})],
      applications: [{ client_id: 'app', client_secret: 'app-secret', identity_providers: ['in-use'] }],
      properties: [
        { id: 'api_key', value: SECRET, sensitive: true },
        { id: 'pin', value: '4711', sensitive: true },
      ],
    });
  });
  after(() => r.close());

  const admin = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    r.app.inject({
      method,
      url: `${BASE}${url}`,
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      ...(payload === undefined ? {} : { payload }),
    });
  const expectError = (res: Res, status: number, error: string) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error, error, res.body);
  };
  /** Creates a one_step IdP through the API with a complete script and the given backchannel. */
  const create = async (id: string, backchannelSource?: string, extra: object = {}) => {
    const scripts = {
      complete: { source: COMPLETE },
      ...(backchannelSource ? { backchannel: { source: backchannelSource } } : {}),
    };
    const res = await admin('POST', '', { id, scripts, ...extra });
    assert.equal(res.statusCode, 201, res.body);
    return res.json();
  };
  const save = (id: string, kind: string, source: string) =>
    admin('PUT', `/${id}/scripts/${kind}`, { source });
  const versions = async (id: string, kind = 'backchannel') => {
    const res = await admin('GET', `/${id}/scripts/${kind}/versions`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json().items as Array<{
      version: number;
      active: boolean;
      created_at: string;
      sha256: string;
    }>;
  };
  /** The version history, newest first, the active one starred: `'2* 1'`. */
  const history = async (id: string, kind = 'backchannel') =>
    (await versions(id, kind)).map((v) => `${v.version}${v.active ? '*' : ''}`).join(' ');
  const fieldsOf = (res: Res) => res.json().details.map((d: { field: string }) => d.field);
  /** The backchannel's answer: `[status, data]`. */
  const call = async (id: string, data?: string) => {
    const res = await backchannel(r.app, id, data);
    assert.equal(res.statusCode, 200, res.body);
    return [res.json().status, res.json().data];
  };
  const dryRun = (id: string, kind: string, body: object) =>
    admin('POST', `/${id}/scripts/${kind}/test`, body);
  const audits = (id: string) =>
    r.logs.lines
      .map((line) => line.audit as Record<string, unknown> | undefined)
      .filter((audit): audit is Record<string, unknown> => audit?.event === 'configuration_change')
      .filter((audit) => audit.id === id);

  describe('identity provider CRUD', () => {
    test('creating an IdP answers 201 with its Location and a view without sources, each script at version 1', async () => {
      const res = await admin('POST', '', {
        id: 'crud-create',
        name: 'Created',
        scripts: { complete: { source: COMPLETE }, backchannel: { source: answer(2000, 'x') } },
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers.location, `${BASE}/crud-create`);
      assert.ok(!res.body.includes('source'), 'the view holds no script source');
      const body = res.json();
      assert.deepEqual(
        { ...body, scripts: undefined },
        {
          id: 'crud-create',
          name: 'Created',
          flow: 'one_step',
          enabled: true,
          limits: {},
          scripts: undefined,
        },
      );
      assert.deepEqual(Object.keys(body.scripts).sort(), ['backchannel', 'complete']);
      assert.equal(body.scripts.complete.version, 1);
      assert.equal(body.scripts.backchannel.version, 1);
      assert.equal(body.scripts.backchannel.filename, 'crud-create/backchannel.js');
      assert.match(body.scripts.backchannel.sha256, /^[0-9a-f]{64}$/);
    });

    test('reading an IdP answers the view it was created with', async () => {
      const created = await create('crud-read', answer(2000, 'x'), { name: 'Read me' });
      const res = await admin('GET', '/crud-read');
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), created);
    });

    test('the list is paged by limit and cursor; next_cursor is null on the last page', async () => {
      await create('crud-page-1');
      await create('crud-page-2');
      const all = await admin('GET', '?limit=200');
      const allIds = all.json().items.map((item: { id: string }) => item.id);
      assert.equal(all.json().next_cursor, null);
      assert.ok(allIds.includes('crud-page-1') && allIds.includes('from-file'), 'API and file IdPs listed');
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        const page = await admin('GET', `?limit=1${query}`);
        assert.equal(page.statusCode, 200, page.body);
        assert.equal(page.json().items.length, 1);
        seen.push(page.json().items[0].id);
        cursor = page.json().next_cursor;
        assert.ok(seen.length <= allIds.length, 'paging ends');
      } while (cursor !== null);
      assert.deepEqual(seen, allIds);
    });

    test('PUT replaces the fields; scripts not named keep their version', async () => {
      await create('crud-put', answer(2000, 'x'), { name: 'Old', limits: { cpu_time_ms: 300 } });
      const res = await admin('PUT', '/crud-put', {
        enabled: false,
        limits: { wall_time_ms: 2000 },
        scripts: { backchannel: { source: answer(2001, 'y') } },
      });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.name, null, 'a field left out of a replace takes its default');
      assert.equal(body.enabled, false);
      assert.deepEqual(body.limits, { wall_time_ms: 2000 });
      assert.equal(body.scripts.backchannel.version, 2);
      assert.equal(body.scripts.complete.version, 1);
      assert.deepEqual((await admin('GET', '/crud-put')).json(), body);
    });

    test('PATCH changes only the given fields', async () => {
      const created = await create('crud-patch', answer(2000, 'x'), {
        name: 'Kept',
        limits: { cpu_time_ms: 300 },
      });
      const res = await admin('PATCH', '/crud-patch', { enabled: false });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { ...created, enabled: false });
    });

    test('DELETE answers 204, then the IdP is not found', async () => {
      await create('crud-delete');
      const res = await admin('DELETE', '/crud-delete');
      assert.equal(res.statusCode, 204, res.body);
      assert.equal(res.body, '');
      expectError(await admin('GET', '/crud-delete'), 404, 'not_found');
      expectError(await admin('DELETE', '/crud-delete'), 404, 'not_found');
    });

    test('creating an IdP with an existing id answers 409 conflict', async () => {
      await create('crud-twice');
      const res = await admin('POST', '', { id: 'crud-twice', scripts: { complete: { source: COMPLETE } } });
      expectError(res, 409, 'conflict');
      expectError(
        await admin('POST', '', { id: 'from-file', scripts: { complete: { source: COMPLETE } } }),
        409,
        'conflict',
      );
    });

    test('an unknown IdP answers 404 not_found on read, replace, patch and delete', async () => {
      expectError(await admin('GET', '/nope'), 404, 'not_found');
      const replace = { scripts: { complete: { source: COMPLETE } } };
      expectError(await admin('PUT', '/nope', replace), 404, 'not_found');
      expectError(await admin('PATCH', '/nope', { enabled: false }), 404, 'not_found');
      expectError(await admin('DELETE', '/nope'), 404, 'not_found');
    });

    test('a bad body answers 400 invalid_request naming each bad field', async () => {
      const res = await admin('POST', '', {
        id: 'crud-bad',
        colour: 'red',
        flow: 'three_step',
        limits: { cpu_time_ms: 0, memory_mb: 1 },
        scripts: { complete: { source: COMPLETE } },
      });
      expectError(res, 400, 'invalid_request');
      assert.deepEqual(fieldsOf(res).sort(), ['colour', 'flow', 'limits.cpu_time_ms', 'limits.memory_mb']);
      expectError(await admin('GET', '/crud-bad'), 404, 'not_found');
    });

    test('a two_step IdP without an init script answers 400 naming scripts.init', async () => {
      const res = await admin('POST', '', {
        id: 'flow-two',
        flow: 'two_step',
        scripts: { complete: { source: COMPLETE } },
      });
      expectError(res, 400, 'invalid_request');
      assert.deepEqual(fieldsOf(res), ['scripts.init']);
      expectError(await admin('GET', '/flow-two'), 404, 'not_found');
    });

    test('a one_step IdP with an init script answers 400 naming scripts.init', async () => {
      const res = await admin('POST', '', {
        id: 'flow-one',
        flow: 'one_step',
        scripts: { complete: { source: COMPLETE }, init: { source: answer(2000, 'i') } },
      });
      expectError(res, 400, 'invalid_request');
      assert.deepEqual(fieldsOf(res), ['scripts.init']);
      expectError(await admin('GET', '/flow-one'), 404, 'not_found');
    });

    test('deleting an IdP an application uses answers 409 and the IdP stays', async () => {
      const res = await admin('DELETE', '/in-use');
      expectError(res, 409, 'conflict');
      assert.match(res.json().error_description, /app/);
      assert.equal((await admin('GET', '/in-use')).statusCode, 200);
    });
  });

  describe('compile errors', () => {
    test('creating an IdP with a script that does not compile answers 400 with its line and column', async () => {
      const res = await admin('POST', '', {
        id: 'broken-create',
        scripts: { complete: { source: COMPLETE }, backchannel: { source: BROKEN } },
      });
      expectError(res, 400, 'invalid_request');
      const [problem] = res.json().details;
      assert.equal(problem.field, 'scripts.backchannel');
      assert.equal(problem.line, 3);
      assert.equal(problem.column, 11);
      expectError(await admin('GET', '/broken-create'), 404, 'not_found');
    });

    test('saving a script that does not compile answers 400 with its line and column and changes nothing', async () => {
      await create('broken-save', answer(2001, 'v1'));
      const before = await versions('broken-save');
      const res = await save('broken-save', 'backchannel', BROKEN);
      expectError(res, 400, 'invalid_request');
      const [problem] = res.json().details;
      assert.deepEqual([problem.field, problem.line, problem.column], ['source', 3, 11]);
      const viaIdp = await admin('PUT', '/broken-save', {
        name: 'changed?',
        scripts: { backchannel: { source: BROKEN } },
      });
      expectError(viaIdp, 400, 'invalid_request');
      assert.deepEqual([viaIdp.json().details[0].line, viaIdp.json().details[0].column], [3, 11]);
      assert.deepEqual(await versions('broken-save'), before);
      assert.equal((await admin('GET', '/broken-save')).json().name, null);
      assert.deepEqual(await call('broken-save'), [2001, 'v1']);
    });
  });

  describe('script versions', () => {
    test('saving a new source answers 201 with the version’s Location, and the backchannel runs it at once', async () => {
      await create('ver-save', answer(2001, 'v1'));
      assert.deepEqual(await call('ver-save'), [2001, 'v1']);
      const res = await save('ver-save', 'backchannel', answer(2002, 'v2'));
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers.location, `${BASE}/ver-save/scripts/backchannel/versions/2`);
      assert.equal(res.json().version, 2);
      assert.equal(res.json().source, answer(2002, 'v2'));
      assert.deepEqual(await call('ver-save'), [2002, 'v2']);
    });

    test('saving the active source again answers 200 and creates no version', async () => {
      await create('ver-same', answer(2001, 'v1'));
      const res = await save('ver-same', 'backchannel', answer(2001, 'v1'));
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers.location, undefined);
      assert.equal(res.json().version, 1);
      assert.equal(await history('ver-same'), '1*');
    });

    test('versions are listed newest first with active flags and ISO created_at, paged', async () => {
      await create('ver-list', answer(2001, 'v1'));
      await save('ver-list', 'backchannel', answer(2002, 'v2'));
      await save('ver-list', 'backchannel', answer(2003, 'v3'));
      const items = await versions('ver-list');
      assert.equal(await history('ver-list'), '3* 2 1');
      for (const item of items) {
        assert.match(item.created_at, ISO);
        assert.equal(new Date(item.created_at).toISOString(), item.created_at);
        assert.ok(!('source' in item), 'the list holds no source');
      }
      const first = await admin('GET', '/ver-list/scripts/backchannel/versions?limit=2');
      assert.deepEqual(
        first.json().items.map((v: { version: number }) => v.version),
        [3, 2],
      );
      assert.equal(typeof first.json().next_cursor, 'string');
      const cursor = encodeURIComponent(first.json().next_cursor);
      const last = await admin('GET', `/ver-list/scripts/backchannel/versions?limit=2&cursor=${cursor}`);
      assert.deepEqual(
        last.json().items.map((v: { version: number }) => v.version),
        [1],
      );
      assert.equal(last.json().next_cursor, null);
      const bad = await admin('GET', '/ver-list/scripts/backchannel/versions?cursor=abc');
      expectError(bad, 400, 'invalid_request');
      assert.equal(bad.json().details[0].field, 'cursor');
    });

    test('one version is read with its source', async () => {
      await create('ver-read', answer(2001, 'v1'));
      await save('ver-read', 'backchannel', answer(2002, 'v2'));
      const res = await admin('GET', '/ver-read/scripts/backchannel/versions/1');
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.source, answer(2001, 'v1'));
      assert.equal(body.version, 1);
      assert.equal(body.active, false);
      assert.match(body.created_at, ISO);
      expectError(await admin('GET', '/ver-read/scripts/backchannel/versions/9'), 404, 'not_found');
    });

    test('activating version 1 rolls back: the backchannel runs it and the IdP view shows it', async () => {
      await create('ver-rollback', answer(2001, 'v1'));
      await save('ver-rollback', 'backchannel', answer(2002, 'v2'));
      assert.deepEqual(await call('ver-rollback'), [2002, 'v2']);
      const res = await admin('POST', '/ver-rollback/scripts/backchannel/versions/1/activate');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().version, 1);
      assert.equal(res.json().active, true);
      assert.deepEqual(await call('ver-rollback'), [2001, 'v1']);
      assert.equal((await admin('GET', '/ver-rollback')).json().scripts.backchannel.version, 1);
      assert.equal(await history('ver-rollback'), '2 1*');
    });

    test('a save after a rollback creates version 3; numbers are never reused', async () => {
      await create('ver-after', answer(2001, 'v1'));
      await save('ver-after', 'backchannel', answer(2002, 'v2'));
      await admin('POST', '/ver-after/scripts/backchannel/versions/1/activate');
      const res = await save('ver-after', 'backchannel', answer(2003, 'v3'));
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().version, 3);
      assert.equal(res.headers.location, `${BASE}/ver-after/scripts/backchannel/versions/3`);
      assert.deepEqual(await call('ver-after'), [2003, 'v3']);
    });

    test('activating an unknown version answers 404', async () => {
      await create('ver-unknown', answer(2001, 'v1'));
      expectError(
        await admin('POST', '/ver-unknown/scripts/backchannel/versions/2/activate'),
        404,
        'not_found',
      );
      expectError(
        await admin('POST', '/ver-unknown/scripts/backchannel/versions/0/activate'),
        404,
        'not_found',
      );
      assert.deepEqual(await call('ver-unknown'), [2001, 'v1']);
    });

    test('an unknown script kind in the path answers 404', async () => {
      await create('ver-kind', answer(2001, 'v1'));
      expectError(await admin('GET', '/ver-kind/scripts/nope'), 404, 'not_found');
      expectError(await save('ver-kind', 'nope', answer(2000, 'x')), 404, 'not_found');
      expectError(await admin('GET', '/ver-kind/scripts/nope/versions'), 404, 'not_found');
      expectError(await dryRun('ver-kind', 'nope', {}), 404, 'not_found');
    });

    test('removing the backchannel script answers 204; the backchannel endpoint then answers 500', async () => {
      await create('ver-remove', answer(2001, 'v1'));
      const res = await admin('DELETE', '/ver-remove/scripts/backchannel');
      assert.equal(res.statusCode, 204, res.body);
      const failed = await backchannel(r.app, 'ver-remove');
      expectError(failed, 500, 'internal_server_error');
      assert.equal((await admin('GET', '/ver-remove')).json().scripts.backchannel, undefined);
      expectError(await admin('GET', '/ver-remove/scripts/backchannel'), 404, 'not_found');
      assert.equal(await history('ver-remove'), '1', 'the versions are kept, none active');
    });

    test('the complete script cannot be removed (409)', async () => {
      await create('ver-complete');
      expectError(await admin('DELETE', '/ver-complete/scripts/complete'), 409, 'conflict');
      assert.equal((await admin('GET', '/ver-complete')).json().scripts.complete.version, 1);
    });

    test('an init script cannot be saved on a one_step IdP (409)', async () => {
      await create('ver-init');
      expectError(await save('ver-init', 'init', answer(2000, 'i')), 409, 'conflict');
      assert.deepEqual(await versions('ver-init', 'init'), []);
    });
  });

  test('an IdP from the config file is at version 1 in the API, and an API save adds version 2 beside it', async () => {
    const view = (await admin('GET', '/from-file')).json();
    assert.equal(view.scripts.backchannel.version, 1);
    assert.equal(view.scripts.complete.version, 1);
    const source = await admin('GET', '/from-file/scripts/backchannel');
    assert.equal(source.json().source, answer(2100, 'file'));
    assert.equal((await save('from-file', 'backchannel', answer(2101, 'api'))).statusCode, 201);
    assert.equal(await history('from-file'), '2* 1');
    assert.deepEqual(await call('from-file'), [2101, 'api']);
  });

  describe('dry runs', () => {
    before(async () => {
      await create('dry', answer(2001, 'v1'));
      await create('dry-slow', answer(2001, 'v1'), { limits: { cpu_time_ms: 50 } });
      await create(
        'dry-cache',
        `function execute(data) {
          if (data === "store") { CACHE.store("iso-K", "real-value"); return { status: 2000 }; }
          return { status: 2000, responsePayload: JSON.stringify(CACHE.fetch(data)) };
        }`,
      );
    });

    test('a draft runs without being saved', async () => {
      const res = await dryRun('dry', 'backchannel', { source: answer(2002, 'draft') });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 2002);
      assert.equal(res.json().response_payload, 'draft');
      assert.equal(await history('dry'), '1*');
      assert.deepEqual(await call('dry'), [2001, 'v1']);
    });

    test('without a source the active version runs', async () => {
      const res = await dryRun('dry', 'backchannel', {});
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 2001);
      assert.equal(res.json().response_payload, 'v1');
    });

    test('the report has status, payload, user, logs with {} filled in, CPU and wall time and the cache', async () => {
      const source = `function execute(identifier) {
        LOG.info("hello {} number {}", identifier, 42);
        return { status: 2000, responsePayload: "p", user: { id: identifier } };
      }`;
      const res = await dryRun('dry', 'complete', { source, data: 'u-7' });
      assert.equal(res.statusCode, 200, res.body);
      const report = res.json();
      assert.equal(report.status, 2000);
      assert.equal(report.response_payload, 'p');
      assert.deepEqual(report.user, { id: 'u-7' });
      assert.deepEqual(report.logs, [{ level: 'info', message: 'hello u-7 number 42' }]);
      assert.equal(typeof report.cpu_ms, 'number');
      assert.equal(typeof report.wall_ms, 'number');
      assert.deepEqual(report.cache, {});
      assert.equal(report.error, undefined);
    });

    test('a seeded cache is visible to CACHE.fetch', async () => {
      const source =
        'function execute() { return { status: 2000, responsePayload: JSON.stringify(CACHE.fetch("seed")) }; }';
      const res = await dryRun('dry', 'backchannel', { source, cache: { seed: { a: [1, 'x'] } } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().response_payload, '{"a":[1,"x"]}');
      assert.deepEqual(res.json().cache, { seed: { a: [1, 'x'] } });
    });

    test('a dry run never changes the real CACHE: its deletes and stores show only in its report', async () => {
      assert.equal((await backchannel(r.app, 'dry-cache', 'store')).statusCode, 200);
      assert.deepEqual(await call('dry-cache', 'iso-K'), [2000, '"real-value"']);
      const source = `function execute() {
        var had = CACHE.delete("iso-K");
        CACHE.store("iso-K2", "scratch");
        return { status: 2000, responsePayload: String(had) };
      }`;
      const res = await dryRun('dry-cache', 'backchannel', { source });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().response_payload, 'false', 'the real CACHE is not read');
      assert.deepEqual(res.json().cache, { 'iso-K2': 'scratch' });
      assert.deepEqual(await call('dry-cache', 'iso-K'), [2000, '"real-value"']);
      assert.deepEqual(await call('dry-cache', 'iso-K2'), [2000, 'null']);
    });

    test('a draft that throws reports an exception with its line, with HTTP 200', async () => {
      const source = 'function execute() {\n  LOG.info("about to fail");\n  throw new Error("boom");\n}';
      const res = await dryRun('dry', 'backchannel', { source });
      assert.equal(res.statusCode, 200, res.body);
      const report = res.json();
      assert.equal(report.status, null);
      assert.equal(report.error.kind, 'exception');
      assert.equal(report.error.line, 3);
      assert.match(report.error.message, /boom/);
      assert.deepEqual(report.logs, [{ level: 'info', message: 'about to fail' }]);
    });

    test('a runaway draft under cpu_time_ms 50 reports cpu_timeout', async () => {
      const res = await dryRun('dry-slow', 'backchannel', { source: 'function execute() { for (;;) {} }' });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, null);
      assert.equal(res.json().error.kind, 'cpu_timeout');
    });

    test('a draft with a syntax error answers 400 with line and column', async () => {
      const res = await dryRun('dry', 'backchannel', { source: BROKEN });
      expectError(res, 400, 'invalid_request');
      assert.deepEqual([res.json().details[0].line, res.json().details[0].column], [3, 11]);
    });

    test('a sensitive property a draft logs is masked in the report', async () => {
      const source = `function execute() {
        LOG.info("key {}", PROPERTIES.get("api_key"));
        LOG.warn("again " + PROPERTIES.get("api_key"));
        return { status: 2000 };
      }`;
      const res = await dryRun('dry', 'backchannel', { source });
      assert.equal(res.statusCode, 200, res.body);
      assert.ok(!res.body.includes(SECRET), 'the secret value never appears in the report');
      assert.deepEqual(
        res.json().logs.map((l: { message: string }) => l.message),
        ['key ********', 'again ********'],
      );
    });

    test('a sensitive property a draft returns, stores or puts in the user is masked everywhere in the report', async () => {
      const source = `function execute() {
        var key = PROPERTIES.get("api_key");
        CACHE.store("k", { nested: [key] });
        CACHE.store(key, "as a key");
        return { status: 2000, responsePayload: "x" + key, registrationData: key, user: { id: key } };
      }`;
      const res = await dryRun('dry', 'backchannel', { source });
      assert.equal(res.statusCode, 200, res.body);
      assert.ok(!res.body.includes(SECRET), res.body);
      const report = res.json();
      assert.equal(report.response_payload, 'x********');
      assert.equal(report.registration_data, '********');
      assert.deepEqual(report.user, { id: '********' });
      assert.deepEqual(report.cache, { k: { nested: ['********'] }, '********': 'as a key' });
    });

    test('a cached number whose digits contain a sensitive value is reported as its masked text', async () => {
      const source = 'function execute() { CACHE.store("n", 947110); return { status: 2000 }; }';
      const res = await dryRun('dry', 'backchannel', { source });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json().cache, { n: '9********0' });
    });

    test('property overrides: named properties read the given values in that run only', async () => {
      const source = `function execute() {
        return { status: 2000, responsePayload: PROPERTIES.get("region") + "/" + PROPERTIES.get("api_key") };
      }`;
      const res = await dryRun('dry', 'backchannel', { source, properties: { region: 'eu-test' } });
      assert.equal(res.statusCode, 200, res.body);
      // Not overridden: the installation's (sensitive, so masked) value.
      assert.equal(res.json().response_payload, 'eu-test/********');
      const overridden = await dryRun('dry', 'backchannel', { source, properties: { api_key: 'test-key' } });
      assert.equal(overridden.json().response_payload, 'null/test-key');
      // The next run without overrides sees none of them.
      const plain = await dryRun('dry', 'backchannel', { source });
      assert.equal(plain.json().response_payload, 'null/********');
      expectError(
        await dryRun('dry', 'backchannel', { source, properties: { region: 7 } }),
        400,
        'invalid_request',
      );
    });

    test('a dry run of a kind with no active script and no source answers 404', async () => {
      await create('dry-none');
      expectError(await dryRun('dry-none', 'backchannel', {}), 404, 'not_found');
    });
  });

  describe('audit', () => {
    test('saving a version writes one configuration_change event without the source', async () => {
      await create('audit-save', answer(2001, 'audit-v1'));
      await save('audit-save', 'backchannel', answer(2002, 'audit-v2'));
      const [v2, v1] = await versions('audit-save');
      const events = audits('audit-save/backchannel');
      assert.equal(events.length, 1);
      const [event] = events;
      assert.ok(event, 'an audit event');
      assert.equal(event.client_id, ADMIN.client_id);
      assert.equal(event.resource, 'script');
      assert.equal(event.action, 'save_version');
      assert.deepEqual(event.before, { version: 1, sha256: v1?.sha256 });
      assert.deepEqual(event.after, { version: 2, sha256: v2?.sha256 });
      assert.ok(!JSON.stringify(event).includes('audit-v2'), 'the event holds no source');
    });

    test('activating a version writes one configuration_change event without the source', async () => {
      await create('audit-activate', answer(2001, 'audit-v1'));
      await save('audit-activate', 'backchannel', answer(2002, 'audit-v2'));
      await admin('POST', '/audit-activate/scripts/backchannel/versions/1/activate');
      const events = audits('audit-activate/backchannel').filter((e) => e.action === 'activate_version');
      assert.equal(events.length, 1);
      const [event] = events;
      assert.ok(event, 'an audit event');
      assert.equal(event.client_id, ADMIN.client_id);
      assert.equal(event.resource, 'script');
      assert.equal((event.before as { version: number }).version, 2);
      assert.equal((event.after as { version: number }).version, 1);
      assert.ok(!JSON.stringify(event).includes('audit-v'), 'the event holds no source');
    });
  });

  describe('authentication', () => {
    test('no credentials answer 400 invalid_client', async () => {
      const res = await r.app.inject({ method: 'GET', url: BASE });
      expectError(res, 400, 'invalid_client');
    });

    test('a client without the admin scope gets 403 insufficient_permissions', async () => {
      const res = await r.app.inject({
        method: 'GET',
        url: BASE,
        headers: { authorization: basic(PORTAL.client_id, PORTAL.client_secret) },
      });
      expectError(res, 403, 'insufficient_permissions');
    });
  });
});
