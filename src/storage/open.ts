import type { RegistrarConfig } from '../config/load.js';
import { configFileSchema } from '../config/schema.js';
import { withReadMemo } from './config-read-memo.js';
import { PostgresAuditEventStore } from './postgres/audit-event-store.js';
import { PostgresConfigStore } from './postgres/config-store.js';
import { PostgresConsoleSessionStore } from './postgres/console-session-store.js';
import { migrate, openPostgres } from './postgres/database.js';
import { PostgresRecordingStore } from './postgres/recording-store.js';
import { PostgresScriptTestStore } from './postgres/script-test-store.js';
import { PostgresSigningKeyStore } from './postgres/signing-key-store.js';
import { PostgresTokenStore } from './postgres/token-store.js';
import { RATE_KEY_SPACE, RedisCacheStore } from './redis/cache-store.js';
import { closeRedis, openRedis } from './redis/connection.js';
import { openRedisSandboxCache } from './redis/sandbox-cache.js';
import { RedisTransactionStore } from './redis/transaction-store.js';
import { SqliteAuditEventStore } from './sqlite/audit-event-store.js';
import { SqliteCacheStore } from './sqlite/cache-store.js';
import { SqliteConfigStore } from './sqlite/config-store.js';
import { SqliteConsoleSessionStore } from './sqlite/console-session-store.js';
import { openSqlite, type SqliteDatabase, sqlitePath } from './sqlite/database.js';
import { SqliteRecordingStore } from './sqlite/recording-store.js';
import { SqliteScriptTestStore } from './sqlite/script-test-store.js';
import { SqliteSigningKeyStore } from './sqlite/signing-key-store.js';
import { SqliteTokenStore } from './sqlite/token-store.js';
import { SqliteTransactionStore } from './sqlite/transaction-store.js';
import { WalCheckpointer } from './sqlite/wal-checkpointer.js';
import type {
  AuditEventStore,
  CacheStore,
  ConfigStore,
  ConsoleSessionStore,
  CounterStore,
  RecordingStore,
  RolloutStore,
  SandboxCache,
  ScriptTestStore,
  SigningKeyStore,
  TokenStore,
  TransactionStore,
} from './types.js';

/** The stores one Registrar process works with. */
export interface Storage {
  config: ConfigStore;
  tokens: TokenStore;
  signingKeys: SigningKeyStore;
  /** Stored configuration-change audit events, beside the configuration. */
  auditEvents: AuditEventStore;
  /** Web console sessions, beside the configuration. */
  consoleSessions: ConsoleSessionStore;
  /** Stored script test cases, beside the configuration. */
  scriptTests: ScriptTestStore;
  /** Script canaries, in the configuration storage (the same store as `config`, so its memo sees them). */
  rollouts: RolloutStore;
  /** Recorded script executions (for replay), beside the configuration. */
  recordings: RecordingStore;
  cache: CacheStore;
  /** The declarative rate limits' counters, beside the CACHE (so shared by every node). */
  counters: CounterStore;
  /** Registration transactions live with the CACHE. */
  transactions: TransactionStore;
  close(): Promise<void>;
}

type Backends = Pick<RegistrarConfig, 'storage' | 'cache'>;

/**
 * Where storage and the CACHE live, and how to reach them (the config's `storage` and
 * `cache`); the connection settings default to the config file's defaults.
 */
export interface StorageSettings {
  storage: { url: string; postgres?: Backends['storage']['postgres'] };
  cache: { url: string; redis?: Backends['cache']['redis']; sqlite_max_mb?: number };
}

const DEFAULTS = configFileSchema.parse({});

type Half<T> = T & { close(): Promise<void> };

/**
 * Opens storage (configuration, tokens, signing keys, audit events, console sessions:
 * SQLite or PostgreSQL) and the
 * CACHE with registration transactions (SQLite or Redis) by URL, migrating the
 * schemas. PostgreSQL migrations take an advisory lock, so nodes may start together.
 */
export async function openStorage(
  settings: StorageSettings,
  onError: (error: Error) => void = () => {},
): Promise<Storage> {
  const { storage, cache } = settings;
  // SQLite storage and a SQLite CACHE on the same file share one connection.
  let sharedDb: SqliteDatabase | undefined;
  const durable = await openDurable(settings, onError, (db) => {
    sharedDb = db;
  });
  try {
    const fast =
      cache.url === storage.url && sharedDb
        ? sqliteCache(sharedDb, false)
        : await openCache(settings, onError);
    return {
      ...durable,
      ...fast,
      async close() {
        await fast.close();
        await durable.close();
      },
    };
  } catch (error) {
    await durable.close();
    throw error;
  }
}

async function openDurable(
  { storage }: StorageSettings,
  onError: (error: Error) => void,
  sqliteOpened: (db: SqliteDatabase) => void,
): Promise<
  Half<
    Pick<
      Storage,
      | 'config'
      | 'tokens'
      | 'signingKeys'
      | 'auditEvents'
      | 'consoleSessions'
      | 'scriptTests'
      | 'rollouts'
      | 'recordings'
    >
  >
> {
  if (storage.url.startsWith('sqlite:')) {
    const db = openSqlite(sqlitePath(storage.url), { migrate: true });
    sqliteOpened(db);
    const checkpointer = new WalCheckpointer(sqlitePath(storage.url), db, onError);
    const config = new SqliteConfigStore(db);
    return {
      config,
      rollouts: config,
      tokens: new SqliteTokenStore(db),
      signingKeys: new SqliteSigningKeyStore(db),
      auditEvents: new SqliteAuditEventStore(db),
      consoleSessions: new SqliteConsoleSessionStore(db),
      scriptTests: new SqliteScriptTestStore(db),
      recordings: new SqliteRecordingStore(db),
      async close() {
        await checkpointer.close();
        db.close();
      },
    };
  }
  const postgres = storage.postgres ?? DEFAULTS.storage.postgres;
  const pool = openPostgres(storage.url, {
    max: postgres.pool_max,
    connectionTimeoutMs: postgres.connect_timeout_ms,
    statementTimeoutMs: postgres.statement_timeout_ms,
    onError,
  });
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  const config = withReadMemo(new PostgresConfigStore(pool), postgres.read_cache_ms);
  return {
    config,
    rollouts: config,
    tokens: new PostgresTokenStore(pool),
    signingKeys: new PostgresSigningKeyStore(pool),
    auditEvents: new PostgresAuditEventStore(pool),
    consoleSessions: new PostgresConsoleSessionStore(pool),
    scriptTests: new PostgresScriptTestStore(pool),
    recordings: new PostgresRecordingStore(pool),
    async close() {
      await pool.end();
    },
  };
}

function sqliteCache(
  db: SqliteDatabase,
  ownsDb: boolean,
): Half<Pick<Storage, 'cache' | 'counters' | 'transactions'>> {
  const cache = new SqliteCacheStore(db, Date.now, ownsDb);
  return {
    cache,
    counters: new SqliteCacheStore(db, Date.now, false, 'rate_counters'),
    transactions: new SqliteTransactionStore(db),
    async close() {
      await cache.close();
    },
  };
}

async function openCache(
  { cache }: StorageSettings,
  onError: (error: Error) => void,
): Promise<Half<Pick<Storage, 'cache' | 'counters' | 'transactions'>>> {
  if (cache.url.startsWith('sqlite:')) {
    const db = openSqlite(sqlitePath(cache.url), { migrate: true });
    // A hard cap on the file: past it SQLite refuses writes (SQLITE_FULL) and changes nothing.
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const maxMb = cache.sqlite_max_mb ?? DEFAULTS.cache.sqlite_max_mb;
    db.pragma(`max_page_count = ${Math.max(16, Math.floor((maxMb * 2 ** 20) / pageSize))}`);
    const checkpointer = new WalCheckpointer(sqlitePath(cache.url), db, onError);
    const half = sqliteCache(db, true);
    return {
      ...half,
      async close() {
        await checkpointer.close();
        await half.close();
      },
    };
  }
  const redis = openRedis(cache.url, redisOptions(cache, onError));
  return {
    cache: new RedisCacheStore(redis),
    counters: new RedisCacheStore(redis, false, RATE_KEY_SPACE),
    transactions: new RedisTransactionStore(redis),
    async close() {
      await closeRedis(redis);
    },
  };
}

/** The Redis connection options of the config's `cache.redis`. */
export function redisOptions(cache: StorageSettings['cache'], onError?: (error: Error) => void) {
  const redis = cache.redis ?? DEFAULTS.cache.redis;
  return {
    connectTimeoutMs: redis.connect_timeout_ms,
    commandTimeoutMs: redis.command_timeout_ms,
    keyPrefix: redis.key_prefix,
    ...(onError ? { onError } : {}),
  };
}

import type { SandboxRedisOptions } from './sandbox-cache-open.js';

export type { SandboxRedisOptions };

/**
 * Opens only the cache, for a sandbox process: SQLite (the schema must already exist;
 * the server migrates before it starts sandboxes) or Redis (a worker thread, so only the
 * sandbox process blocks while it waits).
 */
export function openSandboxCache(url: string, redis?: SandboxRedisOptions): SandboxCache {
  if (url.startsWith('sqlite:')) {
    return new SqliteCacheStore(openSqlite(sqlitePath(url), { migrate: false }), Date.now, true);
  }
  const { connectTimeoutMs, commandTimeoutMs, keyPrefix } = redis ?? redisOptions({ url });
  return openRedisSandboxCache(url, { connectTimeoutMs, commandTimeoutMs, keyPrefix });
}
