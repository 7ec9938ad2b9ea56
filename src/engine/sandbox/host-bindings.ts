import { randomUUID } from 'node:crypto';
import ivm from 'isolated-vm';
import type { EngineConfig } from '../../config/schema.js';
import type { CacheStore } from '../../storage/types.js';

/** The host side of the script globals, handed to every isolate's prelude. */
export interface HostBindings {
  cache: ivm.Reference<CacheOperation>;
  newUuid: ivm.Callback;
  getProperty: ivm.Callback;
}

type CacheOperation = (
  op: string,
  key: string,
  json: string | null,
  ttlSeconds: number | null,
) => Promise<unknown>;

/** A script-facing error: message only, no host stack. */
function scriptError(message: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  return error;
}

/**
 * Builds the host functions behind CACHE, java.util.UUID and PROPERTIES. Every
 * argument arrives from an untrusted script, so each is checked here again.
 */
export function createHostBindings(
  cache: CacheStore,
  limits: EngineConfig['cache'],
  properties: () => ReadonlyMap<string, string>,
): HostBindings {
  const checkKey = (method: string, key: unknown): string => {
    if (typeof key !== 'string') throw scriptError(`CACHE.${method}: key must be a string`);
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > limits.max_key_bytes) {
      throw scriptError(`CACHE.${method}: the key is ${bytes} bytes; the limit is ${limits.max_key_bytes}`);
    }
    return key;
  };
  const operation: CacheOperation = async (op, rawKey, json, ttlSeconds) => {
    switch (op) {
      case 'store': {
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
        await cache.set(key, json, Math.round(ttl * 1000));
        return undefined;
      }
      case 'fetch':
        return cache.get(checkKey('fetch', rawKey));
      case 'delete':
        return cache.delete(checkKey('delete', rawKey));
      default:
        throw scriptError('CACHE: unknown operation');
    }
  };
  return {
    cache: new ivm.Reference(operation),
    newUuid: new ivm.Callback(() => randomUUID()),
    getProperty: new ivm.Callback((id: unknown) =>
      typeof id === 'string' ? properties().get(id) : undefined,
    ),
  };
}
