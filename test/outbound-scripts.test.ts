import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const ADMIN = { client_id: 'admin', client_secret: 'admin-secret' } as const;
const KEY = 'k3y-only-the-upstream-sees';

/** A real upstream on 127.0.0.1: `/echo` answers what it got, `/slow?ms=` waits first. */
async function startUpstream(): Promise<{ server: Server; origin: string; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://upstream');
      const reply = () => {
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-upstream', 'yes');
        res.end(
          JSON.stringify({
            method: req.method,
            path: url.pathname,
            body,
            key: req.headers['x-api-key'] ?? null,
          }),
        );
      };
      if (url.pathname === '/slow') setTimeout(reply, Number(url.searchParams.get('ms') ?? 500));
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, origin: `http://127.0.0.1:${port}`, seen };
}

const json = (body: string) => JSON.parse(body) as Record<string, unknown>;

describe('HTTP.request from scripts', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let r: TestRegistrar;
  const errorLine = (idpId: string) =>
    r.logs.lines.filter((l) => l.idp === idpId && String(l.msg).startsWith('script failed')).at(-1)?.msg;

  before(async () => {
    upstream = await startUpstream();
    const o = upstream.origin;
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      properties: [{ id: 'api_key', value: KEY, sensitive: true }],
      identity_providers: [
        idp(
          'call',
          {
            backchannel: `function execute(data) {
              var r = HTTP.json({ url: '${o}/echo?secret=query', body: { data: data },
                                  headers: { 'x-api-key': { $property: 'api_key' } } });
              LOG.info('upstream said {}', r.body.method);
              return { status: 2000, responsePayload: { status: r.status, got: r.body, header: r.headers['x-upstream'] } };
            }`,
          },
          { http: { allow: [o] } },
        ),
        idp(
          'text',
          {
            backchannel: `function execute(data) {
              var r = HTTP.request({ method: 'PUT', url: '${o}/echo', body: data });
              return { status: 2000, responsePayload: r.body };
            }`,
          },
          { http: { allow: [o] } },
        ),
        idp(
          'slow-cpu',
          {
            backchannel: `function execute() { return { status: 2000, responsePayload: HTTP.request({ url: '${o}/slow?ms=400' }).body }; }`,
          },
          { http: { allow: [o] }, limits: { cpu_time_ms: 100 } },
        ),
        idp(
          'slow-wall',
          {
            backchannel: `function execute() { HTTP.request({ url: '${o}/slow?ms=1500' }); return { status: 2000 }; }`,
          },
          { http: { allow: [o] }, limits: { wall_time_ms: 300 } },
        ),
        idp(
          'own-timeout',
          {
            backchannel: `function execute() { HTTP.request({ url: '${o}/slow?ms=1000', timeoutMs: 100 }); return { status: 2000 }; }`,
          },
          { http: { allow: [o] } },
        ),
        idp(
          'spin-after-call',
          { backchannel: `function execute() { HTTP.request({ url: '${o}/echo' }); while (true) {} }` },
          { http: { allow: [o] }, limits: { cpu_time_ms: 100 } },
        ),
        idp(
          'many',
          {
            backchannel: `function execute() { for (var i = 0; i < 25; i++) HTTP.request({ url: '${o}/echo' }); return { status: 2000 }; }`,
          },
          { http: { allow: [o] } },
        ),
        idp('no-allow-list', {
          backchannel: `function execute() { HTTP.request({ url: '${o}/echo' }); return { status: 2000 }; }`,
        }),
        idp(
          'elsewhere',
          {
            backchannel: `function execute() { HTTP.request({ url: 'http://127.0.0.2:1/' }); return { status: 2000 }; }`,
          },
          { http: { allow: [o] } },
        ),
        idp('fast', { backchannel: 'function execute() { return { status: 2000 }; }' }),
      ],
    });
  });
  after(async () => {
    await r.close();
    upstream.server.close();
  });

  test('a script calls an allowed host, sends JSON and gets status, headers and the parsed body', async () => {
    const res = await backchannel(r.app, 'call', 'hello');
    assert.equal(res.statusCode, 200, res.body);
    const payload = JSON.parse(String(json(res.body).data));
    assert.equal(payload.status, 200);
    assert.equal(payload.header, 'yes');
    assert.equal(payload.got.method, 'POST');
    assert.equal(payload.got.path, '/echo');
    assert.deepEqual(JSON.parse(payload.got.body), { data: 'hello' });
  });

  test('a {$property} header reaches the upstream with the value, which never reaches the log', async () => {
    const before = upstream.seen.length;
    await backchannel(r.app, 'call', 'x');
    const request = upstream.seen[before];
    assert.equal(request?.headers['x-api-key'], KEY);
    assert.ok(!r.logs.text().includes(KEY), 'the value is never logged');
    assert.ok(!r.logs.text().includes('secret=query'), 'query strings are not logged');
  });

  test('HTTP.request sends a text body with any method and returns the body as text', async () => {
    const res = await backchannel(r.app, 'text', 'plain text');
    const got = JSON.parse(String(json(res.body).data));
    assert.equal(got.method, 'PUT');
    assert.equal(got.body, 'plain text');
  });

  test('waiting on the upstream counts against wall time, not the CPU limit', async () => {
    const res = await backchannel(r.app, 'slow-cpu');
    assert.equal(res.statusCode, 200, `a 400 ms wait under a 100 ms CPU limit succeeds: ${res.body}`);
  });

  test('the wall-time limit cuts a call that waits too long', async () => {
    const started = performance.now();
    const res = await backchannel(r.app, 'slow-wall');
    assert.equal(res.statusCode, 500);
    assert.ok(performance.now() - started < 1400, 'answered before the upstream');
    assert.match(String(errorLine('slow-wall')), /wall|timed out|timeout/i);
  });

  test('the script’s own timeoutMs is a clear script error', async () => {
    const res = await backchannel(r.app, 'own-timeout');
    assert.equal(res.statusCode, 500);
    assert.match(String(errorLine('own-timeout')), /HTTP\.request: .*tim/i);
  });

  test('CPU spent after a call is still limited (cpu_timeout)', async () => {
    const res = await backchannel(r.app, 'spin-after-call');
    assert.equal(res.statusCode, 500);
    assert.match(String(errorLine('spin-after-call')), /cpu_timeout/);
  });

  test('an execution may make at most max_requests_per_execution calls', async () => {
    const res = await backchannel(r.app, 'many');
    assert.equal(res.statusCode, 500);
    assert.match(String(errorLine('many')), /at most 20 requests/);
  });

  test('without an allow-list HTTP.request fails with a clear script error', async () => {
    const res = await backchannel(r.app, 'no-allow-list');
    assert.equal(res.statusCode, 500);
    assert.match(String(errorLine('no-allow-list')), /outbound calls are not enabled/);
  });

  test('a host that is not on the allow-list is refused and never contacted', async () => {
    const res = await backchannel(r.app, 'elsewhere');
    assert.equal(res.statusCode, 500);
    assert.match(String(errorLine('elsewhere')), /not on the allow-list/);
  });

  test('other requests are served while a script waits on a slow upstream', async () => {
    const slow = backchannel(r.app, 'slow-cpu');
    const started = performance.now();
    const quick = await Promise.all(Array.from({ length: 10 }, () => backchannel(r.app, 'fast')));
    const quickMs = performance.now() - started;
    assert.ok(
      quick.every((res) => res.statusCode === 200),
      'all quick requests succeed',
    );
    assert.ok(quickMs < 350, `ten quick requests took ${Math.round(quickMs)} ms beside a 400 ms wait`);
    assert.equal((await slow).statusCode, 200);
  });

  test('scripts waiting on an upstream hold no sandbox process: six 400 ms waits overlap on two processes', async () => {
    const started = performance.now();
    const slow = Promise.all(Array.from({ length: 6 }, () => backchannel(r.app, 'slow-cpu')));
    const quick = await Promise.all(Array.from({ length: 5 }, () => backchannel(r.app, 'fast')));
    const quickMs = performance.now() - started;
    const answers = await slow;
    const slowMs = performance.now() - started;
    assert.ok(
      answers.every((res) => res.statusCode === 200),
      answers.map((res) => res.body).join(' '),
    );
    assert.ok(
      quick.every((res) => res.statusCode === 200),
      'the quick requests succeed',
    );
    assert.ok(quickMs < 350, `quick requests took ${Math.round(quickMs)} ms beside six waiting scripts`);
    // One at a time per process this would take three rounds (1200 ms and more).
    assert.ok(slowMs < 1000, `six overlapping 400 ms waits took ${Math.round(slowMs)} ms`);
  });

  test('a dry run reports the calls it made (origin and path only), masking the property', async () => {
    const res = await r.app.inject({
      method: 'POST',
      url: '/api/v1/configuration/identity-providers/call/scripts/backchannel/test',
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      payload: { data: 'dry' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const report = json(res.body);
    const calls = report.outbound as Array<Record<string, unknown>>;
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.method, 'POST');
    assert.equal(calls[0]?.url, `${upstream.origin}/echo`);
    assert.equal(calls[0]?.status, 200);
    assert.ok(!res.body.includes(KEY), 'the property value is masked in the report');
  });

  test('GET /metrics counts calls per IdP and outcome, with a latency histogram', async () => {
    const res = await r.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/plain; version=0\.0\.4/);
    assert.match(res.body, /registrar_outbound_requests_total\{idp="call",outcome="ok"\} \d+/);
    assert.match(res.body, /registrar_outbound_requests_total\{idp="elsewhere",outcome="refused"\} 1/);
    // prom-client writes `le` first.
    assert.match(res.body, /registrar_outbound_request_duration_seconds_bucket\{le="\+Inf",idp="call"\} \d+/);
  });

  test('the admin API shows and changes an IdP’s own allow-list, effective on the next request', async () => {
    const auth = { authorization: basic(ADMIN.client_id, ADMIN.client_secret) };
    const view = await r.app.inject({
      method: 'GET',
      url: '/api/v1/configuration/identity-providers/call',
      headers: auth,
    });
    assert.deepEqual(json(view.body).http, { allow: [upstream.origin] });
    const bad = await r.app.inject({
      method: 'PATCH',
      url: '/api/v1/configuration/identity-providers/call',
      headers: auth,
      payload: { http: { allow: ['ftp://example.com'] } },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal((json(bad.body).details as Array<{ field: string }>)[0]?.field, 'http.allow[0]');
    const cleared = await r.app.inject({
      method: 'PATCH',
      url: '/api/v1/configuration/identity-providers/call',
      headers: auth,
      payload: { http: null },
    });
    assert.equal(cleared.statusCode, 200, cleared.body);
    assert.equal(json(cleared.body).http, undefined);
    const res = await backchannel(r.app, 'call', 'x');
    assert.equal(res.statusCode, 500, 'no allow-list any more');
  });
});
