import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compilePolicy } from '../src/outbound/policy.js';
import type { ScriptHttpRequest } from '../src/outbound/types.js';
import {
  failsWith,
  makeClient,
  makeContext,
  startServer,
  type TestServer,
} from './outbound-client-helpers.js';

let server: TestServer;
let allowed: TestServer;
let forbidden: TestServer;
before(async () => {
  server = await startServer();
  allowed = await startServer();
  forbidden = await startServer();
});
after(async () => {
  await Promise.all([server.close(), allowed.close(), forbidden.close()]);
});
const policy = () => compilePolicy({ allow: [server.origin, allowed.origin], allow_addresses: [] });
const get = (url: string, extra: Partial<ScriptHttpRequest> = {}): ScriptHttpRequest => ({
  method: 'GET',
  url,
  headers: {},
  ...extra,
});

describe('OutboundHttp: timeouts', () => {
  test('a slow upstream fails with timeout after timeoutMs', async () => {
    const { http } = makeClient();
    const started = performance.now();
    const error = await failsWith(
      http.request(makeContext(policy()), get(`${server.origin}/slow?ms=3000`, { timeoutMs: 200 })),
      'timeout',
    );
    const elapsed = performance.now() - started;
    assert.match(error.message, /total timeout: http:\/\/127\.0\.0\.1:\d+ did not answer within 200 ms/);
    assert.ok(elapsed >= 190 && elapsed < 1500, `failed after ${elapsed} ms`);
  });

  test("the execution's deadline caps a larger timeoutMs", async () => {
    const { http } = makeClient();
    const started = performance.now();
    const ctx = makeContext(policy(), { deadline: started + 250 });
    await failsWith(http.request(ctx, get(`${server.origin}/slow?ms=3000`, { timeoutMs: 5000 })), 'timeout');
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 200 && elapsed < 1500, `failed after ${elapsed} ms`);
  });

  test('the total timeout also applies while the body is streaming', async () => {
    const { http } = makeClient();
    const started = performance.now();
    const error = await failsWith(
      http.request(makeContext(policy()), get(`${server.origin}/chunked?n=-1`, { timeoutMs: 200 })),
      'timeout',
    );
    assert.match(error.message, /total timeout/);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 1500, `failed after ${elapsed} ms`);
  });

  test('no time left: timeout without connecting', async () => {
    const { http } = makeClient();
    const seen = server.seen.length;
    const spent = makeContext(policy(), { deadline: performance.now() - 1 });
    const error = await failsWith(http.request(spent, get(`${server.origin}/echo`)), 'timeout');
    assert.match(error.message, /no time left/);
    await failsWith(
      http.request(makeContext(policy()), get(`${server.origin}/echo`, { timeoutMs: 0 })),
      'timeout',
    );
    assert.equal(server.seen.length, seen, 'the server saw nothing');
  });
});

describe('OutboundHttp: response size cap', () => {
  test('a body of exactly the cap is returned', async () => {
    const { http } = makeClient({ max_response_bytes: 1000 });
    const ctx = makeContext(policy());
    assert.equal((await http.request(ctx, get(`${server.origin}/big?n=1000`))).body.length, 1000);
    assert.equal((await http.request(ctx, get(`${server.origin}/chunked?n=1000`))).body.length, 1000);
  });

  test('a larger body fails with too_large, with or without Content-Length', async () => {
    const { http } = makeClient({ max_response_bytes: 1000 });
    const ctx = makeContext(policy());
    const declared = await failsWith(http.request(ctx, get(`${server.origin}/big?n=1001`)), 'too_large');
    assert.match(declared.message, /is larger than 1000 bytes/);
    await failsWith(http.request(ctx, get(`${server.origin}/chunked?n=5000`)), 'too_large');
    const head = await http.request(ctx, { ...get(`${server.origin}/big?n=5000`), method: 'HEAD' });
    assert.equal(head.headers['content-length'], '5000', 'a HEAD answer is not judged by its Content-Length');
    assert.equal(head.body, '');
  });

  test('an endless body is cut off as soon as the cap is passed', async () => {
    const { http } = makeClient({ max_response_bytes: 20_000 });
    const started = performance.now();
    await failsWith(http.request(makeContext(policy()), get(`${server.origin}/chunked?n=-1`)), 'too_large');
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
  });
});

describe('OutboundHttp: redirects', () => {
  const to = (target: string, status = 302) =>
    `${server.origin}/redirect?status=${status}&to=${encodeURIComponent(target)}`;

  test('are handed to the script unless following is enabled', async () => {
    const { http } = makeClient();
    const response = await http.request(makeContext(policy()), get(to('/echo')));
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, '/echo');
    assert.equal(response.body, 'moved');
  });

  test('are followed when enabled, each Location resolved against the current URL', async () => {
    const { http } = makeClient({ follow_redirects: true });
    const response = await http.request(makeContext(policy()), get(to(`${allowed.origin}/echo?hop=2`, 301)));
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).url, '/echo?hop=2');
    const relative = await http.request(makeContext(policy()), get(to('/utf8', 308)));
    assert.equal(relative.body, 'héllo ✓');
  });

  test('a redirect to a non-allowed origin is refused and that origin never hit', async () => {
    const { http } = makeClient({ follow_redirects: true });
    const error = await failsWith(
      http.request(makeContext(policy()), get(to(`${forbidden.origin}/echo?secret=QUERY`))),
      'redirect_refused',
    );
    assert.equal(
      error.message,
      `HTTP.request: redirect from ${server.origin} refused: ${forbidden.origin} is not on the allow-list`,
    );
    assert.equal(forbidden.seen.length, 0, 'the refused origin saw nothing');
  });

  test('every hop goes through the checked lookup again', async () => {
    const { http } = makeClient({ follow_redirects: true });
    const named = compilePolicy({
      allow: [server.origin, `http://internal.test:${forbidden.port}`],
      allow_addresses: [],
    });
    const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
    const error = await failsWith(
      http.request(makeContext(named, { resolve }), get(to(`http://internal.test:${forbidden.port}/echo`))),
      'redirect_refused',
    );
    assert.match(
      error.message,
      /redirect from http:\/\/127\.0\.0\.1:\d+ refused: refused to connect to internal\.test: 127\.0\.0\.1 is a loopback address/,
    );
    assert.equal(forbidden.seen.length, 0, 'the refused address saw nothing');
  });

  test('more than max_redirects hops fail with redirect_refused', async () => {
    const { http } = makeClient({ follow_redirects: true, max_redirects: 2 });
    const seen = server.seen.length;
    const error = await failsWith(
      http.request(makeContext(policy()), get(`${server.origin}/loop`)),
      'redirect_refused',
    );
    assert.match(error.message, /too many redirects \(more than 2\)/);
    assert.equal(server.seen.length - seen, 3, 'the first request and two redirects');
  });

  test('303 turns a POST into a GET without body; 307 keeps method and body', async () => {
    const { http } = makeClient({ follow_redirects: true });
    const post = (url: string): ScriptHttpRequest => ({
      method: 'POST',
      url,
      headers: { 'Content-Type': 'text/plain' },
      body: 'payload',
    });
    const changed = JSON.parse((await http.request(makeContext(policy()), post(to('/echo', 303)))).body);
    assert.equal(changed.method, 'GET');
    assert.equal(changed.body, '');
    assert.equal(changed.headers['content-type'], undefined);
    const kept = JSON.parse((await http.request(makeContext(policy()), post(to('/echo', 307)))).body);
    assert.equal(kept.method, 'POST');
    assert.equal(kept.body, 'payload');
    assert.equal(kept.headers['content-type'], 'text/plain');
  });

  test('a cross-origin hop drops Authorization, Cookie and property-valued headers', async () => {
    const { http } = makeClient({ follow_redirects: true });
    const headers = {
      Authorization: 'Bearer literal',
      Cookie: 'a=b',
      'X-Key': { $property: 'api_key' },
      'X-Plain': 'kept',
    };
    await http.request(makeContext(policy()), { method: 'GET', url: to('/echo'), headers });
    const same = server.seen.at(-1)?.headers;
    assert.equal(same?.authorization, 'Bearer literal');
    assert.ok(same?.['x-key'] !== undefined && same.cookie === 'a=b', 'same-origin hop keeps them');
    await http.request(makeContext(policy()), { method: 'GET', url: to(`${allowed.origin}/echo`), headers });
    const cross = allowed.seen.at(-1)?.headers;
    assert.equal(cross?.['x-plain'], 'kept');
    assert.equal(cross?.authorization, undefined);
    assert.equal(cross?.cookie, undefined);
    assert.equal(cross?.['x-key'], undefined);
  });

  test('a property-valued body is never re-sent to another origin', async () => {
    const { http } = makeClient({ follow_redirects: true });
    const seen = allowed.seen.length;
    const request: ScriptHttpRequest = {
      method: 'POST',
      url: to(`${allowed.origin}/echo`, 307),
      headers: {},
      body: { $property: 'api_key' },
    };
    const error = await failsWith(http.request(makeContext(policy()), request), 'redirect_refused');
    assert.match(error.message, /property-valued body/);
    assert.equal(allowed.seen.length, seen, 'the other origin saw nothing');
  });
});

describe('OutboundHttp: per-IdP concurrency and the event loop', () => {
  test('with a limit of 1, calls are serialised and a waiter past its deadline fails', async () => {
    const { http } = makeClient({ max_concurrent_per_idp: 1 });
    const seen = server.seen.length;
    const slow = get(`${server.origin}/slow?ms=300`);
    const first = http.request(makeContext(policy()), slow);
    const second = http.request(makeContext(policy()), slow);
    const started = performance.now();
    const third = await failsWith(
      http.request(makeContext(policy(), { deadline: started + 100 }), slow),
      'concurrency',
    );
    const waited = performance.now() - started;
    assert.match(third.message, /too many concurrent calls .* \(limit 1\)/);
    assert.ok(waited >= 90 && waited < 290, `the third call waited ${waited} ms`);
    const other = await http.request(makeContext(policy(), { idpId: 'idp-b' }), get(`${server.origin}/utf8`));
    assert.equal(other.status, 200, 'another IdP is not held up');
    await Promise.all([first, second]);
    const [a, b] = server.seen.slice(seen).filter((request) => request.url.startsWith('/slow'));
    assert.ok(a?.endedAt != null && b !== undefined, 'both slow calls reached the server');
    assert.ok(b.startedAt >= a.endedAt, `second started ${b.startedAt - a.endedAt} ms after the first ended`);
    assert.deepEqual(http.usage('idp-a'), { active: 0, waiting: 0 });
  });

  test('the event loop keeps running during a slow upstream call', async () => {
    const { http } = makeClient();
    let ticks = 0;
    const interval = setInterval(() => {
      ticks += 1;
    }, 10);
    try {
      const response = await http.request(makeContext(policy()), get(`${server.origin}/slow?ms=500`));
      assert.equal(response.body, 'slow done');
    } finally {
      clearInterval(interval);
    }
    assert.ok(ticks >= 25, `only ${ticks} ticks of 10 ms during a 500 ms call`);
  });
});
