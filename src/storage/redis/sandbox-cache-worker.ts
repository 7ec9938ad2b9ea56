/**
 * The worker thread behind {@link RedisSandboxCache}: owns one ioredis connection (opened with
 * `openRedis`, so it fails fast and reconnects by itself) and answers CACHE commands posted on
 * its port, through {@link RedisCacheStore} so the semantics and key layout are the server's.
 * After posting each reply it sets and notifies the reply slot, which wakes the waiting caller.
 */
import { workerData } from 'node:worker_threads';
import { RedisCacheStore } from './cache-store.js';
import { openRedis } from './connection.js';
import {
  REPLY_SLOT,
  STATE_READY,
  STATE_SLOT,
  type WorkerReply,
  type WorkerRequest,
  type WorkerSetup,
} from './sandbox-cache-protocol.js';

const { url, options, port, signal } = workerData as WorkerSetup;
const store = new RedisCacheStore(openRedis(url, options), true);

port.on('message', (request: WorkerRequest) => {
  void answer(request);
});

async function answer({ id, op, key, delta = 0, ttlMs = 0 }: WorkerRequest): Promise<void> {
  let reply: WorkerReply;
  try {
    const value =
      op === 'get'
        ? await store.get(key)
        : op === 'delete'
          ? await store.delete(key)
          : await store.increment(key, delta, ttlMs);
    reply = { id, ok: true, value };
  } catch (error) {
    reply = { id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  // Post first, then signal: a caller that sees the slot set always finds the reply queued.
  port.postMessage(reply);
  Atomics.store(signal, REPLY_SLOT, 1);
  Atomics.notify(signal, REPLY_SLOT);
}

Atomics.store(signal, STATE_SLOT, STATE_READY);
Atomics.notify(signal, STATE_SLOT);
