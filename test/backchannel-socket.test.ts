import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

/** The same contract over a real loopback socket, plus what only a real server shows: isolation under load. */
describe('backchannel over a real port', () => {
  let r: TestRegistrar;
  let base: string;

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { client_id: 'no-scope', client_secret: 'no-scope-secret', scopes: [] },
      ],
      identity_providers: [
        idp('echo', { backchannel: 'function execute(p) { return { status: 2000, responsePayload: p }; }' }),
        idp('off', { backchannel: 'function execute() { return { status: 2000 }; }' }, { enabled: false }),
        idp('throws', { backchannel: 'function execute() { throw new Error("nope"); }' }),
        idp('spin', { backchannel: 'function execute() { for (;;) {} }' }, { limits: { cpu_time_ms: 1500 } }),
        idp('bomb', {
          backchannel:
            'function execute() { return { status: 2000, responsePayload: String(new Array(1e8).fill(1.5).length) }; }',
        }),
        idp('hog', {
          backchannel:
            'function execute() { var a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }',
        }),
      ],
    });
    const address = await r.app.listen({ host: '127.0.0.1', port: 0 });
    base = address.replace('localhost', '127.0.0.1');
  });
  after(() => r.close());

  const call = (idpId: string, init: { body?: string; headers?: Record<string, string> } = {}) =>
    fetch(`${base}/oauth/api/v3/custom-registration/${idpId}/backchannel`, {
      method: 'POST',
      headers: {
        authorization: basic(PORTAL.client_id, PORTAL.client_secret),
        'content-type': 'application/json',
        ...init.headers,
      },
      body: init.body ?? '{}',
    });

  const expectError = async (res: Response, status: number, error: string) => {
    assert.equal(res.status, status);
    assert.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('pragma'), 'no-cache');
    assert.ok(res.headers.get('x-request-id'), 'has a request id');
    assert.equal(((await res.json()) as { error: string }).error, error);
  };

  test('200 with the exact success headers', async () => {
    const res = await call('echo', { body: '{"data":"{\\"custom_key\\":\\"custom_data\\"}"}' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('pragma'), 'no-cache');
    assert.equal(await res.text(), '{"status":2000,"data":"{\\"custom_key\\":\\"custom_data\\"}"}');
  });

  test('form-urlencoded credentials', async () => {
    const res = await fetch(`${base}/oauth/api/v3/custom-registration/echo/backchannel`, {
      method: 'POST',
      body: new URLSearchParams({
        client_id: PORTAL.client_id,
        client_secret: PORTAL.client_secret,
        data: 'd',
      }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 2000, data: 'd' });
  });

  test('every row of the error table', async () => {
    await expectError(await call('echo', { body: '{"data":1}' }), 400, 'invalid_request');
    await expectError(
      await call('echo', { body: JSON.stringify({ data: 'x'.repeat(300 * 1024) }) }),
      413,
      'invalid_request',
    );
    await expectError(
      await call('echo', { headers: { authorization: basic('portal', 'bad') } }),
      400,
      'invalid_client',
    );
    await expectError(
      await call('echo', { headers: { authorization: basic('no-scope', 'no-scope-secret') } }),
      403,
      'insufficient_permissions',
    );
    await expectError(await call('missing'), 404, 'invalid_idp_identifier');
    await expectError(await call('off'), 403, 'idp_disabled');
    await expectError(await call('throws'), 500, 'internal_server_error');
  });

  test('a runaway loop harms only its own request: others are answered meanwhile', async () => {
    let spinDone = false;
    const spinning = call('spin').then(async (res) => {
      spinDone = true;
      return res;
    });
    // Give the loop time to start, then make requests while it burns its CPU budget.
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (let i = 0; i < 10; i++) {
      const res = await call('echo', { body: `{"data":"during-${i}"}` });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 2000, data: `during-${i}` });
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
    }
    assert.equal(spinDone, false, 'the ten other requests finished while the loop still ran');
    await expectError(await spinning, 500, 'internal_server_error');
  });

  test('memory bombs fail their own request and the server stays up', async () => {
    await expectError(await call('hog'), 500, 'internal_server_error');
    // One huge allocation may even take down its sandbox process; the server restarts it.
    await expectError(await call('bomb'), 500, 'internal_server_error');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const deadline = Date.now() + 10_000;
    let last = 0;
    while (Date.now() < deadline) {
      const res = await call('echo', { body: '{"data":"after"}' });
      last = res.status;
      if (last === 200) {
        assert.deepEqual(await res.json(), { status: 2000, data: 'after' });
        break;
      }
      await res.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(last, 200, 'requests succeed again after a memory bomb');
  });
});
