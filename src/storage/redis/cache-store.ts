import type { CacheStore } from '../types.js';
import { closeRedis, type RedisClient } from './connection.js';

/** Where CACHE entries live, under the connection's key prefix: `<prefix>cache:<key>`. */
export const CACHE_KEY_SPACE = 'cache:';
/** Where the declarative rate-limit counters live: `<prefix>rate:<key>`, out of scripts' reach. */
export const RATE_KEY_SPACE = 'rate:';

/**
 * `increment` in one atomic step: an absent key starts at delta with the TTL (`SET PX`);
 * a live integer gets `INCRBY` (which keeps its expiry); anything else is left alone (nil).
 */
const INCREMENT_LUA = `
local value = redis.call('GET', KEYS[1])
if not value then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return tonumber(ARGV[1])
end
if value ~= '0' and not string.match(value, '^%-?[1-9]%d*$') then return false end
return redis.call('INCRBY', KEYS[1], ARGV[1])
`;

/**
 * The CACHE in Redis: one string per entry at `<prefix>cache:<key>`, the key stored as
 * given (Redis keys are binary-safe, so any text is a distinct key: its UTF-8 bytes), with
 * a native expiry (`SET ... PX`). Redis never returns an expired key, so every guarantee of
 * {@link CacheStore} holds without a purge; `take` is `GETDEL` and so needs Redis 6.2 or
 * newer. `setMany` is one `MULTI`/`EXEC`, applied in order. `increment` is one Lua script
 * (atomic on the server; durable as far as the Redis persistence settings make it).
 */
export class RedisCacheStore implements CacheStore {
  /**
   * @param redis a connection from `openRedis`, whose key prefix namespaces the installation.
   * @param ownsClient when true, `close` closes the connection too.
   */
  constructor(
    private readonly redis: RedisClient,
    private readonly ownsClient = false,
    private readonly space: typeof CACHE_KEY_SPACE | typeof RATE_KEY_SPACE = CACHE_KEY_SPACE,
  ) {}

  async increment(key: string, delta: number, ttlMs: number): Promise<number | null> {
    const px = Math.max(1, Math.ceil(ttlMs));
    const value = await this.redis.eval(INCREMENT_LUA, 1, this.space + key, String(delta), String(px));
    return value === null ? null : Number(value);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const px = expiry(ttlMs);
    if (px === undefined) await this.redis.del(this.space + key);
    else await this.redis.set(this.space + key, value, 'PX', px);
  }

  async setMany(entries: ReadonlyArray<readonly [string, string, number]>): Promise<void> {
    if (entries.length === 0) return;
    const transaction = this.redis.multi();
    for (const [key, value, ttlMs] of entries) {
      const px = expiry(ttlMs);
      if (px === undefined) transaction.del(this.space + key);
      else transaction.set(this.space + key, value, 'PX', px);
    }
    const results = await transaction.exec();
    if (results === null) throw new Error('Redis discarded the CACHE transaction');
    for (const [error] of results) if (error) throw error;
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(this.space + key);
  }

  async delete(key: string): Promise<boolean> {
    return (await this.redis.del(this.space + key)) === 1;
  }

  async take(key: string): Promise<string | null> {
    return this.redis.getdel(this.space + key);
  }

  /** Always 0: Redis removes expired entries itself. */
  async purgeExpired(): Promise<number> {
    return 0;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    if (this.ownsClient) await closeRedis(this.redis);
  }
}

/**
 * The `PX` argument for a TTL: whole milliseconds, rounded up. Undefined when the entry
 * would be born expired (Redis refuses `PX 0`), which the caller stores as a delete.
 */
function expiry(ttlMs: number): number | undefined {
  if (!(ttlMs > 0)) return undefined;
  return Math.min(Math.ceil(ttlMs), Number.MAX_SAFE_INTEGER);
}
