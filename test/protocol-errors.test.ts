import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ConnectionError } from 'fastify';
import { clientErrorHandler, MAX_PARAM_LENGTH } from '../src/http/protocol-errors.js';
import { RawConnection, type RawResponse } from './helpers/raw-http.js';
import { basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const ADMIN = { client_id: 'admin', client_secret: 'admin-secret' } as const;
/** The longest IdP id the schema allows. */
const LONG_IDP = 'i'.repeat(128);
/** Client ids of the longest kinds: 255 UTF-8 bytes; reserved characters stay percent-encoded for the router (765). */
const LONG_CLIENTS = ['€'.repeat(85), 'x'.repeat(255), '/?#'.repeat(85)];
const BACKCHANNEL = 'function execute(p) { return { status: 2000, responsePayload: p }; }';

/**
 * Errors from the router and from Node's HTTP parser (security review, issue 13): every
 * one is `{error, error_description}` with the usual headers, and says
 * `Connection: close` when the server closes the connection after it.
 */
describe('protocol errors over a real port', () => {
  let r: TestRegistrar;
  let port: number;
  const connections: RawConnection[] = [];
  const open = async () => {
    const connection = await RawConnection.open(port);
    connections.push(connection);
    return connection;
  };
  const healthz = 'GET /healthz HTTP/1.1\r\nHost: registrar\r\n\r\n';

  /** The documented error shape and headers. */
  const expectError = (res: RawResponse, status: number, error = 'invalid_request') => {
    assert.equal(res.status, status, res.body);
    assert.equal(res.headers['content-type'], 'application/json;charset=UTF-8');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers.pragma, 'no-cache');
    assert.match(res.headers['x-request-id'] ?? '', /^[A-Za-z0-9._:-]{1,64}$/);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
    assert.equal(body.error, error);
    assert.equal(typeof body.error_description, 'string');
  };
  /** The server answered, said so, and closed the connection cleanly (no reset). */
  const expectClosed = async (connection: RawConnection, res: RawResponse) => {
    assert.equal(res.headers.connection, 'close');
    assert.equal(await connection.closed(), true, 'the server closed the connection');
    assert.equal(connection.error, undefined, 'no connection reset');
  };
  /** The connection is still usable: a next request on it is answered. */
  const expectKeptAlive = async (connection: RawConnection) => {
    connection.send(healthz);
    assert.equal((await connection.response()).status, 200);
  };

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
        ...LONG_CLIENTS.map((client_id) => ({ client_id, client_secret: 's', scopes: [] })),
      ],
      identity_providers: [idp(LONG_IDP, { backchannel: BACKCHANNEL })],
    });
    const address = await r.app.listen({ host: '127.0.0.1', port: 0 });
    port = Number(new URL(address).port);
  });
  after(async () => {
    for (const connection of connections) connection.destroy();
    await r.close();
  });

  test('bad percent-encoding in a path is invalid_request; the connection stays usable', async () => {
    const connection = await open();
    connection.send(
      'POST /oauth/api/v3/custom-registration/%zz/backchannel HTTP/1.1\r\nHost: registrar\r\nContent-Length: 0\r\n\r\n',
    );
    expectError(await connection.response(), 400);
    await expectKeptAlive(connection);
  });

  test('ids as long as the schemas allow reach their routes', async () => {
    const connection = await open();
    const auth = basic(PORTAL.client_id, PORTAL.client_secret);
    connection.send(
      `POST /oauth/api/v3/custom-registration/${LONG_IDP}/backchannel HTTP/1.1\r\nHost: registrar\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"data":"x"}`,
    );
    const res = await connection.response();
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { status: 2000, data: 'x' });
    for (const id of LONG_CLIENTS) {
      connection.send(
        `GET /api/v1/configuration/api-clients/${encodeURIComponent(id)} HTTP/1.1\r\nHost: registrar\r\nAuthorization: ${basic(ADMIN.client_id, ADMIN.client_secret)}\r\n\r\n`,
      );
      const read = await connection.response();
      assert.equal(read.status, 200, read.body);
      assert.equal(JSON.parse(read.body).client_id, id);
    }
  });

  test(`a path parameter over ${MAX_PARAM_LENGTH} characters is 414 invalid_request`, async () => {
    const connection = await open();
    const id = 'a'.repeat(MAX_PARAM_LENGTH + 1);
    connection.send(
      `POST /oauth/api/v3/custom-registration/${id}/backchannel HTTP/1.1\r\nHost: registrar\r\nContent-Length: 0\r\n\r\n`,
    );
    expectError(await connection.response(), 414);
    await expectKeptAlive(connection);
  });

  test('headers over 16 KiB are 431 invalid_request, then Connection: close', async () => {
    const connection = await open();
    connection.send(`GET /healthz HTTP/1.1\r\nHost: registrar\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
    const res = await connection.response();
    expectError(res, 431);
    await expectClosed(connection, res);
  });

  test('an Expect other than 100-continue is 417 invalid_request; the connection stays usable', async () => {
    const connection = await open();
    connection.send('GET /healthz HTTP/1.1\r\nHost: registrar\r\nExpect: foo\r\n\r\n');
    expectError(await connection.response(), 417);
    await expectKeptAlive(connection);
  });

  test('Expect: 100-continue still works', async () => {
    const connection = await open();
    connection.send(
      'POST /oauth/api/v3/custom-registration/nope/backchannel HTTP/1.1\r\nHost: registrar\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n',
    );
    const first = await connection.response();
    assert.equal(first.status, 100);
    expectError(await connection.response(), 400, 'invalid_client');
  });

  for (const [what, request] of [
    [
      'both Transfer-Encoding and Content-Length',
      'POST /healthz HTTP/1.1\r\nHost: registrar\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
    ],
    [
      'two different Content-Lengths',
      'POST /healthz HTTP/1.1\r\nHost: registrar\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    ],
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n'],
    [
      'a malformed chunked body, read after the route has started',
      'POST /oauth/api/v3/custom-registration/nope/backchannel HTTP/1.1\r\nHost: registrar\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    ],
  ]) {
    test(`${what}: 400 invalid_request, then Connection: close`, async () => {
      const connection = await open();
      connection.send(request as string);
      const res = await connection.response();
      expectError(res, 400);
      await expectClosed(connection, res);
    });
  }

  test('pipelined: the requests before a bad one are answered first, in order', async () => {
    const connection = await open();
    connection.send(
      `${healthz}${healthz}GET /healthz HTTP/1.1\r\nHost: registrar\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
    );
    assert.equal((await connection.response()).status, 200);
    assert.equal((await connection.response()).status, 200);
    const res = await connection.response();
    expectError(res, 431);
    await expectClosed(connection, res);
  });

  test('an HTTP/1.1 request without Host: 400 invalid_request, then Connection: close', async () => {
    const connection = await open();
    connection.send('GET /healthz HTTP/1.1\r\n\r\n');
    const res = await connection.response();
    expectError(res, 400);
    await expectClosed(connection, res);
  });

  test('a protocol upgrade is refused and the connection closed, so nothing after it hangs', async () => {
    const connection = await open();
    connection.send(
      'GET /healthz HTTP/1.1\r\nHost: registrar\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    const res = await connection.response();
    expectError(res, 400);
    await expectClosed(connection, res);
  });

  test('CONNECT is refused in the same shape', async () => {
    const connection = await open();
    connection.send('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    const res = await connection.response();
    expectError(res, 400);
    await expectClosed(connection, res);
  });

  test('a keep-alive client (fetch) gets no reset on its next request after a 431', async () => {
    const big = await fetch(`http://127.0.0.1:${port}/healthz`, {
      headers: { 'x-big': 'a'.repeat(17 * 1024) },
    });
    assert.equal(big.status, 431);
    assert.equal(big.headers.get('connection'), 'close');
    assert.equal(((await big.json()) as { error: string }).error, 'invalid_request');
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  });

  test('a request that does not arrive in time (the parser timeout Node reports) is 408', async () => {
    // Node's header timeout is 60 s: hand the handler the same error on a socket of our own.
    const timeout = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    const server: Server = createServer((socket) =>
      clientErrorHandler(r.app.log)(timeout as unknown as ConnectionError, socket),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      assert.ok(address && typeof address === 'object');
      const connection = await RawConnection.open(address.port);
      connections.push(connection);
      const res = await connection.response();
      expectError(res, 408);
      await expectClosed(connection, res);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
