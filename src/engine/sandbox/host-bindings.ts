import { randomUUID } from 'node:crypto';
import ivm from 'isolated-vm';
import type { EngineConfig } from '../../config/schema.js';
import type { SandboxCache } from '../../storage/types.js';
import type { CacheWrite, ExecReads } from '../protocol.js';
import type { CallBudget, OutboundCalls } from './outbound-calls.js';
import { counterTtlMs, fixedWindow, verdict } from './rate-window.js';

/** The largest `RATE.take` limit. */
export const MAX_RATE_LIMIT = 1_000_000_000;
/** Where `RATE.take` counts, in the CACHE: `RATE:<windowSeconds>:<window index>:<key>`. */
export const rateKey = (windowSeconds: number, index: number, key: string) =>
  `RATE:${windowSeconds}:${index}:${key}`;

/** The host side of the script globals, handed to every isolate's prelude. */
export interface HostBindings {
  cache: ivm.Callback;
  newUuid: ivm.Callback;
  getProperty: ivm.Callback;
  /** Behind `HTTP.request`: takes the request as JSON, resolves to the result as JSON (async executions only). */
  http: ivm.Reference<(requestJson: string) => Promise<string>>;
  /**
   * Starts a new execution: a fresh CACHE overlay (earlier stores are forgotten), the
   * dry run's scratch cache instead of the real one when given, and the outbound calls
   * it may make (none without a budget).
   */
  begin(scratch?: SandboxCache, calls?: CallBudget): void;
  /** The execution's stores, in order, for the server to commit; clears the overlay. */
  takeWrites(): CacheWrite[];
  /** Makes the next execution (its `begin`) note what it reads. */
  recordNext(): void;
  /** What the execution read, when it was noting it (see {@link recordNext}); clears it. */
  takeReads(): ExecReads | undefined;
}

/** Errors made for the script (isolated-vm copies plain Errors as such; a subclass would gain a `name`). */
const scriptErrors = new WeakSet<Error>();

/** An error meant for the script: its message only, no host stack. */
function scriptError(message: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  scriptErrors.add(error);
  return error;
}

/**
 * Builds the host functions behind CACHE, HTTP, java.util.UUID and PROPERTIES, for
 * one script slot (executions of one slot run one after another, so the per-execution
 * state here is never shared). They run
 * synchronously on the sandbox process's thread while the script waits. Every
 * argument arrives from an untrusted script, so each is checked here again.
 *
 * CACHE.store writes into a per-execution overlay that CACHE.fetch reads first; the
 * server commits the stores, batched with other executions', when the script has
 * returned and before it answers (one writer instead of every sandbox process
 * fighting over the database). CACHE.delete is immediate and atomic, so of two
 * executions deleting the same key only one is told it removed it. CACHE.increment and
 * RATE.take cannot wait for the server's commit (the script needs the new count at once):
 * each is one atomic increment made here, in the CACHE backend, committed when it
 * returns; on a dry run, in its scratch cache.
 */
export function createHostBindings(
  realCache: SandboxCache,
  limits: EngineConfig['cache'],
  properties: () => ReadonlyMap<string, string>,
  outbound: OutboundCalls,
): HostBindings {
  let pending = new Map<string, CacheWrite>();
  /** Bytes of keys and values in `pending`. */
  let pendingBytes = 0;
  let cache = realCache;
  let calls: CallBudget | null = null;
  /** Increments (RATE.take included) this execution may still make. */
  let countsLeft = limits.max_stores_per_execution;
  /** What this execution read, when it is recorded: the first value of each CACHE key and property. */
  let reads: { cache: Map<string, string | null>; properties: Map<string, string | null> } | null = null;
  let recordNext = false;
  const checkKey = (method: string, key: unknown): string => {
    if (typeof key !== 'string') throw scriptError(`CACHE.${method}: key must be a string`);
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > limits.max_key_bytes) {
      throw scriptError(`CACHE.${method}: the key is ${bytes} bytes; the limit is ${limits.max_key_bytes}`);
    }
    return key;
  };
  const store = (rawKey: unknown, json: unknown, ttlSeconds: unknown): void => {
    const key = checkKey('store', rawKey);
    if (typeof json !== 'string') throw scriptError('CACHE.store: value must be JSON-serialisable');
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > limits.max_value_bytes) {
      throw scriptError(
        `CACHE.store: the value is ${bytes} bytes as JSON; the limit is ${limits.max_value_bytes}`,
      );
    }
    const ttl = ttlSeconds ?? limits.default_ttl_seconds;
    if (typeof ttl !== 'number' || !(ttl > 0) || ttl > limits.max_ttl_seconds) {
      throw scriptError(`CACHE.store: ttlSeconds must be between 0 and ${limits.max_ttl_seconds}`);
    }
    const previous = pending.get(key);
    const size = Buffer.byteLength(key, 'utf8') + bytes;
    const total =
      pendingBytes -
      (previous ? Buffer.byteLength(key, 'utf8') + Buffer.byteLength(previous[1], 'utf8') : 0) +
      size;
    if (!previous && pending.size >= limits.max_stores_per_execution) {
      throw scriptError(
        `CACHE.store: an execution may store at most ${limits.max_stores_per_execution} keys`,
      );
    }
    if (total > limits.max_store_bytes_per_execution) {
      throw scriptError(
        `CACHE.store: an execution may store at most ${limits.max_store_bytes_per_execution} bytes in all`,
      );
    }
    pendingBytes = total;
    pending.delete(key);
    pending.set(key, [key, json, Math.round(ttl * 1000)]);
  };
  const fetch = (key: string): string | null => {
    const stored = pending.get(key);
    if (stored) return stored[1];
    const value = cache.getSync(key);
    if (reads && !reads.cache.has(key)) reads.cache.set(key, value);
    return value;
  };
  const remove = (key: string): boolean => {
    const dropped = pending.get(key);
    if (dropped) pendingBytes -= Buffer.byteLength(key, 'utf8') + Buffer.byteLength(dropped[1], 'utf8');
    const hadPending = pending.delete(key);
    return cache.deleteSync(key) || hadPending;
  };
  const count = (method: string, key: string, delta: number, ttlMs: number): number => {
    if (countsLeft <= 0) {
      throw scriptError(
        `${method}: an execution may count (CACHE.increment, RATE.take) at most ${limits.max_stores_per_execution} times`,
      );
    }
    countsLeft--;
    const value = cache.incrementSync(key, delta, ttlMs);
    if (value === null) throw scriptError(`${method}: the value under this key is not an integer`);
    return value;
  };
  const increment = (rawKey: unknown, delta: unknown, ttlSeconds: unknown): number => {
    const key = checkKey('increment', rawKey);
    if (typeof delta !== 'number' || !Number.isSafeInteger(delta)) {
      throw scriptError('CACHE.increment: delta must be an integer');
    }
    const ttl = ttlSeconds ?? limits.default_ttl_seconds;
    if (typeof ttl !== 'number' || !(ttl > 0) || ttl > limits.max_ttl_seconds) {
      throw scriptError(`CACHE.increment: ttlSeconds must be between 0 and ${limits.max_ttl_seconds}`);
    }
    if (pending.has(key)) {
      throw scriptError(
        'CACHE.increment: this execution stored the key with CACHE.store; count in a key of its own',
      );
    }
    return count('CACHE.increment', key, delta, Math.round(ttl * 1000));
  };
  const take = (rawKey: unknown, limit: unknown, windowSeconds: unknown): string => {
    if (typeof rawKey !== 'string') throw scriptError('RATE.take: key must be a string');
    const bytes = Buffer.byteLength(rawKey, 'utf8');
    if (bytes > limits.max_key_bytes) {
      throw scriptError(`RATE.take: the key is ${bytes} bytes; the limit is ${limits.max_key_bytes}`);
    }
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_RATE_LIMIT) {
      throw scriptError(`RATE.take: limit must be an integer from 1 to ${MAX_RATE_LIMIT}`);
    }
    const window = windowSeconds;
    if (
      typeof window !== 'number' ||
      !Number.isInteger(window) ||
      window < 1 ||
      window > limits.max_ttl_seconds
    ) {
      throw scriptError(`RATE.take: windowSeconds must be an integer from 1 to ${limits.max_ttl_seconds}`);
    }
    const now = Date.now();
    const { index, endsAt } = fixedWindow(now, window);
    const used = count('RATE.take', rateKey(window, index, rawKey), 1, counterTtlMs(now, endsAt));
    return JSON.stringify(verdict(used, limit, now, endsAt));
  };
  const operation = (op: unknown, key: unknown, json: unknown, ttlSeconds: unknown): unknown => {
    try {
      switch (op) {
        case 'increment':
          return increment(key, json, ttlSeconds);
        case 'rate':
          return take(key, json, ttlSeconds);
        case 'store':
          return store(key, json, ttlSeconds);
        case 'fetch':
          return fetch(checkKey('fetch', key));
        case 'delete':
          return remove(checkKey('delete', key));
        default:
          throw scriptError('CACHE: unknown operation');
      }
    } catch (error) {
      if (error instanceof Error && scriptErrors.has(error)) throw error;
      // A storage failure: the operator's log gets the cause, the script only that the CACHE is unavailable.
      process.stderr.write(
        `${JSON.stringify({ level: 50, time: Date.now(), pid: process.pid, msg: 'sandbox CACHE operation failed', err: String(error) })}\n`,
      );
      throw scriptError(`${op === 'rate' ? 'RATE.take' : `CACHE.${String(op)}`}: the cache is unavailable`);
    }
  };
  return {
    cache: new ivm.Callback(operation),
    newUuid: new ivm.Callback(() => randomUUID()),
    getProperty: new ivm.Callback((id: unknown) => {
      if (typeof id !== 'string') return undefined;
      const value = properties().get(id);
      if (reads && !reads.properties.has(id)) reads.properties.set(id, value ?? null);
      return value;
    }),
    http: new ivm.Reference((requestJson: string) => outbound.call(calls, requestJson)),
    begin(scratch, budget) {
      pending = new Map();
      pendingBytes = 0;
      cache = scratch ?? realCache;
      calls = budget ?? null;
      countsLeft = limits.max_stores_per_execution;
      reads = recordNext ? { cache: new Map(), properties: new Map() } : null;
      recordNext = false;
    },
    recordNext() {
      recordNext = true;
    },
    takeReads() {
      if (!reads) return undefined;
      const taken = {
        cache: Object.fromEntries(reads.cache),
        properties: Object.fromEntries(reads.properties),
      };
      reads = null;
      return taken;
    },
    takeWrites() {
      const writes = [...pending.values()];
      pending = new Map();
      pendingBytes = 0;
      cache = realCache;
      calls = null;
      return writes;
    },
  };
}
