/**
 * PostgreSQL or Redis going away and coming back, through TCP proxies the test cuts,
 * and a Redis process and a PostgreSQL server of the test's own stopped and started again:
 * requests that need the service fail fast with internal_server_error, /readyz turns
 * 503, the node recovers by itself, and nothing acknowledged is lost. Needs
 * REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL; skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from './helpers/ports.js';
import { backchannel, basic, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';
import { tcpProxy } from './helpers/tcp-proxy.js';

const POSTGRES = process.env.REGISTRAR_TEST_POSTGRES_URL;
const REDIS = process.env.REGISTRAR_TEST_REDIS_URL;
const skip =
  POSTGRES && REDIS
    ? false
    : 'REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL are not set: start them with eval "$(scripts/test-services.sh start)"';

/** Stores `data` under key `k`, or fetches it when `data` is "get". */
const CACHE_SCRIPT = `function execute(data) {
  if (data === 'get') return { status: 2000, responsePayload: String(CACHE.fetch('k')) };
  CACHE.store('k', data);
  return { status: 2000, responsePayload: 'stored' };
}`;

describe('backends that fail and come back', { skip }, () => {
  const database = `registrar_faults_${randomBytes(4).toString('hex')}`;
  let r: TestRegistrar;
  let pgProxy: ReturnType<typeof tcpProxy>;
  let redisProxy: ReturnType<typeof tcpProxy>;
  let pgPort = 0;
  let redisPort = 0;

  const timed = async <T>(work: () => Promise<T>) => {
    const started = performance.now();
    const value = await work();
    return { value, ms: performance.now() - started };
  };
  const ready = async () => (await r.app.inject({ method: 'GET', url: '/readyz' })).statusCode;
  const waitFor = async (what: string, check: () => Promise<boolean>, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await check()) return;
      await sleep(100);
    }
    assert.fail(`${what} did not happen within ${ms} ms`);
  };

  before(async () => {
    const admin = new pg.Client({ connectionString: POSTGRES });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const pgUrl = new URL(POSTGRES ?? '');
    const redisUrl = new URL(REDIS ?? '');
    pgProxy = tcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    redisProxy = tcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
    pgPort = await pgProxy.start(0);
    redisPort = await redisProxy.start(0);
    const storage = new URL(POSTGRES ?? '');
    storage.port = String(pgPort);
    storage.pathname = `/${database}`;
    r = await startRegistrar({
      storage: { url: storage.toString(), postgres: { connect_timeout_ms: 500 } },
      cache: {
        url: `redis://127.0.0.1:${redisPort}`,
        redis: { key_prefix: `${database}:`, command_timeout_ms: 500, connect_timeout_ms: 500 },
      },
      identity_providers: [idp('c', { backchannel: CACHE_SCRIPT })],
    });
  });

  after(async () => {
    await r?.close();
    await pgProxy?.stop();
    await redisProxy?.stop();
    const admin = new pg.Client({ connectionString: POSTGRES });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  test('with both up, a store is acknowledged and /readyz is 200', async () => {
    const res = await backchannel(r.app, 'c', 'before-outage');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(await ready(), 200);
  });

  test('Redis down: CACHE requests fail fast with internal_server_error and /readyz is 503', async () => {
    await redisProxy.stop();
    const { value: res, ms } = await timed(() => backchannel(r.app, 'c', 'get'));
    assert.equal(res.statusCode, 500, res.body);
    assert.equal(JSON.parse(res.body).error, 'internal_server_error');
    assert.ok(ms < 1500, `answered in ${Math.round(ms)} ms`);
    const readyz = await timed(ready);
    assert.equal(readyz.value, 503);
    assert.ok(readyz.ms < 1500, `/readyz answered in ${Math.round(readyz.ms)} ms`);
  });

  test('Redis back: the node recovers by itself and the acknowledged store is still there', async () => {
    await redisProxy.start(redisPort);
    await waitFor('recovery', async () => (await ready()) === 200);
    await waitFor('the sandbox reading the CACHE again', async () => {
      const res = await backchannel(r.app, 'c', 'get');
      return res.statusCode === 200 && JSON.parse(res.body).data === 'before-outage';
    });
  });

  test('PostgreSQL down: requests fail fast with internal_server_error and /readyz is 503', async () => {
    await pgProxy.stop();
    // What the node read in the last storage.postgres.read_cache_ms (500 ms) it may still use:
    // once that has passed, the request needs PostgreSQL.
    await sleep(600);
    const { value: res, ms } = await timed(() => backchannel(r.app, 'c', 'get'));
    assert.equal(res.statusCode, 500, res.body);
    assert.ok(ms < 1500, `answered in ${Math.round(ms)} ms`);
    const readyz = await timed(ready);
    assert.equal(readyz.value, 503);
    assert.ok(readyz.ms < 1500, `/readyz answered in ${Math.round(readyz.ms)} ms`);
  });

  test('PostgreSQL back: the node recovers by itself', async () => {
    await pgProxy.start(pgPort);
    await waitFor('recovery', async () => (await ready()) === 200);
    const res = await backchannel(r.app, 'c', 'get');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(JSON.parse(res.body).data, 'before-outage');
  });
});

describe('a Redis process that is stopped and started again', { skip }, () => {
  const database = `registrar_restart_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'registrar-redis-restart-'));
  let redis: ChildProcess | undefined;
  let port = 0;
  let r: TestRegistrar;

  /** A Redis of this test's own, durable (append-only file, fsync always) so a restart keeps what it acknowledged. */
  const startRedis = async () => {
    redis = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
      ],
      { stdio: 'ignore' },
    );
    // Listening means ready: Redis loads its append-only file before it accepts connections.
    for (let i = 0; i < 100; i++) {
      const listening = await new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (listening) return;
      await sleep(50);
    }
    assert.fail('redis-server did not start');
  };
  const stopRedis = async () => {
    const child = redis;
    redis = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };

  before(async () => {
    const admin = new pg.Client({ connectionString: POSTGRES });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    port = await freePort();
    await startRedis();
    const storage = new URL(POSTGRES ?? '');
    storage.pathname = `/${database}`;
    r = await startRegistrar({
      storage: { url: storage.toString() },
      cache: {
        url: `redis://127.0.0.1:${port}`,
        redis: { command_timeout_ms: 500, connect_timeout_ms: 500 },
      },
      identity_providers: [idp('c', { backchannel: CACHE_SCRIPT })],
    });
  });

  after(async () => {
    await r?.close();
    await stopRedis();
    rmSync(dir, { recursive: true, force: true });
    const admin = new pg.Client({ connectionString: POSTGRES });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  test('requests fail fast while it is down; after the restart the node recovers and the acknowledged store is there', async () => {
    assert.equal((await backchannel(r.app, 'c', 'acknowledged')).statusCode, 200);
    await stopRedis();
    const started = performance.now();
    const down = await backchannel(r.app, 'c', 'get');
    assert.equal(down.statusCode, 500, down.body);
    assert.ok(performance.now() - started < 1500, 'answered within 1.5 s');
    assert.equal((await r.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
    await startRedis();
    const deadline = Date.now() + 10_000;
    let data: unknown;
    while (Date.now() < deadline) {
      const res = await backchannel(r.app, 'c', 'get');
      data = res.statusCode === 200 ? JSON.parse(res.body).data : undefined;
      if (data === 'acknowledged') break;
      await sleep(100);
    }
    assert.equal(data, 'acknowledged');
    assert.equal((await r.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  });
});

describe('a PostgreSQL server that is stopped and started again', { skip }, () => {
  const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'test-services.sh');
  const env = {
    ...process.env,
    REGISTRAR_TEST_SERVICES_DIR: mkdtempSync(join(tmpdir(), 'registrar-pg-restart-')),
    REGISTRAR_TEST_PG_PORT: '0',
    REGISTRAR_TEST_REDIS_PORT: '0',
  };
  const services = (command: string) => execFileSync('bash', [SCRIPT, command], { env, encoding: 'utf8' });
  let r: TestRegistrar;

  before(async () => {
    env.REGISTRAR_TEST_PG_PORT = String(await freePort());
    env.REGISTRAR_TEST_REDIS_PORT = String(await freePort());
    // A PostgreSQL (and Redis) of this test's own, so stopping it disturbs no other test.
    const exports = services('start');
    const storage = /REGISTRAR_TEST_POSTGRES_URL=(\S+)/.exec(exports)?.[1];
    const cache = /REGISTRAR_TEST_REDIS_URL=(\S+)/.exec(exports)?.[1];
    assert.ok(storage && cache, exports);
    r = await startRegistrar({
      api_clients: [
        { client_id: 'portal', client_secret: 'portal-secret', scopes: ['user_registration'] },
        { client_id: 'admin', client_secret: 'admin-secret', scopes: ['admin'] },
      ],
      storage: { url: storage, postgres: { connect_timeout_ms: 500 } },
      cache: { url: cache },
      identity_providers: [idp('c', { backchannel: CACHE_SCRIPT })],
    });
  });

  after(async () => {
    await r?.close();
    services('stop');
  });

  test('requests fail fast while it is down; after the restart the node recovers and acknowledged writes are there', async () => {
    const created = await r.app.inject({
      method: 'POST',
      url: '/api/v1/configuration/api-clients',
      headers: { authorization: basic('admin', 'admin-secret') },
      payload: { client_id: 'crm', client_secret: 'crm-secret', scopes: ['user_registration'] },
    });
    assert.equal(created.statusCode, 201, created.body);
    services('pg-stop');
    await sleep(600); // past storage.postgres.read_cache_ms
    const started = performance.now();
    const down = await backchannel(r.app, 'c', 'get');
    assert.equal(down.statusCode, 500, down.body);
    assert.ok(performance.now() - started < 1500, 'answered within 1.5 s');
    assert.equal((await r.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
    services('pg-start');
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await backchannel(r.app, 'c', 'get', { authorization: basic('crm', 'crm-secret') }))
        .statusCode;
      if (status === 200) break;
      await sleep(100);
    }
    assert.equal(status, 200, 'the client created before the stop authenticates after the restart');
    assert.equal((await r.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  });
});
