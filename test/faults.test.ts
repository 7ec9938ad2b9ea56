/**
 * PostgreSQL or Redis going away and coming back, through TCP proxies the test cuts:
 * requests that need the service fail fast with internal_server_error, /readyz turns
 * 503, the node recovers by itself, and nothing acknowledged is lost. Needs
 * REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL; skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { backchannel, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';
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
