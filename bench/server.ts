/**
 * The server under benchmark: the real app on a temp SQLite database (or on
 * BENCH_STORAGE_URL / BENCH_CACHE_URL: PostgreSQL and Redis), plus one
 * baseline route that does the same Basic authentication and JSON parsing as the
 * backchannel but runs no script. Writes `{"port": N, "pid": N}` on fd 3 when listening;
 * logs on stdout.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.js';
import { createDeps } from '../src/bootstrap.js';
import { parseConfig } from '../src/config/load.js';
import { RegistrarError } from '../src/errors.js';
import { requireScope } from '../src/http/authenticate.js';
import { readClientCredentials } from '../src/http/client-credentials.js';
import { JSON_CONTENT_TYPE } from '../src/http/errors.js';
import { createLogger } from '../src/logging.js';
import { parseBackchannelBody } from '../src/registration/backchannel-body.js';

import { BENCH_APP, BENCH_CLIENT } from './fixtures.js';

const QR_SCRIPT = `function execute(requestPayload) {
  var userId = JSON.parse(requestPayload).userId;
  var identifier = java.util.UUID.randomUUID().toString();
  CACHE.store(identifier, userId, 60);
  return { status: 2000, responsePayload: identifier };
}`;

/**
 * Misbehaving neighbours for the "runaway neighbour" scenarios: each IdP's backchannel
 * script holds a sandbox in its own way. The load process calls them beside the measured
 * backchannel. `upstream` waits on a slow HTTP server of the load process (BENCH_UPSTREAM).
 */
const NEIGHBOURS: Record<string, string> = {
  loop: 'function execute(p) { while (true) {} }',
  alloc: 'function execute(p) { var keep = []; while (true) { keep.push(new Array(100000).fill(1)); } }',
  atomics:
    'function execute(p) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); return { status: 2000 }; }',
  sparse: 'function execute(p) { var a = []; a[4294967294] = 1; a.lastIndexOf(2); return { status: 2000 }; }',
  upstream: `function execute(p) {
    var answer = HTTP.request({ method: 'GET', url: ${JSON.stringify(`${process.env.BENCH_UPSTREAM ?? 'http://127.0.0.1:9'}/slow`)} });
    return { status: 2000, responsePayload: String(answer.status) };
  }`,
};

const dataDir = mkdtempSync(join(tmpdir(), 'registrar-bench-'));
const config = parseConfig(
  {
    api_clients: [{ ...BENCH_CLIENT, scopes: ['user_registration'] }],
    applications: [
      { ...BENCH_APP, identity_providers: ['direct'], scopes: ['read'], default_scopes: ['read'] },
    ],
    identity_providers: [
      { id: 'qr', scripts: { backchannel: { source: QR_SCRIPT }, complete: { source: QR_SCRIPT } } },
      ...Object.entries(NEIGHBOURS).map(([id, source]) => ({
        id,
        scripts: { backchannel: { source }, complete: { source: QR_SCRIPT } },
        ...(id === 'upstream' && process.env.BENCH_UPSTREAM
          ? { http: { allow: [process.env.BENCH_UPSTREAM] } }
          : {}),
      })),
      // complete with token issuance: the user comes from the payload, so every request registers.
      {
        id: 'direct',
        scripts: {
          complete: {
            source: 'function execute(p) { return { status: 2000, user: { id: JSON.parse(p).userId } }; }',
          },
        },
      },
    ],
    engine: JSON.parse(process.env.BENCH_ENGINE ?? '{}'),
    // The scale-out run: PostgreSQL storage and a Redis CACHE (bench/run.ts makes the database).
    ...(process.env.BENCH_STORAGE_URL ? { storage: { url: process.env.BENCH_STORAGE_URL } } : {}),
    ...(process.env.BENCH_CACHE_URL
      ? { cache: { url: process.env.BENCH_CACHE_URL, redis: { key_prefix: `bench-${process.pid}:` } } }
      : {}),
  },
  { baseDir: dataDir, dataDir },
);
// Logs as in production: level info (BENCH_LOG_LEVEL to change) on stdout, which bench/run.ts points at a file.
const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'info');
const deps = await createDeps(config, { logger, secretKey: randomBytes(32) });
const app = buildApp(config, deps);

// The baseline: same body parsing and client authentication (with its credential cache), no script.
app.register(async (scope) => {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  scope.post('/bench/baseline', async (request, reply) => {
    const body = parseBackchannelBody(request.headers['content-type'], request.body as Buffer | undefined);
    const client = await deps.authenticators.apiClients.authenticate(
      readClientCredentials(request.headers.authorization, body.form),
    );
    requireScope(client, 'user_registration');
    if (body.data === null) throw new RegistrarError('invalid_request');
    const userId = JSON.parse(body.data).userId as string;
    return reply
      .code(200)
      .type(JSON_CONTENT_TYPE)
      .send(JSON.stringify({ status: 2000, data: userId }));
  });
});

const address = await app.listen({ host: '127.0.0.1', port: 0 });
writeSync(3, `${JSON.stringify({ port: Number(new URL(address).port), pid: process.pid })}\n`);
process.on('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
