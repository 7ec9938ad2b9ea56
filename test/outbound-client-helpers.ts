/**
 * Shared fixtures of the outbound-client tests: a real loopback HTTP server with a few
 * behaviours (echo, slow, large, streaming, redirects) that records every request it sees,
 * default limits, a context builder and an assertion helper for OutboundErrors.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OutboundHttp } from '../src/outbound/client.js';
import { OutboundMetrics } from '../src/outbound/metrics.js';
import type { EgressPolicy } from '../src/outbound/policy.js';
import {
  type OutboundContext,
  OutboundError,
  type OutboundFailureKind,
  type OutboundLimits,
} from '../src/outbound/types.js';

/** A request as the test server saw it. */
export interface SeenRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly startedAt: number;
  endedAt: number | null;
}

export interface TestServer {
  readonly port: number;
  /** `http://host:port`, IPv6 hosts bracketed. */
  readonly origin: string;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** The property value tests must never find in a message or a record. */
export const SECRET = 'SECRET-PROPERTY-VALUE-42';

function respond(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}

/** Writes `total` bytes in 1000-byte chunks (chunked encoding), or forever when total is Infinity. */
function stream(res: ServerResponse, total: number, everyMs: number) {
  res.writeHead(200, { 'content-type': 'text/plain' });
  let sent = 0;
  const timer = setInterval(() => {
    const size = Math.min(1000, total - sent);
    if (size <= 0) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write('x'.repeat(size));
    sent += size;
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

/** Starts the test server on `host` (port 0). Routes are documented inline. */
export async function startServer(host = '127.0.0.1'): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const record: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        startedAt: performance.now(),
        endedAt: null,
      };
      seen.push(record);
      res.on('finish', () => {
        record.endedAt = performance.now();
      });
      const url = new URL(req.url ?? '/', 'http://test');
      const number = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
      switch (url.pathname) {
        case '/echo': // the request as JSON, plus a repeated header
          res.setHeader('X-Multi', ['a', 'b']);
          respond(
            res,
            200,
            JSON.stringify({
              method: record.method,
              url: record.url,
              headers: req.headers,
              body: record.body,
            }),
            { 'content-type': 'application/json', 'X-Upper-Case': 'yes' },
          );
          return;
        case '/slow': {
          // answers after ?ms= milliseconds
          const timer = setTimeout(() => respond(res, 200, 'slow done'), number('ms', 500));
          res.on('close', () => clearTimeout(timer));
          return;
        }
        case '/big': // ?n= bytes with Content-Length
          respond(res, 200, 'x'.repeat(number('n', 0)), { 'content-length': String(number('n', 0)) });
          return;
        case '/chunked': // ?n= bytes without Content-Length (n=-1: forever)
          stream(res, number('n', 0) < 0 ? Number.POSITIVE_INFINITY : number('n', 0), 2);
          return;
        case '/redirect': // ?status= (default 302) to ?to=
          respond(res, number('status', 302), 'moved', { location: url.searchParams.get('to') ?? '/echo' });
          return;
        case '/loop': // redirects to itself forever
          respond(res, 302, 'again', { location: '/loop' });
          return;
        case '/utf8':
          respond(res, 200, 'héllo ✓');
          return;
        default:
          respond(res, 404, 'not found');
      }
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const origin = host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
  return {
    port,
    origin,
    seen,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * An HTTPS server on 127.0.0.1 with a fresh self-signed certificate for `api.test`, recording
 * the SNI names clients send. Returns a reason string instead when openssl is unavailable.
 */
export async function startTlsServer(): Promise<
  { port: number; servernames: string[]; close(): Promise<void> } | string
> {
  const dir = await mkdtemp(join(tmpdir(), 'registrar-tls-'));
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=api.test',
      '-addext',
      'subjectAltName=DNS:api.test',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
    const servernames: string[] = [];
    const server = createHttpsServer(
      {
        key,
        cert,
        SNICallback: (name, done) => {
          servernames.push(name);
          done(null);
        },
      },
      (_req, res) => res.end('tls'),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    return {
      port,
      servernames,
      close: async () => {
        server.closeAllConnections();
        server.close();
        await once(server, 'close');
      },
    };
  } catch (error) {
    return `cannot create a test certificate with openssl: ${String(error)}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Limits for tests: the production defaults, redirects off. */
export const LIMITS: OutboundLimits = {
  connect_timeout_ms: 2500,
  max_response_bytes: 1024 * 1024,
  max_concurrent_per_idp: 10,
  follow_redirects: false,
  max_redirects: 5,
};

/** A client with `overrides` over LIMITS, and its metrics. */
export function makeClient(overrides: Partial<OutboundLimits> = {}) {
  const metrics = new OutboundMetrics();
  return { http: new OutboundHttp({ ...LIMITS, ...overrides }, metrics), metrics };
}

/** A context for `policy` with 10 s of wall time and the `api_key` property set to SECRET. */
export function makeContext(policy: EgressPolicy, overrides: Partial<OutboundContext> = {}): OutboundContext {
  return {
    idpId: 'idp-a',
    policy,
    deadline: performance.now() + 10_000,
    properties: new Map([['api_key', SECRET]]),
    ...overrides,
  };
}

/** Awaits `promise`, asserts it fails with an OutboundError of `kind`, and returns that error. */
export async function failsWith(
  promise: Promise<unknown>,
  kind: OutboundFailureKind,
): Promise<OutboundError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OutboundError, `expected an OutboundError, got ${String(error)}`);
    assert.equal(error.kind, kind, `kind of "${error.message}"`);
    assert.ok(error.message.startsWith('HTTP.request: '), `message prefix: ${error.message}`);
    assert.ok(!error.message.includes(SECRET), `message leaks the property value: ${error.message}`);
    return error;
  }
  assert.fail(`expected a ${kind} failure, but the call succeeded`);
}
