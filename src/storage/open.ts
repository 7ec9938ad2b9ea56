import { SqliteCacheStore } from './sqlite/cache-store.js';
import { SqliteConfigStore } from './sqlite/config-store.js';
import { openSqlite, sqlitePath } from './sqlite/database.js';
import { SqliteSigningKeyStore } from './sqlite/signing-key-store.js';
import { SqliteTokenStore } from './sqlite/token-store.js';
import { SqliteTransactionStore } from './sqlite/transaction-store.js';
import type {
  CacheStore,
  ConfigStore,
  SandboxCache,
  SigningKeyStore,
  TokenStore,
  TransactionStore,
} from './types.js';

/** The stores one Registrar process works with. */
export interface Storage {
  config: ConfigStore;
  tokens: TokenStore;
  signingKeys: SigningKeyStore;
  cache: CacheStore;
  /** Registration transactions live with the CACHE. */
  transactions: TransactionStore;
  close(): Promise<void>;
}

/** Opens storage and cache by URL, migrating the schema. Only `sqlite:PATH` exists so far. */
export function openStorage(urls: { storage: string; cache: string }): Storage {
  const db = openSqlite(sqlitePath(urls.storage), { migrate: true });
  const sameDb = urls.cache === urls.storage;
  const cacheDb = sameDb ? db : openSqlite(sqlitePath(urls.cache), { migrate: true });
  const cache = new SqliteCacheStore(cacheDb, Date.now, !sameDb);
  return {
    config: new SqliteConfigStore(db),
    tokens: new SqliteTokenStore(db),
    signingKeys: new SqliteSigningKeyStore(db),
    cache,
    transactions: new SqliteTransactionStore(cacheDb),
    async close() {
      await cache.close();
      db.close();
    },
  };
}

/**
 * Opens only the cache, for a sandbox process. The schema must already exist (the
 * server migrates before it starts sandboxes).
 */
export function openSandboxCache(url: string): SandboxCache {
  return new SqliteCacheStore(openSqlite(sqlitePath(url), { migrate: false }), Date.now, true);
}
