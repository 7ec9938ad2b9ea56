/**
 * Two Registrar processes on one PostgreSQL and one Redis, as behind a load balancer:
 * the QR registration starts on node A and completes on node B, and a change made
 * through node A's admin API is honoured by node B. Needs REGISTRAR_TEST_POSTGRES_URL
 * and REGISTRAR_TEST_REDIS_URL (`.ci/run` sets them); skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { awayFromWindowEdge } from './helpers/counters-suite.js';
import { freePort } from './helpers/ports.js';
import { basic } from './helpers/registrar.js';
import { ServerProcess, waitUntilHealthy } from './helpers/server-process.js';

const POSTGRES = process.env.REGISTRAR_TEST_POSTGRES_URL;
const REDIS = process.env.REGISTRAR_TEST_REDIS_URL;
const skip =
  POSTGRES && REDIS
    ? false
    : 'REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL are not set: start them with eval "$(scripts/test-services.sh start)"';
const FIXTURES = join(import.meta.dirname, 'fixtures', 'scripts');

describe('two nodes on one PostgreSQL and one Redis', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'registrar-multi-node-'));
  const database = `registrar_mn_${randomBytes(4).toString('hex')}`;
  const nodes: Array<{ server: ServerProcess; base: string }> = [];
  let env: Record<string, string | undefined> = {};
  const portal = basic('portal', 'portal-secret');
  const admin = basic('admin', 'admin-secret');
  const app = basic('app', 'app-secret');

  const call = async (node: number, method: string, path: string, auth: string, body?: unknown) => {
    const target = nodes[node];
    assert.ok(target, `node ${node} runs`);
    const res = await fetch(`${target.base}${path}`, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  before(async () => {
    const admin = new pg.Client({ connectionString: POSTGRES });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const storageUrl = new URL(POSTGRES ?? '');
    storageUrl.pathname = `/${database}`;
    const configPath = join(dir, 'registrar.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { scrypt_log_n: 10, config_refresh_ms: 200 },
        engine: { sandbox_processes: 1 },
        cache: { redis: { key_prefix: `${database}:` } },
        api_clients: [
          { client_id: 'portal', client_secret: 'portal-secret', scopes: ['user_registration'] },
          { client_id: 'admin', client_secret: 'admin-secret', scopes: ['admin', 'token_introspection'] },
        ],
        applications: [
          {
            client_id: 'app',
            client_secret: 'app-secret',
            identity_providers: ['qr', 'props'],
            scopes: ['openid'],
          },
        ],
        identity_providers: [
          {
            id: 'qr',
            scripts: {
              backchannel: join(FIXTURES, 'published-qr-backchannel.js'),
              complete: join(FIXTURES, 'published-qr-complete.js'),
            },
          },
          {
            id: 'props',
            scripts: {
              backchannel: {
                source:
                  'function execute(id) { return { status: 2000, responsePayload: String(PROPERTIES.get(id)) }; }',
              },
              complete: { source: 'function execute() { return { status: 2000, user: { id: "u" } }; }' },
            },
          },
          {
            id: 'count',
            scripts: {
              backchannel: {
                source:
                  'function execute(k) { return { status: 2000, responsePayload: String(CACHE.increment(k)) }; }',
              },
              complete: { source: 'function execute() { return { status: 2000, user: { id: "u" } }; }' },
            },
            rate_limits: [{ endpoint: 'backchannel', per: 'client', limit: 150, window_seconds: 3600 }],
          },
        ],
        properties: [{ id: 'greeting', value: 'hello' }],
      }),
    );
    env = {
      REGISTRAR_CONFIG: configPath,
      REGISTRAR_STORAGE_URL: storageUrl.toString(),
      REGISTRAR_CACHE_URL: REDIS,
      REGISTRAR_SECRET_KEY: randomBytes(32).toString('base64'),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    };
    // Both start at once: migrations and the config load must cope with a concurrent twin.
    const starting = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const port = await freePort();
        const server = new ServerProcess({ ...env, PORT: String(port), REGISTRAR_DATA_DIR: join(dir, name) });
        return { server, base: `http://127.0.0.1:${port}` };
      }),
    );
    nodes.push(...starting);
    await Promise.all(nodes.map(({ server, base }) => waitUntilHealthy(server, base)));
  });

  after(async () => {
    await Promise.all(nodes.map(({ server }) => server.kill()));
    rmSync(dir, { recursive: true, force: true });
    if (POSTGRES) {
      const admin = new pg.Client({ connectionString: POSTGRES });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
  });

  test('both nodes are ready on the shared backends', async () => {
    for (const node of [0, 1]) {
      const res = await call(node, 'GET', '/readyz', portal);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
  });

  test('the QR registration starts on node A and completes on node B, once', async () => {
    const started = await call(0, 'POST', '/oauth/api/v3/custom-registration/qr/backchannel', portal, {
      data: JSON.stringify({ userId: 'alice' }),
    });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.status, 2000);
    const code = String(started.body.data);
    const completed = await call(1, 'POST', '/oauth/custom-registration/qr/complete', app, { data: code });
    assert.equal(completed.status, 200, JSON.stringify(completed.body));
    assert.equal(completed.body.status, 2000, JSON.stringify(completed.body));
    const token = (completed.body.oauth_token as { access_token: string }).access_token;
    const introspected = await fetch(`${nodes[0]?.base}/oauth/introspect`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    const info = (await introspected.json()) as { active: boolean; sub: string };
    assert.deepEqual([info.active, info.sub], [true, 'alice'], 'node A knows the token node B issued');
    const again = await call(0, 'POST', '/oauth/custom-registration/qr/complete', app, { data: code });
    assert.equal(again.body.status, 5000, 'the one-time code is gone on every node');
  });

  test('CACHE.increment and a declarative limit across two server processes: exact counts, then 429', async () => {
    await awayFromWindowEdge(3600);
    const path = '/oauth/api/v3/custom-registration/count/backchannel';
    const key = `mn-${Date.now()}`;
    // One call per node first (another IdP, so the limit below is untouched): the burst is
    // about lost increments, not about two servers starting sandbox processes on a busy machine.
    for (const node of [0, 1]) {
      const warm = await call(node, 'POST', '/oauth/api/v3/custom-registration/qr/backchannel', portal, {
        data: JSON.stringify({ userId: 'warm' }),
      });
      assert.equal(warm.status, 200, JSON.stringify(warm.body));
    }
    const answers = await Promise.all(
      Array.from({ length: 150 }, (_, i) => call(i % 2, 'POST', path, portal, { data: key })),
    );
    for (const res of answers) assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      answers.map((res) => Number(res.body.data)).sort((a, b) => a - b),
      Array.from({ length: 150 }, (_, i) => i + 1),
      'no increment lost, each execution saw a distinct count',
    );
    for (const node of nodes) {
      const limited = await fetch(`${node.base}${path}`, {
        method: 'POST',
        headers: { authorization: portal, 'content-type': 'application/json' },
        body: JSON.stringify({ data: key }),
      });
      assert.equal(limited.status, 429);
      assert.equal(((await limited.json()) as { error: string }).error, 'too_many_requests');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    }
  });

  test('a client created on node A works on node B; deleted on A, B refuses it within a second', async () => {
    const created = await call(0, 'POST', '/api/v1/configuration/api-clients', admin, {
      client_id: 'crm',
      client_secret: 'crm-secret',
      scopes: ['user_registration'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const crm = basic('crm', 'crm-secret');
    const onB = await call(1, 'POST', '/oauth/api/v3/custom-registration/props/backchannel', crm, {
      data: 'greeting',
    });
    assert.equal(onB.status, 200, JSON.stringify(onB.body));
    assert.equal((await call(0, 'DELETE', '/api/v1/configuration/api-clients/crm', admin)).status, 204);
    const onA = await call(0, 'POST', '/oauth/api/v3/custom-registration/props/backchannel', crm, {
      data: 'x',
    });
    assert.equal(onA.status, 400, 'the node that deleted it refuses it at once');
    // Node B may reuse what it read for storage.postgres.read_cache_ms (500 ms): within a second.
    const deadline = Date.now() + 1000;
    let refused = { status: 0, body: {} as Record<string, unknown> };
    while (Date.now() < deadline) {
      refused = await call(1, 'POST', '/oauth/api/v3/custom-registration/props/backchannel', crm, {
        data: 'greeting',
      });
      if (refused.status === 400) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_client');
  });

  test('a property changed through node A reaches node B’s scripts within a second', async () => {
    const changed = await call(0, 'PUT', '/api/v1/configuration/properties/greeting', admin, {
      value: 'bonjour',
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const deadline = Date.now() + 1000;
    let seen = '';
    while (Date.now() < deadline) {
      const res = await call(1, 'POST', '/oauth/api/v3/custom-registration/props/backchannel', portal, {
        data: 'greeting',
      });
      seen = String(res.body.data);
      if (seen === 'bonjour') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(seen, 'bonjour');
  });

  test('a node on the shared storage without REGISTRAR_SECRET_KEY refuses to start, saying why in one line', async () => {
    const { REGISTRAR_SECRET_KEY: _key, ...withoutKey } = env;
    const server = new ServerProcess({ ...withoutKey, PORT: '0', REGISTRAR_DATA_DIR: join(dir, 'keyless') });
    const { code } = await server.exited;
    assert.equal(code, 1);
    const lines = server.stderr.trim().split('\n');
    assert.deepEqual(lines, [
      'REGISTRAR_SECRET_KEY must be set when storage is shared (PostgreSQL): every node needs the same key to read what the others encrypted',
    ]);
  });
});
