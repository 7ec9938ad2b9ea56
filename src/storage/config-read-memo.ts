import type { ConfigStore } from './types.js';

/** The lookups on every request's path, memoised. */
const MEMOISED = ['getApiClient', 'getApplication', 'getIdentityProvider'] as const;
/** Methods that change configuration: each clears the memo when it completes (canary counts are not in it). */
const WRITE = /^(create|upsert|delete|write|save|activate|startRollout|endRollout|startShadow|stopShadow)/;

/**
 * Wraps a ConfigStore on a shared database (PostgreSQL) so the request path does not
 * query it for every lookup: a client, application or IdP read is reused for `ttlMs`,
 * and any write through this store clears the memo at once. A change made by another
 * node is therefore seen within `ttlMs` (keep it under the one second the scale-out
 * contract allows), a change made here immediately. Records are frozen.
 */
export function withReadMemo<S extends ConfigStore>(
  inner: S,
  ttlMs: number,
  now: () => number = Date.now,
): S {
  if (ttlMs <= 0) return inner;
  const memo = new Map<string, { value: unknown; expiresAt: number }>();
  const MAX_ENTRIES = 10_000;
  return new Proxy(inner, {
    get(target, property, receiver) {
      const original = Reflect.get(target, property, receiver);
      if (typeof original !== 'function' || typeof property !== 'string') return original;
      if ((MEMOISED as readonly string[]).includes(property)) {
        return async (id: string) => {
          const key = `${property}\0${id}`;
          const hit = memo.get(key);
          if (hit && hit.expiresAt > now()) return hit.value;
          const value = await original.call(target, id);
          if (memo.size >= MAX_ENTRIES) memo.clear();
          memo.set(key, { value: value && Object.freeze(value), expiresAt: now() + ttlMs });
          return value;
        };
      }
      if (WRITE.test(property)) {
        return async (...args: unknown[]) => {
          try {
            return await original.apply(target, args);
          } finally {
            memo.clear();
          }
        };
      }
      return original.bind(target);
    },
  });
}
