import { Redis } from 'ioredis';

/** How {@link openRedis} connects: every bound is in milliseconds. */
export interface RedisConnectionOptions {
  /** Gives up on one connection attempt (TCP connect and handshake) after this long. */
  connectTimeoutMs: number;
  /** Rejects a command that has no reply after this long, queued or sent. */
  commandTimeoutMs: number;
  /** Put before every key the stores use, e.g. `registrar:`; lets installations share a Redis. */
  keyPrefix: string;
  /** Told about connection errors (the client reconnects by itself); they are dropped when absent. */
  onError?: (error: Error) => void;
}

/** A Redis connection as the Redis stores use it. */
export type RedisClient = Redis;

/** The longest pause between two reconnection attempts while Redis is down. */
const MAX_RECONNECT_DELAY_MS = 1000;

/**
 * Opens a Redis connection (`redis://` or `rediss://` URL) that fails fast and heals itself:
 * while Redis is unreachable every command rejects within about `commandTimeoutMs` (or at
 * once, when the connection attempt is refused) instead of hanging, and the client keeps
 * reconnecting, at most {@link MAX_RECONNECT_DELAY_MS} apart, so it works again as soon as
 * Redis is back. A command in flight when the connection drops rejects and is never resent,
 * so no command runs twice without its caller knowing.
 */
export function openRedis(url: string, options: RedisConnectionOptions): RedisClient {
  const redis = new Redis(url, {
    keyPrefix: options.keyPrefix,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    // Commands issued before the first connection is ready wait for it (bounded by
    // commandTimeout); every connection loss rejects whatever is queued or in flight.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    // How long closing a connection that is not ready yet waits before destroying it.
    disconnectTimeout: 200,
  });
  // Without a listener ioredis prints every failed reconnection attempt to the console.
  redis.on('error', (error: Error) => options.onError?.(error));
  return redis;
}

/**
 * Closes a connection: politely (`QUIT`) when it is up, at once when it is not, so closing
 * never waits on a Redis that is down.
 */
export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // Fall through to a hard disconnect.
    }
  }
  redis.disconnect();
}
