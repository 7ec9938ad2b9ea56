/**
 * The Redis backend (CACHE and registration transactions) against a real Redis: the shared
 * conformance suites plus what only Redis has (native expiry, key layout, fail-fast when
 * Redis is unreachable, reconnection). Needs REGISTRAR_TEST_REDIS_URL (scripts/test-services.sh
 * starts a throwaway Redis and prints it); every fixture works under its own random key
 * prefix and removes its keys on close, so test files may run in parallel on one Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RATE_KEY_SPACE, RedisCacheStore } from '../src/storage/redis/cache-store.js';
import { closeRedis, openRedis } from '../src/storage/redis/connection.js';
import { RedisTransactionStore } from '../src/storage/redis/transaction-store.js';
import type { RegistrationTransaction } from '../src/storage/types.js';
import { counterConformance } from './helpers/counter-conformance.js';
import { listen } from './helpers/ports.js';
import { keysUnder, removePrefix } from './helpers/redis-keys.js';
import { cacheStoreConformance } from './helpers/storage-conformance.js';
import { tcpProxy } from './helpers/tcp-proxy.js';
import { transactionStoreConformance } from './helpers/transaction-conformance.js';

const url = process.env.REGISTRAR_TEST_REDIS_URL;
const NATIVE_EXPIRY = 'Redis expires keys on its own, so purgeExpired has nothing left to count';

if (!url) {
  test('Redis storage', {
    skip: 'REGISTRAR_TEST_REDIS_URL is not set (eval "$(scripts/test-services.sh start)" starts a Redis)',
  }, () => {});
} else {
  redisSuites(url);
}

function redisSuites(url: string): void {
  /** A connection without a prefix, for inspecting and cleaning up raw keys. */
  const admin = openRedis(url, { connectTimeoutMs: 1000, commandTimeoutMs: 2000, keyPrefix: '' });
  /**
   * Connections not closed yet. Node 20 runs no afterEach hook after a test that skips
   * itself (the suites' clock-only cases), so whatever is left is closed at the end.
   */
  const open = new Set<() => Promise<void>>();
  after(async () => {
    for (const close of [...open]) await close();
    await closeRedis(admin);
  });

  /** A connection under a fresh random prefix, and how to remove every key under it. */
  const connect = () => {
    const prefix = `registrar-test:${randomBytes(8).toString('hex')}:`;
    const redis = openRedis(url, { connectTimeoutMs: 1000, commandTimeoutMs: 1000, keyPrefix: prefix });
    const close = async () => {
      open.delete(close);
      await removePrefix(admin, prefix);
      await closeRedis(redis);
    };
    open.add(close);
    return { prefix, redis, close };
  };

  cacheStoreConformance(
    'Redis',
    async () => {
      const { redis, close } = connect();
      // No injected clock: Redis expires entries on its own, so the suite waits for real
      // with short TTLs and skips the exact-boundary case.
      return { store: new RedisCacheStore(redis), close };
    },
    { nativeExpiry: NATIVE_EXPIRY },
  );

  counterConformance('Redis CACHE key space', async () => {
    const { redis, close } = connect();
    const store = new RedisCacheStore(redis);
    return { store, cache: store, close };
  });

  counterConformance('Redis rate-limit key space', async () => {
    const { redis, close } = connect();
    return { store: new RedisCacheStore(redis, false, RATE_KEY_SPACE), close };
  });

  test('increment: counts live at <prefix>cache:<key> and <prefix>rate:<key>, with the TTL of their creation', async () => {
    const { prefix, redis, close } = connect();
    try {
      await new RedisCacheStore(redis).increment('k', 3, 60_000);
      await new RedisCacheStore(redis, false, RATE_KEY_SPACE).increment('k', 4, 30_000);
      assert.equal(await admin.get(`${prefix}cache:k`), '3');
      assert.equal(await admin.get(`${prefix}rate:k`), '4');
      const ttl = await admin.pttl(`${prefix}rate:k`);
      assert.ok(ttl > 25_000 && ttl <= 30_000, `pttl ${ttl}`);
      await new RedisCacheStore(redis, false, RATE_KEY_SPACE).increment('k', 1, 90_000);
      assert.ok((await admin.pttl(`${prefix}rate:k`)) <= 30_000, 'an increment keeps the expiry');
    } finally {
      await close();
    }
  });

  transactionStoreConformance(
    'Redis',
    async () => {
      const { redis, close } = connect();
      // The store checks expires_at against this clock after GETDEL; Redis's own TTL is
      // derived from the same clock when the transaction is created.
      let clock = Date.now();
      return {
        store: new RedisTransactionStore(redis, () => clock),
        now: () => clock,
        advance: (ms: number) => {
          clock += ms;
        },
        close,
      };
    },
    { nativeExpiry: NATIVE_EXPIRY },
  );

  describe('Redis specifics', () => {
    const transaction = (ttlMs: number): RegistrationTransaction => ({
      id: randomUUID(),
      idp_id: 'two-step',
      client_id: 'mobile',
      registration_data: '{"step":1}',
      created_at: Date.now(),
      expires_at: Date.now() + ttlMs,
    });

    test('the server is Redis 6.2 or newer, which GETDEL (take, consume) needs', async () => {
      const info = await admin.info('server');
      const version = /^redis_version:(\d+)\.(\d+)/m.exec(info);
      assert.ok(version, `a redis_version in INFO server: ${info.slice(0, 200)}`);
      const [major, minor] = [Number(version[1]), Number(version[2])];
      assert.ok(major > 6 || (major === 6 && minor >= 2), `Redis ${major}.${minor} is older than 6.2`);
    });

    test('keys are <prefix>cache:<key> and <prefix>txn:<id>, stored as given, with a native TTL', async () => {
      const c = connect();
      try {
        const key = 'ké y/\u0000:*?[x]';
        await new RedisCacheStore(c.redis).set(key, 'v', 60_000);
        const t = transaction(60_000);
        await new RedisTransactionStore(c.redis).create(t);
        assert.equal(await admin.get(`${c.prefix}cache:${key}`), 'v');
        const ttl = await admin.pttl(`${c.prefix}cache:${key}`);
        assert.ok(ttl > 55_000 && ttl <= 60_000, `cache PTTL ${ttl}`);
        assert.deepEqual(JSON.parse((await admin.get(`${c.prefix}txn:${t.id}`)) ?? 'null'), t);
        const txnTtl = await admin.pttl(`${c.prefix}txn:${t.id}`);
        assert.ok(txnTtl > 55_000 && txnTtl <= 60_000, `transaction PTTL ${txnTtl}`);
        assert.deepEqual((await keysUnder(admin, c.prefix)).sort(), [
          `${c.prefix}cache:${key}`,
          `${c.prefix}txn:${t.id}`,
        ]);
      } finally {
        await c.close();
      }
    });

    test('two prefixes are separate installations', async () => {
      const a = connect();
      const b = connect();
      try {
        await new RedisCacheStore(a.redis).set('k', 'a', 60_000);
        assert.equal(await new RedisCacheStore(b.redis).get('k'), null);
        assert.equal(await new RedisCacheStore(b.redis).take('k'), null);
        assert.equal(await new RedisCacheStore(a.redis).get('k'), 'a');
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('of 100 parallel takes and 100 parallel consumes of one key, exactly one wins each', async () => {
      const c = connect();
      try {
        const cache = new RedisCacheStore(c.redis);
        const transactions = new RedisTransactionStore(c.redis);
        // Separate connections too, so the commands really race inside Redis.
        const others = Array.from({ length: 4 }, () => connect());
        try {
          for (let round = 0; round < 5; round++) {
            await cache.set('once', `v${round}`, 60_000);
            const t = transaction(60_000);
            await transactions.create(t);
            const stores = [c, ...others].map((x) => ({
              cache: new RedisCacheStore(x.redis),
              transactions: new RedisTransactionStore(x.redis),
            }));
            const [taken, consumed] = await Promise.all([
              Promise.all(
                Array.from({ length: 100 }, (_, i) => stores[i % stores.length]?.cache.take('once')),
              ),
              Promise.all(
                Array.from({ length: 100 }, (_, i) => stores[i % stores.length]?.transactions.consume(t.id)),
              ),
            ]);
            assert.deepEqual(
              taken.filter((v) => v !== null),
              [`v${round}`],
              `round ${round}: one take wins`,
            );
            assert.deepEqual(
              consumed.filter((v) => v !== null).map((v) => v?.id),
              [t.id],
              `round ${round}: one consume wins`,
            );
          }
        } finally {
          for (const other of others) await other.close();
        }
      } finally {
        await c.close();
      }
    });

    test('a real 300 ms TTL expires in Redis itself, for cache entries and transactions', async () => {
      const c = connect();
      try {
        const cache = new RedisCacheStore(c.redis);
        const transactions = new RedisTransactionStore(c.redis);
        await cache.set('short', 'v', 300);
        await cache.setMany([['short-many', 'v', 300]]);
        await cache.set('long', 'kept', 60_000);
        const t = transaction(300);
        await transactions.create(t);
        assert.equal(await cache.get('short'), 'v', 'live at first');
        await sleep(450);
        // Checked on the raw keys: gone from Redis, not merely filtered by a clock.
        assert.equal(await admin.exists(`${c.prefix}cache:short`), 0, 'the cache entry is gone');
        assert.equal(await admin.exists(`${c.prefix}cache:short-many`), 0, 'the setMany entry is gone');
        assert.equal(await admin.exists(`${c.prefix}txn:${t.id}`), 0, 'the transaction is gone');
        assert.equal(await cache.get('short'), null);
        assert.equal(await cache.take('short-many'), null);
        assert.equal(await transactions.consume(t.id), null);
        assert.equal(await cache.get('long'), 'kept');
      } finally {
        await c.close();
      }
    });

    test('a TTL of zero or less stores nothing and removes an earlier entry', async () => {
      const c = connect();
      try {
        const cache = new RedisCacheStore(c.redis);
        await cache.set('k', 'old', 60_000);
        await cache.set('k', 'new', 0);
        assert.equal(await cache.get('k'), null);
        await cache.setMany([
          ['m', 'one', 60_000],
          ['m', 'two', -5],
          ['n', 'fractional', 60_000.5],
        ]);
        assert.equal(await cache.get('m'), null);
        assert.equal(await cache.get('n'), 'fractional', 'a fractional TTL is rounded up, not refused');
      } finally {
        await c.close();
      }
    });

    test('an expired transaction still claims its id until Redis drops it', async () => {
      const c = connect();
      try {
        const transactions = new RedisTransactionStore(c.redis);
        const t = { ...transaction(60_000), expires_at: Date.now() - 1 };
        await transactions.create(t);
        await assert.rejects(transactions.create(t), /exists/);
        assert.equal(await transactions.consume(t.id), null);
      } finally {
        await c.close();
      }
    });

    test('a claim is <prefix>txn-claim:<id> with the hold as its TTL, and keeps the transaction at least as long', async () => {
      const c = connect();
      try {
        const transactions = new RedisTransactionStore(c.redis);
        const t = transaction(1000);
        await transactions.create(t);
        const claim = await transactions.claim(t.id, 30_000);
        assert.ok(claim, 'claimed');
        assert.equal(await admin.get(`${c.prefix}txn-claim:${t.id}`), claim.token);
        const claimTtl = await admin.pttl(`${c.prefix}txn-claim:${t.id}`);
        assert.ok(claimTtl > 25_000 && claimTtl <= 30_000, `claim PTTL ${claimTtl}`);
        const txnTtl = await admin.pttl(`${c.prefix}txn:${t.id}`);
        assert.ok(txnTtl > 25_000, `the transaction outlives its claim's hold: PTTL ${txnTtl}`);
        assert.equal(await transactions.release(claim), true);
        assert.equal(await admin.exists(`${c.prefix}txn-claim:${t.id}`), 0, 'released: no claim key left');
      } finally {
        await c.close();
      }
    });

    test('of 100 parallel claims over several connections exactly one wins', async () => {
      const c = connect();
      const others = Array.from({ length: 4 }, () => connect());
      try {
        const t = transaction(60_000);
        await new RedisTransactionStore(c.redis).create(t);
        const stores = [c, ...others].map((x) => new RedisTransactionStore(x.redis));
        const claims = await Promise.all(
          Array.from({ length: 100 }, (_, i) => stores[i % stores.length]?.claim(t.id, 60_000)),
        );
        assert.equal(claims.filter((claim) => claim).length, 1);
      } finally {
        for (const other of others) await other.close();
        await c.close();
      }
    });

    test('a malformed stored transaction is an error, not a transaction', async () => {
      const c = connect();
      try {
        await admin.set(`${c.prefix}txn:bad`, '{"id":"bad"}', 'PX', 60_000);
        await assert.rejects(new RedisTransactionStore(c.redis).consume('bad'), /malformed/);
      } finally {
        await c.close();
      }
    });

    test('with Redis unreachable, get, set, take, ping, consume and claim reject within 1.5 s', async () => {
      const redis = openRedis('redis://127.0.0.1:1', {
        connectTimeoutMs: 500,
        commandTimeoutMs: 1000,
        keyPrefix: 'registrar-test:down:',
      });
      try {
        const cache = new RedisCacheStore(redis);
        const transactions = new RedisTransactionStore(redis);
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['get', () => cache.get('k')],
          ['set', () => cache.set('k', 'v', 1000)],
          ['take', () => cache.take('k')],
          ['ping', () => cache.ping()],
          ['consume', () => transactions.consume('t')],
          ['claim', () => transactions.claim('t', 1000)],
        ];
        // Twice: right after opening, and again while the client is between reconnections.
        for (const pass of [1, 2]) {
          for (const [name, call] of calls) {
            const started = performance.now();
            await assert.rejects(call(), Error, `${name} rejects (pass ${pass})`);
            const elapsed = performance.now() - started;
            assert.ok(elapsed < 1500, `${name} rejected after ${Math.round(elapsed)} ms (pass ${pass})`);
          }
          await sleep(150);
        }
      } finally {
        await closeRedis(redis);
      }
    });

    test('a black-holed Redis (accepts, never answers) fails fast too', async () => {
      const silent = createServer(() => {});
      const sockets = new Set<Socket>();
      silent.on('connection', (socket) => sockets.add(socket));
      const port = await listen(silent, 0);
      const redis = openRedis(`redis://127.0.0.1:${port}`, {
        connectTimeoutMs: 500,
        commandTimeoutMs: 1000,
        keyPrefix: 'registrar-test:silent:',
      });
      try {
        const started = performance.now();
        await assert.rejects(new RedisCacheStore(redis).get('k'), Error, 'get rejects');
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 1500, `get rejected after ${Math.round(elapsed)} ms`);
      } finally {
        await closeRedis(redis);
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    test('when Redis goes away and comes back, the store fails fast, then works again by itself', async () => {
      const target = new URL(url);
      const proxy = tcpProxy(target.hostname, Number(target.port || 6379));
      const port = await proxy.start(0);
      const prefix = `registrar-test:${randomBytes(8).toString('hex')}:`;
      const redis = openRedis(`redis://127.0.0.1:${port}`, {
        connectTimeoutMs: 500,
        commandTimeoutMs: 1000,
        keyPrefix: prefix,
      });
      try {
        const cache = new RedisCacheStore(redis);
        await cache.set('k', 'before', 60_000);
        assert.equal(await cache.get('k'), 'before');

        await proxy.stop();
        const started = performance.now();
        await assert.rejects(cache.get('k'), Error, 'get rejects while Redis is away');
        assert.ok(performance.now() - started < 1500, 'and does so fast');

        await proxy.start(port);
        let value: string | null | undefined;
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline) {
          value = await cache.get('k').catch(() => undefined);
          if (value !== undefined) break;
          await sleep(100);
        }
        assert.equal(value, 'before', 'the entry written before the outage is read again after it');
      } finally {
        await closeRedis(redis);
        await proxy.stop();
        await removePrefix(admin, prefix);
      }
    });
  });
}
