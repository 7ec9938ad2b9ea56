/**
 * CACHE.increment, RATE.take and declarative rate limits on two Registrar instances
 * sharing one PostgreSQL database (configuration) and one Redis (CACHE and counters),
 * each with its own sandbox processes. Needs REGISTRAR_TEST_POSTGRES_URL and
 * REGISTRAR_TEST_REDIS_URL; skipped with the reason otherwise.
 */
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { closeRedis, openRedis } from '../src/storage/redis/connection.js';
import { countersAcrossNodes, countersConfig } from './helpers/counters-suite.js';
import { removePrefix } from './helpers/redis-keys.js';
import { startRegistrar } from './helpers/registrar.js';

const POSTGRES = process.env.REGISTRAR_TEST_POSTGRES_URL;
const REDIS = process.env.REGISTRAR_TEST_REDIS_URL;

if (!POSTGRES || !REDIS) {
  describe('counters on PostgreSQL + Redis', () => {
    test('two nodes', {
      skip: 'REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL are not set: start them with eval "$(scripts/test-services.sh start)"',
    }, () => {});
  });
} else {
  const database = `registrar_counters_${randomBytes(4).toString('hex')}`;
  const prefix = `${database}:`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: POSTGRES });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  after(async () => {
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    const redis = openRedis(REDIS, { connectTimeoutMs: 1000, commandTimeoutMs: 2000, keyPrefix: '' });
    await removePrefix(redis, prefix);
    await closeRedis(redis);
  });

  countersAcrossNodes('PostgreSQL + Redis', async () => {
    await admin(`CREATE DATABASE ${database}`);
    const storageUrl = new URL(POSTGRES);
    storageUrl.pathname = `/${database}`;
    const raw = {
      ...countersConfig(),
      // A burst of 100 requests per node on a cold read memo queries PostgreSQL 100 times
      // (concurrent misses are not shared); on a busy machine some wait past the default 1 s
      // for one of the pool's 10 connections. The counters are what this test is about.
      storage: { url: storageUrl.toString(), postgres: { connect_timeout_ms: 20_000 } },
      cache: { url: REDIS, redis: { key_prefix: prefix } },
    };
    const secretKey = randomBytes(32);
    const a = await startRegistrar(raw, { secretKey });
    const b = await startRegistrar(raw, { secretKey });
    return [a, b];
  });
}
