/**
 * Opens the CACHE a sandbox process reads: only the backend named by the URL is loaded
 * (a sandbox hosts untrusted code and should carry nothing it does not use: no `pg`, no
 * `ioredis` in the process itself, no config schema, no other stores).
 */
import type { SandboxCache } from './types.js';

/** How a sandbox process reaches a Redis CACHE (the server's connection settings, minus callbacks). */
export interface SandboxRedisOptions {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keyPrefix: string;
}

/**
 * SQLite (the schema must already exist; the server migrates before it starts sandboxes)
 * or Redis (a worker thread, so only the sandbox process blocks while it waits; resolves
 * once the worker has loaded).
 */
export async function openSandboxCacheLean(url: string, redis: SandboxRedisOptions): Promise<SandboxCache> {
  if (url.startsWith('sqlite:')) {
    const [{ SqliteCacheStore }, { openSqlite, sqlitePath }] = await Promise.all([
      import('./sqlite/cache-store.js'),
      import('./sqlite/database.js'),
    ]);
    return new SqliteCacheStore(openSqlite(sqlitePath(url), { migrate: false }), Date.now, true);
  }
  const { openRedisSandboxCache } = await import('./redis/sandbox-cache.js');
  const cache = openRedisSandboxCache(url, redis);
  // Before the sandbox takes work: the worker's start-up is nobody's CPU time.
  await cache.whenStarted();
  return cache;
}
