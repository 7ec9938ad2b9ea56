import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { SandboxCache } from '../types.js';
import {
  REPLY_SLOT,
  STATE_FAILED,
  STATE_SLOT,
  STATE_STARTING,
  type WorkerConnectionOptions,
  type WorkerReply,
  type WorkerRequest,
  type WorkerSetup,
} from './sandbox-cache-protocol.js';

/** How {@link openRedisSandboxCache} connects: `openRedis`'s settings, plus a start-up bound. */
export interface RedisSandboxCacheOptions extends WorkerConnectionOptions {
  /**
   * How long the first call waits for the worker thread to load (not for Redis: the worker
   * reports ready before it has connected). Defaults to {@link DEFAULT_STARTUP_TIMEOUT_MS}.
   */
  startupTimeoutMs?: number;
}

/** Loading the worker under tsx (from sources) takes a few hundred ms; from dist/ tens of ms. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 5000;
/** What a call waits beyond `commandTimeoutMs`, for the worker's own (timed-out) reply to arrive. */
const REPLY_GRACE_MS = 200;

const runningFromSource = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./sandbox-cache-worker.${runningFromSource ? 'ts' : 'js'}`, import.meta.url).href;
/** From sources the worker thread needs tsx too; a worker does not inherit the parent's loader hooks. */
const TSX_API = runningFromSource ? import.meta.resolve('tsx/esm/api') : null;
/**
 * The worker's entry (CommonJS, evaluated): registers tsx when running from sources, imports
 * the worker module, and reports a failure to load through the port and the state slot, so
 * the caller fails at once instead of waiting out the start-up bound.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  const tsx = ${JSON.stringify(TSX_API)};
  if (tsx !== null) (await import(tsx)).register();
  await import(${JSON.stringify(WORKER_URL)});
})().catch((error) => {
  workerData.port.postMessage({ id: 0, ok: false, error: String((error && error.stack) || error) });
  Atomics.store(workerData.signal, ${STATE_SLOT}, ${STATE_FAILED});
  Atomics.notify(workerData.signal, ${STATE_SLOT});
});
`;

/**
 * The CACHE in Redis for a sandbox process: the same entries as the server's
 * {@link RedisCacheStore} (`GET`/`DEL`/the increment script on `<prefix>cache:<key>`), used synchronously. A worker
 * thread owns the ioredis connection; a call posts a tagged request to it and blocks only the
 * calling thread (`Atomics.wait`) until the reply or `commandTimeoutMs + 200` ms, then throws
 * `the cache is unavailable: ...`. A reply that arrives after its call gave up is discarded.
 * While Redis is down calls fail fast; they work again once the worker has reconnected.
 */
export class RedisSandboxCache implements SandboxCache {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  private readonly replyTimeoutMs: number;
  private readonly startupTimeoutMs: number;
  private nextId = 0;
  private started = false;
  /** Why the worker is gone (failed to load, crashed, closed); every call throws it from then on. */
  private failure: string | undefined;

  /** Starts the worker (asynchronously: the constructor does not wait for it). Prefer {@link openRedisSandboxCache}. */
  constructor(url: string, options: RedisSandboxCacheOptions) {
    const { startupTimeoutMs = DEFAULT_STARTUP_TIMEOUT_MS, ...connection } = options;
    this.replyTimeoutMs = connection.commandTimeoutMs + REPLY_GRACE_MS;
    this.startupTimeoutMs = startupTimeoutMs;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const setup: WorkerSetup = { url, options: connection, port: port2, signal: this.signal };
    this.worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: setup,
      transferList: [port2],
      // Not the parent's: a sandbox runs with --no-node-snapshot, which a worker refuses.
      execArgv: [],
    });
    this.worker.on('error', (error) => {
      this.failure ??= `the Redis worker failed: ${error.message}`;
    });
    this.worker.on('exit', (code) => {
      this.failure ??= `the Redis worker exited (code ${code})`;
    });
    // The worker never keeps the process alive; close() ends it.
    this.worker.unref();
  }

  getSync(key: string): string | null {
    return this.call('get', key) as string | null;
  }

  deleteSync(key: string): boolean {
    return this.call('delete', key) as boolean;
  }

  incrementSync(key: string, delta: number, ttlMs: number): number | null {
    return this.call('increment', key, { delta, ttlMs }) as number | null;
  }

  /**
   * Resolves once the worker thread has loaded (or failed to, or the start-up bound has
   * passed; the calls report that), without blocking the calling thread. A sandbox awaits it
   * before it takes work, so no execution pays the worker's start-up: its CPU (the worker
   * thread's is the process's) would count against the first script's CPU-time limit.
   */
  async whenStarted(): Promise<void> {
    const deadline = performance.now() + this.startupTimeoutMs;
    while (this.failure === undefined && Atomics.load(this.signal, STATE_SLOT) === STATE_STARTING) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) return;
      // Polled: Atomics.waitAsync with a timeout is not safe everywhere (see the prelude).
      await sleep(Math.min(remaining, 10));
    }
  }

  /** Terminates the worker thread, which closes its Redis connection; later calls throw. */
  close(): void {
    if (this.failure === 'closed') return;
    this.failure = 'closed';
    this.port.close();
    this.worker.terminate().catch(() => {});
  }

  private call(op: WorkerRequest['op'], key: string, extra: Partial<WorkerRequest> = {}): unknown {
    this.awaitStart();
    const id = ++this.nextId;
    const request: WorkerRequest = { ...extra, id, op, key };
    this.port.postMessage(request);
    const deadline = performance.now() + this.replyTimeoutMs;
    for (;;) {
      // Clear, then drain: a reply posted before a set we clear here is already queued.
      Atomics.store(this.signal, REPLY_SLOT, 0);
      for (let got = receiveMessageOnPort(this.port); got; got = receiveMessageOnPort(this.port)) {
        const reply = got.message as WorkerReply;
        if (reply.id !== id) continue; // late: its call has already thrown
        if (!reply.ok) throw unavailable(reply.error);
        return reply.value;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw unavailable(`no reply from Redis within ${this.replyTimeoutMs} ms`);
      Atomics.wait(this.signal, REPLY_SLOT, 0, remaining);
    }
  }

  /** Waits (blocking) until the worker has loaded, at most the start-up bound; throws if it cannot. */
  private awaitStart(): void {
    if (this.failure !== undefined) throw unavailable(this.failure);
    if (this.started) return;
    const deadline = performance.now() + this.startupTimeoutMs;
    while (Atomics.load(this.signal, STATE_SLOT) === STATE_STARTING) {
      const remaining = deadline - performance.now();
      if (remaining <= 0)
        throw unavailable(`the Redis worker did not start within ${this.startupTimeoutMs} ms`);
      Atomics.wait(this.signal, STATE_SLOT, STATE_STARTING, remaining);
    }
    if (Atomics.load(this.signal, STATE_SLOT) === STATE_FAILED) {
      const reply = receiveMessageOnPort(this.port)?.message as WorkerReply | undefined;
      this.failure = `the Redis worker failed to start: ${reply && !reply.ok ? reply.error : 'unknown error'}`;
      throw unavailable(this.failure);
    }
    this.started = true;
  }
}

/**
 * Opens the CACHE of a sandbox process over Redis: `url` is a `redis://` or `rediss://` URL,
 * `options` the same connection settings as `openRedis` (same `keyPrefix`, so the sandbox
 * sees what the server stores). Costs one worker thread start, paid off the calling thread
 * and awaited by the first call; `close()` ends the worker and its connection.
 */
export function openRedisSandboxCache(url: string, options: RedisSandboxCacheOptions): RedisSandboxCache {
  return new RedisSandboxCache(url, options);
}

function unavailable(reason: string): Error {
  return new Error(`the cache is unavailable: ${reason}`);
}
