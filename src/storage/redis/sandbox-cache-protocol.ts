/**
 * What the sandbox thread and its Redis worker (see sandbox-cache.ts) exchange. Both sides
 * load this file, so it holds nothing but plain values and types.
 */
import type { MessagePort } from 'node:worker_threads';
import type { RedisConnectionOptions } from './connection.js';

/** Index in the shared Int32Array that the worker sets to 1 (and notifies) after posting a reply. */
export const REPLY_SLOT = 0;
/** Index in the shared Int32Array that holds the worker's start-up state. */
export const STATE_SLOT = 1;
export const STATE_STARTING = 0;
export const STATE_READY = 1;
export const STATE_FAILED = 2;

/** The connection settings a worker opens its ioredis client with (`openRedis` minus the callback). */
export type WorkerConnectionOptions = Omit<RedisConnectionOptions, 'onError'>;

/** The worker's `workerData`. */
export interface WorkerSetup {
  url: string;
  options: WorkerConnectionOptions;
  /** The worker's end of the dedicated channel: requests arrive here, replies leave from here. */
  port: MessagePort;
  /** Int32Array over a SharedArrayBuffer: {@link REPLY_SLOT} and {@link STATE_SLOT}. */
  signal: Int32Array;
}

/** One CACHE command, tagged so that a late reply is never taken for a later call's. */
export interface WorkerRequest {
  id: number;
  op: 'get' | 'delete' | 'increment';
  key: string;
  /** For `increment`: what to add, and the TTL of an entry it creates. */
  delta?: number;
  ttlMs?: number;
}

/** The answer to one request (id 0: the worker failed to start). */
export type WorkerReply =
  | { id: number; ok: true; value: string | number | boolean | null }
  | { id: number; ok: false; error: string };
