import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const URL_OF = (id: string) => `/oauth/api/v3/custom-registration/${id}/backchannel`;
const SECRET_PROPERTY_VALUE = 'sk_live_do-not-leak-4711';

const ECHO = `function execute(requestPayload, userIdentifier, registrationData, hookContextCustomParams) {
  return { status: 2000, responsePayload: JSON.stringify({
    payload: requestPayload, type: typeof requestPayload,
    rest: [userIdentifier, registrationData, hookContextCustomParams] }) };
}`;

describe('backchannel API (SPEC §2)', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { client_id: 'no-scope', client_secret: 'no-scope-secret', scopes: ['admin'] },
        { client_id: 'weird id:ä+%/', client_secret: 'p@ss:wörd +%&=/', scopes: ['user_registration'] },
      ],
      identity_providers: [
        idp('echo', { backchannel: ECHO }),
        idp('off', { backchannel: ECHO }, { enabled: false }),
        idp('no-backchannel', {}),
        idp('status', {
          backchannel: 'function execute(p) { return { status: Number(p), responsePayload: "s" + p }; }',
        }),
        idp('object-payload', {
          backchannel:
            'function execute() { return { status: 2000, responsePayload: { a: [1, "x"], b: null } }; }',
        }),
        idp('no-payload', { backchannel: 'function execute() { return { status: 2000 }; }' }),
        idp('null-payload', {
          backchannel: 'function execute() { return { status: 2000, responsePayload: null }; }',
        }),
        idp('throws', {
          backchannel: `function execute() {\n  var key = PROPERTIES.get("api_key");\n  throw new Error("upstream refused " + key);\n}`,
        }),
        idp('no-execute', { backchannel: 'function run() { return { status: 2000 }; }' }),
        idp('no-status', { backchannel: 'function execute() { return { responsePayload: "x" }; }' }),
        idp('string-status', { backchannel: 'function execute() { return { status: "2000" }; }' }),
        idp('float-status', { backchannel: 'function execute() { return { status: 2000.5 }; }' }),
        idp('returns-nothing', { backchannel: 'function execute() { }' }),
        idp('spins', { backchannel: 'function execute() { for (;;) {} }' }, { limits: { cpu_time_ms: 200 } }),
        idp(
          'sleeps',
          { backchannel: 'function execute() { for (;;) {} }' },
          { limits: { wall_time_ms: 300 } },
        ),
        idp('never-settles', {
          backchannel: 'async function execute() { await new Promise(function () {}); }',
        }),
        idp(
          'hogs-memory',
          {
            backchannel:
              'function execute() { var a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }',
          },
          { limits: { memory_mb: 16 } },
        ),
      ],
      properties: [{ id: 'api_key', value: SECRET_PROPERTY_VALUE, sensitive: true }],
    });
  });
  after(() => r.close());

  const noStore = (res: { headers: Record<string, unknown> }) => {
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers.pragma, 'no-cache');
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  };
  const expectError = (res: Awaited<ReturnType<typeof backchannel>>, status: number, error: string) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.headers['content-type'], 'application/json;charset=UTF-8');
    const body = res.json();
    assert.equal(body.error, error);
    assert.equal(typeof body.error_description, 'string');
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
    noStore(res);
  };

  describe('success', () => {
    test('answers 200 with status and data, exact headers', async () => {
      const res = await backchannel(r.app, 'echo', '{"custom_key":"custom_data"}');
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'application/json;charset=UTF-8');
      noStore(res);
      const body = res.json();
      assert.deepEqual(Object.keys(body), ['status', 'data']);
      assert.equal(body.status, 2000);
      assert.deepEqual(JSON.parse(body.data), {
        payload: '{"custom_key":"custom_data"}',
        type: 'string',
        rest: [null, null, null],
      });
    });

    test('passes data through byte for byte (unicode, escapes, whitespace)', async () => {
      const data = ' {"a":"ä\\u00e4\\n"}\t💡\u0000 ';
      const res = await backchannel(r.app, 'echo', data);
      assert.equal(JSON.parse(res.json().data).payload, data);
    });

    test('absent data reaches the script as null (JSON without data, empty JSON body, no body)', async () => {
      const withoutData = await backchannel(r.app, 'echo');
      assert.equal(JSON.parse(withoutData.json().data).payload, null);
      const emptyJson = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: {
          authorization: basic(PORTAL.client_id, PORTAL.client_secret),
          'content-type': 'application/json',
        },
      });
      assert.equal(emptyJson.statusCode, 200, emptyJson.body);
      assert.equal(JSON.parse(emptyJson.json().data).payload, null);
      const noBody = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { authorization: basic(PORTAL.client_id, PORTAL.client_secret) },
      });
      assert.equal(noBody.statusCode, 200, noBody.body);
      assert.equal(JSON.parse(noBody.json().data).payload, null);
    });

    test('ignores unknown JSON members beside data', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: {
          authorization: basic(PORTAL.client_id, PORTAL.client_secret),
          'content-type': 'application/json',
        },
        payload: JSON.stringify({ data: 'x', other: { nested: true } }),
      });
      assert.equal(JSON.parse(res.json().data).payload, 'x');
    });

    test('form-urlencoded credentials with data', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          client_id: PORTAL.client_id,
          client_secret: PORTAL.client_secret,
          data: 'a+b & c',
        }).toString(),
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(JSON.parse(res.json().data).payload, 'a+b & c');
    });

    test('form-urlencoded credentials without data', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
        payload: `client_id=${PORTAL.client_id}&client_secret=${PORTAL.client_secret}`,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(JSON.parse(res.json().data).payload, null);
    });

    test('special characters in client id and secret, form-urlencoded inside Basic and in a form', async () => {
      const id = 'weird id:ä+%/';
      const secret = 'p@ss:wörd +%&=/';
      const viaBasic = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { authorization: basic(id, secret), 'content-type': 'application/json' },
        payload: '{"data":"x"}',
      });
      assert.equal(viaBasic.statusCode, 200, viaBasic.body);
      const viaForm = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ client_id: id, client_secret: secret }).toString(),
      });
      assert.equal(viaForm.statusCode, 200, viaForm.body);
      // The same credentials not encoded inside Basic do not match.
      const raw = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
      const unencoded = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { authorization: raw, 'content-type': 'application/json' },
        payload: '{}',
      });
      expectError(unencoded, 400, 'invalid_client');
    });

    test('4xxx and 5xxx script statuses are HTTP 200: the script decides', async () => {
      for (const status of [2000, 2999, 4000, 4001, 4999, 5000, 5999]) {
        const res = await backchannel(r.app, 'status', String(status));
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.json(), { status, data: `s${status}` });
      }
    });

    test('a non-string responsePayload is sent as its JSON text', async () => {
      const res = await backchannel(r.app, 'object-payload');
      assert.equal(res.body, '{"status":2000,"data":"{\\"a\\":[1,\\"x\\"],\\"b\\":null}"}');
    });

    test('data is omitted when the script returns no responsePayload (absent or null)', async () => {
      assert.equal((await backchannel(r.app, 'no-payload')).body, '{"status":2000}');
      assert.equal((await backchannel(r.app, 'null-payload')).body, '{"status":2000}');
    });
  });

  describe('400 invalid_request: the body, checked first', () => {
    const auth = () => basic(PORTAL.client_id, PORTAL.client_secret);
    const post = (headers: Record<string, string>, payload?: string) =>
      r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { authorization: auth(), ...headers },
        payload,
      });

    test('malformed JSON', async () => {
      expectError(await post({ 'content-type': 'application/json' }, '{"data": '), 400, 'invalid_request');
    });
    test('JSON that is not an object', async () => {
      for (const body of ['[]', '"data"', '42', 'null']) {
        expectError(await post({ 'content-type': 'application/json' }, body), 400, 'invalid_request');
      }
    });
    test('data present but not a string', async () => {
      for (const data of [42, true, null, { a: 1 }, ['x']]) {
        expectError(
          await post({ 'content-type': 'application/json' }, JSON.stringify({ data })),
          400,
          'invalid_request',
        );
      }
    });
    test('another media type', async () => {
      expectError(await post({ 'content-type': 'text/plain' }, 'data=x'), 400, 'invalid_request');
      expectError(await post({ 'content-type': 'application/xml' }, '<data/>'), 400, 'invalid_request');
    });
    test('a body without a media type', async () => {
      expectError(await post({}, '{"data":"x"}'), 400, 'invalid_request');
    });
    test('a charset other than UTF-8, and bytes that are not UTF-8', async () => {
      expectError(
        await post({ 'content-type': 'application/json; charset=iso-8859-1' }, '{}'),
        400,
        'invalid_request',
      );
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { authorization: auth(), 'content-type': 'application/json' },
        payload: Buffer.from([0x7b, 0x22, 0x64, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
      });
      expectError(res, 400, 'invalid_request');
    });
    test('a repeated form field', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `client_id=${PORTAL.client_id}&client_secret=${PORTAL.client_secret}&data=a&data=b`,
      });
      expectError(res, 400, 'invalid_request');
    });
    test('comes before the client check (bad body and bad credentials → invalid_request)', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('does-not-exist'),
        headers: { authorization: basic('nobody', 'nothing'), 'content-type': 'application/json' },
        payload: '{"data": 1}',
      });
      expectError(res, 400, 'invalid_request');
    });
  });

  describe('413 invalid_request: the body is larger than the limit', () => {
    test('a body over 256 KiB is refused, one just under is served', async () => {
      const limit = 256 * 1024;
      const overhead = '{"data":""}'.length;
      const fits = await backchannel(r.app, 'no-payload', 'x'.repeat(limit - overhead));
      assert.equal(fits.statusCode, 200, fits.body);
      const tooLarge = await backchannel(r.app, 'no-payload', 'x'.repeat(limit - overhead + 1));
      expectError(tooLarge, 413, 'invalid_request');
    });
  });

  describe('400 invalid_client', () => {
    const cases: Array<[string, Record<string, string>, string | undefined]> = [
      ['no credentials at all', { 'content-type': 'application/json' }, '{"data":"x"}'],
      ['unknown client', { authorization: basic('nobody', 'x'), 'content-type': 'application/json' }, '{}'],
      [
        'wrong secret',
        { authorization: basic(PORTAL.client_id, 'wrong'), 'content-type': 'application/json' },
        '{}',
      ],
      [
        'empty secret',
        { authorization: basic(PORTAL.client_id, ''), 'content-type': 'application/json' },
        '{}',
      ],
      ['a Bearer header', { authorization: 'Bearer abc', 'content-type': 'application/json' }, '{}'],
      ['Basic that is not base64', { authorization: 'Basic ***', 'content-type': 'application/json' }, '{}'],
      [
        'Basic without a colon',
        {
          authorization: `Basic ${Buffer.from('portal').toString('base64')}`,
          'content-type': 'application/json',
        },
        '{}',
      ],
      [
        'Basic with bad percent-encoding',
        {
          authorization: `Basic ${Buffer.from('portal:%zz').toString('base64')}`,
          'content-type': 'application/json',
        },
        '{}',
      ],
      [
        'form with only client_id',
        { 'content-type': 'application/x-www-form-urlencoded' },
        'client_id=portal',
      ],
      [
        'form with a wrong secret',
        { 'content-type': 'application/x-www-form-urlencoded' },
        'client_id=portal&client_secret=nope',
      ],
      [
        'Basic and form credentials at once',
        {
          authorization: basic(PORTAL.client_id, PORTAL.client_secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        `client_id=${PORTAL.client_id}&client_secret=${PORTAL.client_secret}`,
      ],
      ['form without credentials', { 'content-type': 'application/x-www-form-urlencoded' }, 'data=x'],
    ];
    for (const [name, headers, payload] of cases) {
      test(name, async () => {
        const res = await r.app.inject({ method: 'POST', url: URL_OF('echo'), headers, payload });
        expectError(res, 400, 'invalid_client');
      });
    }
    test('comes before the IdP check', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('does-not-exist'),
        headers: { authorization: basic('nobody', 'x'), 'content-type': 'application/json' },
        payload: '{}',
      });
      expectError(res, 400, 'invalid_client');
    });
  });

  describe('403 insufficient_permissions', () => {
    test('a client without user_registration', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { authorization: basic('no-scope', 'no-scope-secret'), 'content-type': 'application/json' },
        payload: '{}',
      });
      expectError(res, 403, 'insufficient_permissions');
    });
    test('comes before the IdP check', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: URL_OF('does-not-exist'),
        headers: { authorization: basic('no-scope', 'no-scope-secret'), 'content-type': 'application/json' },
        payload: '{}',
      });
      expectError(res, 403, 'insufficient_permissions');
    });
  });

  describe('404 invalid_idp_identifier and 403 idp_disabled', () => {
    test('no IdP with that id', async () => {
      expectError(await backchannel(r.app, 'does-not-exist', 'x'), 404, 'invalid_idp_identifier');
    });
    test('ids are case-sensitive', async () => {
      expectError(await backchannel(r.app, 'ECHO', 'x'), 404, 'invalid_idp_identifier');
    });
    test('a disabled IdP', async () => {
      expectError(await backchannel(r.app, 'off', 'x'), 403, 'idp_disabled');
    });
  });

  describe('500 internal_server_error', () => {
    const failures: Array<[string, string, string]> = [
      ['the IdP has no backchannel script', 'no-backchannel', 'has no backchannel script'],
      ['the script throws', 'throws', 'upstream refused'],
      ['the script has no execute function', 'no-execute', 'no execute function'],
      ['no status', 'no-status', 'no integer status'],
      ['a string status', 'string-status', 'no integer status'],
      ['a fractional status', 'float-status', 'no integer status'],
      ['execute returns nothing', 'returns-nothing', 'not an object'],
      ['the script exceeds its CPU time', 'spins', 'CPU-time limit'],
      ['the script exceeds its wall time', 'sleeps', 'wall-time limit'],
      ['execute returns a promise that never settles', 'never-settles', 'never settled'],
      ['the script runs out of memory', 'hogs-memory', 'memory'],
    ];
    for (const [name, idpId, cause] of failures) {
      test(name, async () => {
        const res = await backchannel(r.app, idpId, 'x');
        expectError(res, 500, 'internal_server_error');
        const requestId = res.headers['x-request-id'];
        const logged = r.logs.find(
          (line) => line.reqId === requestId && line.level === 50 && JSON.stringify(line).includes(cause),
        );
        assert.ok(logged, `the cause "${cause}" is logged at error level with request id ${requestId}`);
      });
    }

    test('the response reveals no stack, source, property value or secret; the log has the line number', async () => {
      const res = await backchannel(r.app, 'throws', 'x');
      expectError(res, 500, 'internal_server_error');
      for (const secret of [
        SECRET_PROPERTY_VALUE,
        'upstream refused',
        'PROPERTIES',
        'at execute',
        'throws/',
      ]) {
        assert.ok(!res.body.includes(secret), `response does not contain ${secret}`);
      }
      const line = r.logs.find((l) => l.reqId === res.headers['x-request-id'] && l.level === 50);
      assert.ok(line, 'the failure is logged');
      assert.equal((line.failure as { line: number }).line, 3);
    });
  });

  describe('every response', () => {
    test('carries no-store headers and a request id, including 404s for unknown routes', async () => {
      const res = await r.app.inject({ method: 'GET', url: '/nope' });
      assert.equal(res.statusCode, 404);
      noStore(res);
    });
    test('request ids are unique and appear in the log', async () => {
      const a = await backchannel(r.app, 'echo', 'x');
      const b = await backchannel(r.app, 'echo', 'x');
      assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
      assert.ok(r.logs.find((l) => l.reqId === a.headers['x-request-id']));
    });
    test('client secrets and Authorization headers are never logged', async () => {
      await backchannel(r.app, 'echo', 'x');
      await r.app.inject({
        method: 'POST',
        url: URL_OF('echo'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `client_id=${PORTAL.client_id}&client_secret=${PORTAL.client_secret}`,
      });
      const text = r.logs.text();
      assert.ok(!text.includes(PORTAL.client_secret));
      assert.ok(!text.includes(basic(PORTAL.client_id, PORTAL.client_secret).slice(6)));
      assert.ok(!text.includes(SECRET_PROPERTY_VALUE));
    });
  });
});
