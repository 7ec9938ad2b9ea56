/**
 * What a script returns crosses from the sandbox into the server: a result of any depth
 * or size ends as a clean answer (success, or `internal_server_error`), and neither the
 * sandbox process nor the server stalls or crashes on it. Memory a script holds outside
 * its heap is bounded per sandbox process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backchannel, basic, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const NEST = 'function nest(n) { var o = {}; for (var i = 0; i < n; i++) o = { a: o }; return o; }';
const APP = { client_id: 'app', client_secret: 'app-secret' };

describe('deep or huge script results', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      identity_providers: [
        idp('deep-payload', {
          backchannel: `${NEST} function execute(p) { return { status: 2000, responsePayload: nest(Number(p)) }; }`,
        }),
        idp('deep-user', {
          backchannel: `${NEST} function execute(p) { return { status: 2000, user: nest(Number(p)) }; }`,
          complete: `${NEST} function execute(p) { var u = nest(Number(p)); u.id = "deep"; return { status: 2000, user: u }; }`,
        }),
        idp(
          'huge',
          {
            backchannel:
              'function execute(p) { return { status: 2000, responsePayload: new Array(Number(p) + 1).join("x") }; }',
          },
          // About the size of results, not time: room for a busy machine (the CPU limit is a wall limit here).
          { limits: { cpu_time_ms: 5000 } },
        ),
        idp('quick', {
          backchannel: 'function execute() { return { status: 2000, responsePayload: "ok" }; }',
        }),
      ],
      applications: [
        { ...APP, identity_providers: ['deep-user'], scopes: ['openid'], default_scopes: ['openid'] },
      ],
    });
  });
  after(() => r.close());

  /** The quick IdP still answers: nothing the previous call did stalled or broke the engine. */
  const stillServing = async () => {
    const res = await backchannel(r.app, 'quick', 'x');
    assert.equal(res.statusCode, 200, res.body);
  };
  const cleanAnswer = (res: { statusCode: number; body: string }) => {
    if (res.statusCode === 200) return;
    assert.equal(res.statusCode, 500, res.body);
    assert.equal(JSON.parse(res.body).error, 'internal_server_error');
  };

  for (const depth of [3000, 30_000]) {
    test(`a responsePayload nested ${depth} levels: a clean answer`, async () => {
      cleanAnswer(await backchannel(r.app, 'deep-payload', String(depth)));
      await stillServing();
    });

    test(`a user nested ${depth} levels from backchannel and from complete (tokens, id_token): a clean answer`, async () => {
      cleanAnswer(await backchannel(r.app, 'deep-user', String(depth)));
      const res = await r.app.inject({
        method: 'POST',
        url: '/oauth/custom-registration/deep-user/complete',
        headers: {
          authorization: basic(APP.client_id, APP.client_secret),
          'content-type': 'application/json',
        },
        payload: JSON.stringify({ data: String(depth) }),
      });
      cleanAnswer(res);
      await stillServing();
    });
  }

  test('a multi-MB payload: returned whole, or a clean failure past the heap limit', async () => {
    const res = await backchannel(r.app, 'huge', String(4 * 1024 * 1024));
    const warnings = () =>
      JSON.stringify(r.logs.lines.filter((line) => Number(line.level) >= 40)).slice(0, 3000);
    assert.equal(res.statusCode, 200, warnings());
    assert.equal(JSON.parse(res.body).data.length, 4 * 1024 * 1024);
    cleanAnswer(await backchannel(r.app, 'huge', String(50_000_000)));
    await stillServing();
  });
});

describe('memory outside the V8 heap', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      engine: { sandbox_max_rss_mb: 256 },
      identity_providers: [
        idp('icu', {
          backchannel: `var keep = [];
            function execute(p) {
              for (var i = 0; i < 8000; i++) keep.push(new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'full' }));
              return { status: 2000, responsePayload: String(keep.length) };
            }`,
        }),
        idp('quick', {
          backchannel: 'function execute() { return { status: 2000, responsePayload: "ok" }; }',
        }),
      ],
    });
  });
  after(() => r.close());

  test('a sandbox process never stays past engine.sandbox_max_rss_mb; other IdPs are served throughout', async () => {
    for (let i = 0; i < 8; i++) {
      const res = await backchannel(r.app, 'icu', 'x');
      assert.ok(res.statusCode === 200 || res.statusCode === 500, res.body);
      const quick = await backchannel(r.app, 'quick', 'x');
      assert.equal(quick.statusCode, 200, quick.body);
    }
    // Give the supervisor's 100 ms check a turn, then read every sandbox process's size.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const metrics = await r.app.inject({ method: 'GET', url: '/metrics' });
    const exits = metrics.body
      .split('\n')
      .filter((line) => line.startsWith('registrar_sandbox_process_exits_total{cause="memory"'))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    assert.ok(exits >= 1, `a process past the limit was replaced (exits by memory: ${exits})`);
    const leaked = r.logs.find((line) => String(line.msg).includes('resident-memory limit'));
    assert.ok(leaked, 'the log says why');
  });
});
