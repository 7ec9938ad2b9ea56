/**
 * The Redis SandboxCache (a worker thread owns the connection; calls block only the calling
 * thread) against a real Redis: it sees what RedisCacheStore stores and vice versa, DEL is
 * atomic across sandboxes, and it fails fast, and heals, when Redis is away. Needs
 * REGISTRAR_TEST_REDIS_URL (eval "$(scripts/test-services.sh start)"); keys live under a
 * random prefix, removed at the end.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { RedisCacheStore } from '../src/storage/redis/cache-store.js';
import { closeRedis, openRedis } from '../src/storage/redis/connection.js';
import { openRedisSandboxCache, type RedisSandboxCache } from '../src/storage/redis/sandbox-cache.js';
import { freePort, listen } from './helpers/ports.js';
import { removePrefix } from './helpers/redis-keys.js';
import { sandboxCacheConformance } from './helpers/sandbox-cache-conformance.js';

const url = process.env.REGISTRAR_TEST_REDIS_URL;

if (!url) {
  test('Redis sandbox cache', {
    skip: 'REGISTRAR_TEST_REDIS_URL is not set (eval "$(scripts/test-services.sh start)" starts a Redis)',
  }, () => {});
} else {
  sandboxCacheSuite(url);
  sandboxCacheConformance('Redis (a worker thread per sandbox)', async () => {
    const prefix = `registrar-test:${randomBytes(8).toString('hex')}:`;
    const options = { connectTimeoutMs: 500, commandTimeoutMs: 1000, keyPrefix: prefix };
    const server = openRedis(url, options);
    const admin = openRedis(url, { ...options, keyPrefix: '' });
    return {
      store: new RedisCacheStore(server),
      openSandbox: () => openRedisSandboxCache(url, options),
      async close() {
        await removePrefix(admin, prefix);
        await closeRedis(server);
        await closeRedis(admin);
      },
    };
  });
}

function sandboxCacheSuite(url: string): void {
  const prefix = `registrar-test:${randomBytes(8).toString('hex')}:`;
  const options = { connectTimeoutMs: 500, commandTimeoutMs: 1000, keyPrefix: prefix };
  const admin = openRedis(url, { ...options, keyPrefix: '' });
  const server = openRedis(url, options);
  const store = new RedisCacheStore(server);
  const caches: RedisSandboxCache[] = [];
  const open = (target = url, overrides: Partial<typeof options> = {}) => {
    const cache = openRedisSandboxCache(target, { ...options, ...overrides });
    caches.push(cache);
    return cache;
  };
  after(async () => {
    for (const cache of caches) cache.close();
    await removePrefix(admin, prefix);
    await closeRedis(server);
    await closeRedis(admin);
  });

  describe('Redis sandbox cache', () => {
    const cache = open();

    test('start-up cost and per-call latency (printed, not asserted)', async () => {
      await store.set('latency', '{"n":1}', 60_000);
      const createdAt = performance.now();
      const fresh = open();
      const constructed = performance.now() - createdAt;
      assert.equal(fresh.getSync('latency'), '{"n":1}');
      const firstCall = performance.now() - createdAt;
      fresh.close();
      const samples = (call: () => unknown) =>
        Array.from({ length: 500 }, () => {
          const started = performance.now();
          call();
          return performance.now() - started;
        }).sort((a, b) => a - b);
      const at = (sorted: number[], q: number) =>
        (sorted[Math.floor(q * (sorted.length - 1))] ?? 0).toFixed(3);
      const gets = samples(() => cache.getSync('latency'));
      const deletes = samples(() => cache.deleteSync('latency-absent'));
      console.log(
        `sandbox cache: constructor ${constructed.toFixed(1)} ms, worker start + first GET ${firstCall.toFixed(1)} ms; ` +
          `getSync p50 ${at(gets, 0.5)} p99 ${at(gets, 0.99)} ms; deleteSync p50 ${at(deletes, 0.5)} p99 ${at(deletes, 0.99)} ms`,
      );
    });

    test('getSync reads what RedisCacheStore.set and setMany stored, byte for byte', async () => {
      const big = JSON.stringify('x'.repeat(64 * 1024));
      const values: Array<[string, string]> = [
        ['json', '{"a":[1,2,{"b":null}],"s":"q\\"uote"}'],
        ['unicode ключ ✓', '"héllo wörld ✓ 日本語 🚀"'],
        ['empty', ''],
        ['big', big],
      ];
      for (const [key, value] of values) await store.set(key, value, 60_000);
      for (const [key, value] of values) assert.equal(cache.getSync(key), value, `set: ${key}`);
      await store.setMany(values.map(([key, value]) => [`many:${key}`, `${value}!`, 60_000] as const));
      for (const [key, value] of values)
        assert.equal(cache.getSync(`many:${key}`), `${value}!`, `setMany: ${key}`);
      assert.equal(cache.getSync('never-stored'), null);
      assert.equal((await admin.get(`${prefix}cache:big`))?.length, big.length, 'same key layout');
    });

    test('deleteSync is DEL: true only when it removed an entry, and the server sees it', async () => {
      await store.set('d', '1', 60_000);
      assert.equal(cache.deleteSync('d'), true);
      assert.equal(await store.get('d'), null);
      assert.equal(cache.deleteSync('d'), false);
      assert.equal(cache.deleteSync('never-stored'), false);
      await store.set('d', '2', 60_000);
      assert.equal(cache.getSync('d'), '2');
      assert.equal(await store.delete('d'), true);
      assert.equal(cache.getSync('d'), null);
    });

    test('an entry is gone for getSync once its TTL has passed', async () => {
      await store.set('ttl', '"short"', 500);
      assert.equal(cache.getSync('ttl'), '"short"');
      await sleep(800);
      assert.equal(cache.getSync('ttl'), null);
      assert.equal(cache.deleteSync('ttl'), false);
    });

    test('of two sandboxes racing deleteSync on one key, exactly one gets true (50 rounds)', async () => {
      const keys = Array.from({ length: 50 }, (_, i) => `race:${i}`);
      await store.setMany(keys.map((key) => [key, '1', 60_000] as const));
      const barrier = new Int32Array(new SharedArrayBuffer(keys.length * 4));
      const results = await Promise.all([0, 1].map(() => racer(url, options, keys, barrier)));
      const wins = results.map((won) => won.filter(Boolean).length);
      for (let i = 0; i < keys.length; i++) {
        const winners = results.filter((won) => won[i] === true).length;
        assert.equal(winners, 1, `round ${i}: ${winners} deleteSync calls returned true`);
      }
      console.log(`race: sandbox A won ${wins[0]} rounds, sandbox B ${wins[1]}`);
    });

    test('with nothing listening, calls throw within 1.5 s, and keep doing so', () => {
      const down = open('redis://127.0.0.1:1');
      assert.throws(
        () => down.getSync('k'),
        /the cache is unavailable/,
        'first call (includes the worker start)',
      );
      for (const call of [() => down.getSync('k'), () => down.deleteSync('k')]) {
        const started = performance.now();
        assert.throws(call, /the cache is unavailable/, 'a call while Redis is down throws');
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 1500, `threw after ${Math.round(elapsed)} ms`);
      }
    });

    test('a black-holed Redis (accepts, never answers) throws after about commandTimeoutMs', async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => sockets.add(socket));
      const port = await listen(silent, 0);
      try {
        const hole = open(`redis://127.0.0.1:${port}`, { commandTimeoutMs: 500 });
        assert.throws(() => hole.getSync('warm-up'), /the cache is unavailable/, 'first call throws');
        const started = performance.now();
        assert.throws(() => hole.getSync('k'), /the cache is unavailable/, 'second call throws');
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 1500, `threw after ${Math.round(elapsed)} ms`);
        hole.close();
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    test('when Redis comes (back) up the next call works; close() drops the connection', async () => {
      const port = await freePort();
      const target = `redis://127.0.0.1:${port}`;
      const later = open(target);
      assert.throws(() => later.getSync('k'), /the cache is unavailable/, 'throws while nothing listens');
      const child = await startRedis(port);
      const direct = openRedis(target, options);
      try {
        await new RedisCacheStore(direct).set('k', '"back"', 60_000);
        let value: string | null | undefined;
        const deadline = Date.now() + 5000;
        while (value === undefined && Date.now() < deadline) {
          try {
            value = later.getSync('k');
          } catch {
            await sleep(100);
          }
        }
        assert.equal(value, '"back"', 'read once the worker has reconnected');
        const clients = async () => Number(/connected_clients:(\d+)/.exec(await direct.info('clients'))?.[1]);
        const before = await clients();
        later.close();
        assert.throws(() => later.getSync('k'), /the cache is unavailable: closed/, 'a closed cache throws');
        let now = before;
        for (let i = 0; i < 40 && now >= before; i++) {
          await sleep(50);
          now = await clients();
        }
        assert.equal(now, before - 1, 'the worker connection is gone after close()');
      } finally {
        await closeRedis(direct);
        child.kill();
      }
    });
  });
}

/** Runs deleteSync on every key from its own thread (and its own sandbox cache), in step with the other racer. */
function racer(url: string, options: object, keys: string[], barrier: Int32Array): Promise<boolean[]> {
  const code = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  (await import(workerData.tsx)).register();
  const { openRedisSandboxCache } = await import(workerData.module);
  const { url, options, keys, barrier } = workerData;
  const cache = openRedisSandboxCache(url, options);
  cache.getSync('warm-up');
  const won = keys.map((key, round) => {
    if (Atomics.add(barrier, round, 1) === 1) Atomics.notify(barrier, round);
    else Atomics.wait(barrier, round, 1, 5000);
    return cache.deleteSync(key);
  });
  cache.close();
  parentPort.postMessage(won);
})().catch((error) => parentPort.postMessage(String(error && error.stack)));`;
  const module = new URL('../src/storage/redis/sandbox-cache.ts', import.meta.url).href;
  const workerData = { tsx: import.meta.resolve('tsx/esm/api'), module, url, options, keys, barrier };
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData, execArgv: [] });
    worker.once('message', (message: boolean[] | string) => {
      void worker.terminate();
      if (typeof message === 'string') reject(new Error(message));
      else resolve(message);
    });
    worker.once('error', reject);
  });
}

/** A throwaway redis-server on `port`, resolved once it answers. */
async function startRedis(port: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const quick = { connectTimeoutMs: 200, commandTimeoutMs: 200, keyPrefix: '' };
  const probe = openRedis(`redis://127.0.0.1:${port}`, quick);
  const answers = () =>
    probe.ping().then(
      () => true,
      () => false,
    );
  try {
    for (let i = 0; i < 50; i++, await sleep(100)) if (await answers()) return child;
    child.kill();
    throw new Error(`redis-server did not start on port ${port}`);
  } finally {
    await closeRedis(probe);
  }
}
