import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compilePolicy, type ResolvedAddress, type Resolver } from '../src/outbound/policy.js';
import type { OutboundCallRecord, OutboundError, ScriptHttpRequest } from '../src/outbound/types.js';
import {
  failsWith,
  makeClient,
  makeContext,
  SECRET,
  startServer,
  startTlsServer,
  type TestServer,
} from './outbound-client-helpers.js';

/** A resolver answering from a table and counting what it was asked. */
function tableResolver(table: Record<string, ResolvedAddress[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (hostname: string) => {
    asked.push(hostname);
    return table[hostname] ?? [];
  };
  return Object.assign(resolve, { asked });
}

describe('OutboundHttp: requests to an allowed loopback server', () => {
  let server: TestServer;
  let other: TestServer;
  before(async () => {
    server = await startServer();
    other = await startServer();
  });
  after(async () => {
    await server.close();
    await other.close();
  });
  const policy = () => compilePolicy({ allow: [server.origin], allow_addresses: [] });

  test('GET returns the status, lower-cased headers (repeats joined) and the body text', async () => {
    const { http } = makeClient();
    const response = await http.request(makeContext(policy()), {
      method: 'get',
      url: `${server.origin}/echo?x=1`,
      headers: { Accept: 'application/json' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers['x-upper-case'], 'yes');
    assert.equal(response.headers['x-multi'], 'a, b');
    assert.equal(response.headers['content-type'], 'application/json');
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.method, 'GET');
    assert.equal(echoed.url, '/echo?x=1');
    assert.equal(echoed.headers.accept, 'application/json');
    assert.equal(echoed.headers.host, `127.0.0.1:${server.port}`);
  });

  test('a POST body and a $property header value reach the server', async () => {
    const { http } = makeClient();
    const response = await http.request(makeContext(policy()), {
      method: 'POST',
      url: `${server.origin}/echo`,
      headers: { 'Content-Type': 'application/json', 'X-Api-Key': { $property: 'api_key' } },
      body: '{"user":"ü"}',
    });
    assert.equal(response.status, 200);
    const seen = server.seen.at(-1);
    assert.equal(seen?.method, 'POST');
    assert.equal(seen?.body, '{"user":"ü"}');
    assert.equal(seen?.headers['x-api-key'], SECRET);
    assert.equal(seen?.headers['content-type'], 'application/json');
    assert.equal(seen?.headers['content-length'], String(Buffer.byteLength('{"user":"ü"}')));
  });

  test('a $property body reaches the server; UTF-8 responses decode; HEAD has an empty body', async () => {
    const { http } = makeClient();
    const ctx = makeContext(policy());
    await http.request(ctx, {
      method: 'PUT',
      url: `${server.origin}/echo`,
      headers: {},
      body: { $property: 'api_key' },
    });
    assert.equal(server.seen.at(-1)?.body, SECRET);
    const text = await http.request(ctx, { method: 'GET', url: `${server.origin}/utf8`, headers: {} });
    assert.equal(text.body, 'héllo ✓');
    const head = await http.request(ctx, { method: 'HEAD', url: `${server.origin}/utf8`, headers: {} });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  test('malformed requests fail with bad_request before anything is sent', async () => {
    const { http } = makeClient();
    const ctx = makeContext(policy());
    const before = server.seen.length;
    const url = `${server.origin}/echo`;
    const bad = (req: Partial<ScriptHttpRequest>) =>
      failsWith(
        http.request(ctx, { method: 'GET', url, headers: {}, ...req } as ScriptHttpRequest),
        'bad_request',
      );

    assert.match((await bad({ method: 'TRACE' })).message, /method "TRACE" is not allowed/);
    await bad({ method: 'GE T' });
    await bad({ method: 42 as unknown as string });
    assert.match((await bad({ headers: { 'Bad Header': 'x' } })).message, /header name "Bad Header"/);
    for (const name of [
      'Host',
      'Connection',
      'Content-Length',
      'Transfer-Encoding',
      'Upgrade',
      'TE',
      'Trailer',
      'Keep-Alive',
      'Proxy-Authorization',
      'proxy-anything',
    ]) {
      const error = await bad({ headers: { [name]: 'x' } });
      assert.equal(error.message, `HTTP.request: header ${name.toLowerCase()} may not be set by a script`);
    }
    const injected = await bad({ headers: { 'X-A': 'one\r\nX-Injected: two' } });
    assert.ok(!injected.message.includes('Injected'), `no header value in: ${injected.message}`);
    await bad({ headers: { 'X-A': 'x', 'x-a': 'y' } });
    await bad({ headers: { 'X-A': 42 as unknown as string } });
    const unknown = await bad({ headers: { 'X-Key': { $property: 'nope' } } });
    assert.equal(unknown.message, 'HTTP.request: unknown property "nope"');
    await bad({ method: 'POST', body: { $property: 'missing' } });
    await bad({ method: 'GET', body: 'x' });
    await bad({ method: 'HEAD', body: '' });
    await bad({ method: 'POST', body: 7 as unknown as string });
    await bad({ timeoutMs: -1 });
    const multiline = makeContext(policy(), { properties: new Map([['multi', `a\n${SECRET}`]]) });
    const error = await failsWith(
      http.request(multiline, { method: 'GET', url, headers: { 'X-K': { $property: 'multi' } } }),
      'bad_request',
    );
    assert.match(error.message, /property "multi" has characters not allowed/);
    assert.equal(server.seen.length, before, 'the server saw none of them');
  });

  test('an origin not on the allow-list is refused and never contacted', async () => {
    const { http } = makeClient();
    const ctx = makeContext(policy());
    const refused = async (url: string) =>
      (await failsWith(http.request(ctx, { method: 'GET', url, headers: {} }), 'refused')).message;
    assert.equal(
      await refused(`${other.origin}/echo`),
      `HTTP.request: http://127.0.0.1:${other.port} is not on the allow-list`,
    );
    assert.match(
      await refused(`http://127.0.0.2:${server.port}/echo`),
      /127\.0\.0\.2.* not on the allow-list/,
    );
    assert.match(await refused(`https://127.0.0.1:${server.port}/echo`), /not on the allow-list/);
    assert.match(await refused('not a url'), /not a valid absolute URL/);
    assert.match(await refused(`ftp://127.0.0.1:${server.port}/`), /only http and https/);
    assert.equal(other.seen.length, 0, 'the non-allowed server saw nothing');
  });

  test('a name resolving to 127.0.0.1 is refused unless allow_addresses covers it, then connects there', async () => {
    const { http } = makeClient();
    const url = `http://api.test:${server.port}/echo`;
    const named = compilePolicy({ allow: [`http://api.test:${server.port}`], allow_addresses: [] });
    const resolve = tableResolver({ 'api.test': [{ address: '127.0.0.1', family: 4 }] });
    const before = server.seen.length;
    const error = await failsWith(
      http.request(makeContext(named, { resolve }), { method: 'GET', url, headers: {} }),
      'refused',
    );
    assert.match(error.message, /refused to connect to api\.test: 127\.0\.0\.1 is a loopback address/);
    assert.equal(server.seen.length, before, 'no connection was made');

    const permitted = compilePolicy({
      allow: [`http://api.test:${server.port}`],
      allow_addresses: ['127.0.0.1'],
    });
    const counting = tableResolver({ 'api.test': [{ address: '127.0.0.1', family: 4 }] });
    const response = await http.request(makeContext(permitted, { resolve: counting }), {
      method: 'GET',
      url,
      headers: {},
    });
    // api.test exists only in the injected resolver: reaching the server proves the socket
    // connected to the address the checked lookup returned, with no second (system) lookup.
    assert.equal(response.status, 200);
    assert.deepEqual(counting.asked, ['api.test']);
    assert.equal(JSON.parse(response.body).headers.host, `api.test:${server.port}`);
  });

  test('a name resolving to an IPv4-mapped loopback address is refused too', async () => {
    const { http } = makeClient();
    const named = compilePolicy({ allow: [`http://api.test:${server.port}`], allow_addresses: [] });
    const resolve = tableResolver({ 'api.test': [{ address: '::ffff:127.0.0.1', family: 6 }] });
    const error = await failsWith(
      http.request(makeContext(named, { resolve }), {
        method: 'GET',
        url: `http://api.test:${server.port}/echo`,
        headers: {},
      }),
      'refused',
    );
    assert.match(error.message, /::ffff:127\.0\.0\.1 is a loopback address/);
  });

  test('IPv4-mapped literal URLs are refused unless the allow-list names that address', async () => {
    const { http } = makeClient();
    const url = `http://[::ffff:127.0.0.1]:${server.port}/echo`;
    const v6only = compilePolicy({ allow: [`http://[::1]:${server.port}`], allow_addresses: [] });
    const before = server.seen.length;
    await failsWith(http.request(makeContext(v6only), { method: 'GET', url, headers: {} }), 'refused');
    assert.equal(server.seen.length, before, 'no connection was made');
    const mapped = compilePolicy({
      allow: [`http://[::ffff:127.0.0.1]:${server.port}`],
      allow_addresses: [],
    });
    const response = await http.request(makeContext(mapped), { method: 'GET', url, headers: {} });
    assert.equal(response.status, 200);
    // The policy treats 127.0.0.1 and ::ffff:127.0.0.1 as one address: naming either names both.
    const plain = await http.request(makeContext(policy()), { method: 'GET', url, headers: {} });
    assert.equal(plain.status, 200);
  });

  test('IPv6 loopback [::1] is refused unless named, and reachable when named', async (t) => {
    let server6: TestServer;
    try {
      server6 = await startServer('::1');
    } catch (error) {
      t.skip(`no IPv6 loopback on this machine: ${String(error)}`);
      return;
    }
    try {
      const { http } = makeClient();
      const url = `${server6.origin}/echo`;
      const error = await failsWith(
        http.request(makeContext(policy()), { method: 'GET', url, headers: {} }),
        'refused',
      );
      assert.match(error.message, /not on the allow-list/);
      assert.equal(server6.seen.length, 0, 'no connection was made');
      const named = compilePolicy({ allow: [server6.origin], allow_addresses: [] });
      const response = await http.request(makeContext(named), { method: 'GET', url, headers: {} });
      assert.equal(response.status, 200);
      assert.equal(JSON.parse(response.body).headers.host, `[::1]:${server6.port}`);
    } finally {
      await server6.close();
    }
  });

  test('connection refused and unresolvable names fail with connect_error', async () => {
    const closed = await startServer();
    await closed.close();
    const { http } = makeClient();
    const allowClosed = compilePolicy({ allow: [closed.origin, 'http://nowhere.test'], allow_addresses: [] });
    const ctx = makeContext(allowClosed, { resolve: tableResolver({}) });
    const refused = await failsWith(
      http.request(ctx, { method: 'GET', url: `${closed.origin}/`, headers: {} }),
      'connect_error',
    );
    assert.match(refused.message, /could not connect to http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    const unresolved = await failsWith(
      http.request(ctx, { method: 'GET', url: 'http://nowhere.test/', headers: {} }),
      'connect_error',
    );
    assert.equal(unresolved.message, 'HTTP.request: could not resolve nowhere.test (ENOTFOUND)');
  });

  test('a connection not made within connect_timeout_ms fails with a connect timeout', async () => {
    const { http } = makeClient({ connect_timeout_ms: 150 });
    const slow = compilePolicy({ allow: ['http://stuck.test'], allow_addresses: [] });
    const never: Resolver = () => new Promise(() => {});
    const started = performance.now();
    const error = await failsWith(
      http.request(makeContext(slow, { resolve: never }), {
        method: 'GET',
        url: 'http://stuck.test/',
        headers: {},
        timeoutMs: 5000,
      }),
      'timeout',
    );
    assert.equal(
      error.message,
      'HTTP.request: connect timeout: no connection to http://stuck.test within 150 ms',
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 1000, `failed after ${elapsed} ms`);
  });

  test('the total timeout also cuts short a connection attempt that hangs', async () => {
    const { http } = makeClient({ connect_timeout_ms: 2500 });
    const slow = compilePolicy({ allow: ['http://stuck.test'], allow_addresses: [] });
    const never: Resolver = () => new Promise(() => {});
    const started = performance.now();
    const error = await failsWith(
      http.request(makeContext(slow, { resolve: never }), {
        method: 'GET',
        url: 'http://stuck.test/',
        headers: {},
        timeoutMs: 150,
      }),
      'timeout',
    );
    assert.match(
      error.message,
      /^HTTP\.request: total timeout: http:\/\/stuck\.test did not answer within 150 ms/,
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 1000, `failed after ${elapsed} ms`);
  });

  test('TLS verifies the certificate (a self-signed one fails) and sends the host name as SNI', async (t) => {
    const tls = await startTlsServer();
    if (typeof tls === 'string') {
      t.skip(tls);
      return;
    }
    try {
      const { http } = makeClient();
      const named = compilePolicy({
        allow: [`https://api.test:${tls.port}`],
        allow_addresses: ['127.0.0.1'],
      });
      const resolve = tableResolver({ 'api.test': [{ address: '127.0.0.1', family: 4 }] });
      const error = await failsWith(
        http.request(makeContext(named, { resolve }), {
          method: 'GET',
          url: `https://api.test:${tls.port}/`,
          headers: {},
        }),
        'connect_error',
      );
      assert.match(
        error.message,
        /TLS failure talking to https:\/\/api\.test:\d+ \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/,
      );
      assert.deepEqual(tls.servernames, ['api.test']);
    } finally {
      await tls.close();
    }
  });

  test('messages and records never contain a property value or the query string', async () => {
    const { http } = makeClient({ max_response_bytes: 10 });
    const records: OutboundCallRecord[] = [];
    const ctx = makeContext(policy(), { record: (call) => records.push(call) });
    const query = '?token=QUERY-SECRET';
    const headers = { Authorization: { $property: 'api_key' } };
    const errors: OutboundError[] = [
      await failsWith(
        http.request(ctx, { method: 'GET', url: `${other.origin}/echo${query}`, headers }),
        'refused',
      ),
      await failsWith(
        http.request(ctx, {
          method: 'GET',
          url: `${server.origin}/slow${query}&ms=1000`,
          headers,
          timeoutMs: 50,
        }),
        'timeout',
      ),
      await failsWith(
        http.request(ctx, { method: 'GET', url: `${server.origin}/big${query}&n=100`, headers }),
        'too_large',
      ),
    ];
    const ok = await http.request(ctx, { method: 'get', url: `${server.origin}/utf8${query}`, headers });
    assert.ok(!JSON.stringify(ok.headers).includes(SECRET), 'response headers carry no property value');
    for (const error of errors) {
      assert.ok(!error.message.includes('QUERY-SECRET'), `query string in: ${error.message}`);
    }
    const text = JSON.stringify(records);
    assert.ok(!text.includes('QUERY-SECRET') && !text.includes(SECRET), `records leak: ${text}`);
    assert.equal(records.length, 4);
    assert.deepEqual(
      records.map(({ method, url, status, error }) => ({ method, url, status, error })),
      [
        { method: 'GET', url: `${other.origin}/echo`, status: null, error: 'refused' },
        { method: 'GET', url: `${server.origin}/slow`, status: null, error: 'timeout' },
        { method: 'GET', url: `${server.origin}/big`, status: null, error: 'too_large' },
        { method: 'GET', url: `${server.origin}/utf8`, status: 200, error: null },
      ],
    );
    assert.ok(
      records.every((record) => Number.isInteger(record.ms) && record.ms >= 0),
      'ms is a whole number',
    );
  });
});
