import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSandboxCache, openStorage } from '../src/storage/open.js';
import { SqliteAuditEventStore } from '../src/storage/sqlite/audit-event-store.js';
import { SqliteCacheStore } from '../src/storage/sqlite/cache-store.js';
import { SqliteConfigStore } from '../src/storage/sqlite/config-store.js';
import { SqliteConsoleSessionStore } from '../src/storage/sqlite/console-session-store.js';
import { openSqlite } from '../src/storage/sqlite/database.js';
import { MIGRATIONS } from '../src/storage/sqlite/migrations.js';
import { SqliteRecordingStore } from '../src/storage/sqlite/recording-store.js';
import { SqliteScriptTestStore } from '../src/storage/sqlite/script-test-store.js';
import { SqliteTokenStore } from '../src/storage/sqlite/token-store.js';
import { SqliteTransactionStore } from '../src/storage/sqlite/transaction-store.js';
import { adminStoreConformance } from './helpers/audit-event-conformance.js';
import { counterConformance } from './helpers/counter-conformance.js';
import { tokenStoreConformance } from './helpers/grant-conformance.js';
import { recordingStoreConformance } from './helpers/recording-conformance.js';
import { rolloutStoreConformance } from './helpers/rollout-conformance.js';
import { sandboxCacheConformance } from './helpers/sandbox-cache-conformance.js';
import { scriptTestStoreConformance } from './helpers/script-test-conformance.js';
import { cacheStoreConformance, configStoreConformance } from './helpers/storage-conformance.js';
import { transactionStoreConformance } from './helpers/transaction-conformance.js';

const root = mkdtempSync(join(tmpdir(), 'registrar-sqlite-'));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A new database file in the temp folder. */
const freshPath = () => join(root, `db-${++counter}`, 'registrar.db');

cacheStoreConformance('SQLite', async () => {
  const db = openSqlite(freshPath(), { migrate: true });
  let clock = 1_700_000_000_000;
  const store = new SqliteCacheStore(db, () => clock);
  return {
    store,
    now: (ms) => {
      clock += ms;
    },
    async close() {
      await store.close();
      db.close();
    },
  };
});

for (const table of ['cache_entries', 'rate_counters'] as const) {
  counterConformance(`SQLite ${table}`, async () => {
    const db = openSqlite(freshPath(), { migrate: true });
    let clock = 1_700_000_000_000;
    const store = new SqliteCacheStore(db, () => clock, false, table);
    return {
      store,
      ...(table === 'cache_entries' ? { cache: store } : {}),
      now: (ms) => {
        clock += ms;
      },
      async close() {
        db.close();
      },
    };
  });
}

test('the rate-limit counters are a key space of their own, beside the CACHE', async () => {
  const path = freshPath();
  const storage = await openStorage({ storage: { url: `sqlite:${path}` }, cache: { url: `sqlite:${path}` } });
  try {
    await storage.cache.set('shared-name', '"a value"', 60_000);
    assert.equal(await storage.counters.increment('shared-name', 1, 60_000), 1);
    assert.equal(await storage.cache.get('shared-name'), '"a value"');
    assert.equal(await storage.cache.increment('other', 2, 60_000), 2);
    assert.equal(await storage.counters.increment('other', 1, 60_000), 1);
  } finally {
    await storage.close();
  }
});

configStoreConformance('SQLite', async () => {
  const path = freshPath();
  const db = openSqlite(path, { migrate: true });
  const peers: ReturnType<typeof openSqlite>[] = [];
  return {
    store: new SqliteConfigStore(db),
    async openPeer() {
      const peer = openSqlite(path, { migrate: false });
      peers.push(peer);
      return new SqliteConfigStore(peer);
    },
    async close() {
      for (const peer of peers) peer.close();
      db.close();
    },
  };
});

/** Opens a fresh SQLite store with a clock the suite moves. */
function clocked<S>(make: (db: ReturnType<typeof openSqlite>, now: () => number) => S) {
  return async () => {
    const db = openSqlite(freshPath(), { migrate: true });
    let clock = 1_700_000_000_000;
    return {
      store: make(db, () => clock),
      now: () => clock,
      advance: (ms: number) => {
        clock += ms;
      },
      async close() {
        db.close();
      },
    };
  };
}

transactionStoreConformance(
  'SQLite',
  clocked((db, now) => new SqliteTransactionStore(db, now)),
);
tokenStoreConformance(
  'SQLite',
  clocked((db, now) => new SqliteTokenStore(db, now)),
);

adminStoreConformance('SQLite', async () => {
  const db = openSqlite(freshPath(), { migrate: true });
  return {
    auditEvents: new SqliteAuditEventStore(db),
    consoleSessions: new SqliteConsoleSessionStore(db),
    async close() {
      db.close();
    },
  };
});

recordingStoreConformance('SQLite', async () => {
  const db = openSqlite(freshPath(), { migrate: true });
  return {
    recordings: new SqliteRecordingStore(db),
    config: new SqliteConfigStore(db),
    async close() {
      db.close();
    },
  };
});

scriptTestStoreConformance('SQLite', async () => {
  const db = openSqlite(freshPath(), { migrate: true });
  return {
    tests: new SqliteScriptTestStore(db),
    config: new SqliteConfigStore(db),
    async close() {
      db.close();
    },
  };
});

rolloutStoreConformance('SQLite', async () => {
  const db = openSqlite(freshPath(), { migrate: true });
  return {
    store: new SqliteConfigStore(db),
    async close() {
      db.close();
    },
  };
});

describe('SQLite specifics', () => {
  test('the database runs in WAL mode with a busy timeout and foreign keys on', () => {
    const db = openSqlite(freshPath(), { migrate: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    } finally {
      db.close();
    }
  });

  test('opening creates missing parent folders', () => {
    const path = join(root, 'deep', 'er', 'registrar.db');
    openSqlite(path, { migrate: true }).close();
    assert.ok(existsSync(path), `${path} exists`);
  });

  test('migrations are idempotent: opening twice keeps the schema version and the data', async () => {
    const path = freshPath();
    const first = openSqlite(path, { migrate: true });
    assert.equal(first.pragma('user_version', { simple: true }), MIGRATIONS.length);
    await new SqliteConfigStore(first).upsertProperty({ id: 'p', value: 'v', sensitive: false });
    await new SqliteCacheStore(first).set('k', '"v"', 60_000);
    first.close();

    const second = openSqlite(path, { migrate: true });
    try {
      assert.equal(second.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.deepEqual(await new SqliteConfigStore(second).listProperties(), [
        { id: 'p', value: 'v', sensitive: false },
      ]);
      assert.equal(await new SqliteCacheStore(second).get('k'), '"v"');
    } finally {
      second.close();
    }
  });

  test('two connections migrating the same file in turn both succeed', () => {
    const path = freshPath();
    const a = openSqlite(path, { migrate: true });
    const b = openSqlite(path, { migrate: true });
    try {
      assert.equal(b.pragma('user_version', { simple: true }), MIGRATIONS.length);
    } finally {
      a.close();
      b.close();
    }
  });

  test('a database from a newer Registrar is refused', () => {
    const path = freshPath();
    const db = openSqlite(path, { migrate: true });
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => openSqlite(path, { migrate: true }), /newer than this Registrar/);
  });

  describe('a second connection, as a sandbox process has', () => {
    let path: string;
    let server: Awaited<ReturnType<typeof openStorage>>;
    let sandbox: ReturnType<typeof openSandboxCache>;

    before(async () => {
      path = freshPath();
      server = await openStorage({ storage: { url: `sqlite:${path}` }, cache: { url: `sqlite:${path}` } });
      sandbox = openSandboxCache(`sqlite:${path}`);
    });
    after(async () => {
      sandbox.close();
      await server.close();
    });

    test('sees entries written by the first, and the first sees its deletes', async () => {
      await server.cache.set('from-server', '"s"', 60_000);
      assert.equal(sandbox.getSync('from-server'), '"s"');
      assert.equal(sandbox.deleteSync('from-server'), true);
      assert.equal(await server.cache.get('from-server'), null, 'the server sees the sandbox delete');
    });

    test('sees deletes and replacements made by the first', async () => {
      await server.cache.set('k', 'one', 60_000);
      assert.equal(sandbox.getSync('k'), 'one');
      await server.cache.set('k', 'two', 60_000);
      assert.equal(sandbox.getSync('k'), 'two');
      assert.equal(await server.cache.delete('k'), true);
      assert.equal(sandbox.getSync('k'), null);
      assert.equal(sandbox.deleteSync('k'), false);
    });

    test('a take on the server and a delete in the sandbox: exactly one of them gets the entry', async () => {
      for (let i = 0; i < 20; i++) {
        await server.cache.set(`t${i}`, `v${i}`, 60_000);
        const [taken, deleted] = await Promise.all([server.cache.take(`t${i}`), sandbox.deleteSync(`t${i}`)]);
        assert.equal(Number(taken !== null) + Number(deleted), 1, `key t${i}: ${taken} / ${deleted}`);
      }
    });

    test('purging on one connection removes expired entries the other wrote', async () => {
      const db = openSqlite(path, { migrate: false });
      try {
        // An entry that expired a minute ago, written straight into the table.
        db.prepare('INSERT INTO cache_entries (key, value, expires_at) VALUES (?, ?, ?)').run(
          'stale',
          'v',
          Date.now() - 60_000,
        );
        assert.equal(sandbox.getSync('stale'), null);
        assert.ok((await server.cache.purgeExpired()) >= 1, 'the stale entry is purged');
        assert.equal(db.prepare("SELECT COUNT(*) FROM cache_entries WHERE key = 'stale'").pluck().get(), 0);
      } finally {
        db.close();
      }
    });

    test('closing the sandbox cache store closes its own connection only', async () => {
      const extra = openSandboxCache(`sqlite:${path}`);
      extra.close();
      assert.throws(() => extra.getSync('k'), /not open/);
      await server.cache.ping();
      await server.config.ping();
    });
  });

  test('a separate cache URL puts the cache in its own file', async () => {
    const storagePath = freshPath();
    const cachePath = freshPath();
    const storage = await openStorage({
      storage: { url: `sqlite:${storagePath}` },
      cache: { url: `sqlite:${cachePath}` },
    });
    try {
      await storage.cache.set('k', 'v', 60_000);
      const cacheDb = openSqlite(cachePath, { migrate: false });
      const storageDb = openSqlite(storagePath, { migrate: false });
      try {
        assert.equal(cacheDb.prepare("SELECT value FROM cache_entries WHERE key = 'k'").pluck().get(), 'v');
        assert.equal(storageDb.prepare('SELECT COUNT(*) FROM cache_entries').pluck().get(), 0);
      } finally {
        cacheDb.close();
        storageDb.close();
      }
    } finally {
      await storage.close();
    }
  });
});

describe('SQLite configuration reads are memoised safely', () => {
  test('a commit by another connection is seen by the first read of a later event-loop turn', async () => {
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    const path = freshPath();
    const storage = await openStorage({
      storage: { url: `sqlite:${path}` },
      cache: { url: `sqlite:${path}` },
    });
    const other = openSqlite(path, { migrate: false });
    try {
      await storage.config.upsertIdentityProvider(
        { id: 'idp', name: null, flow: 'one_step', enabled: true, limits: {} },
        { complete: { source: 'function execute() {}', filename: 'idp/complete.js' } },
      );
      assert.equal((await storage.config.getIdentityProvider('idp'))?.enabled, true);
      assert.equal((await storage.config.getIdentityProvider('idp'))?.enabled, true, 'served from the memo');
      other.prepare("UPDATE identity_providers SET enabled = 0 WHERE id = 'idp'").run();
      await nextTurn();
      assert.equal((await storage.config.getIdentityProvider('idp'))?.enabled, false);
      other.prepare("DELETE FROM identity_providers WHERE id = 'idp'").run();
      await nextTurn();
      assert.equal(await storage.config.getIdentityProvider('idp'), undefined);
    } finally {
      other.close();
      await storage.close();
    }
  });

  test('memoised records are frozen, so no caller can change what the next one reads', async () => {
    const path = freshPath();
    const storage = await openStorage({
      storage: { url: `sqlite:${path}` },
      cache: { url: `sqlite:${path}` },
    });
    try {
      await storage.config.upsertApiClient({
        client_id: 'c',
        name: null,
        secret_hash: 'h',
        scopes: ['admin'],
      });
      const client = await storage.config.getApiClient('c');
      assert.ok(client, 'the client is found');
      assert.throws(() => {
        (client.scopes as string[]).push('user_registration');
      }, TypeError);
      assert.deepEqual((await storage.config.getApiClient('c'))?.scopes, ['admin']);
    } finally {
      await storage.close();
    }
  });
});

sandboxCacheConformance('SQLite (a second connection on the cache file)', async () => {
  const path = freshPath();
  const storage = await openStorage({ storage: { url: `sqlite:${path}` }, cache: { url: `sqlite:${path}` } });
  return {
    store: storage.cache,
    openSandbox: () => openSandboxCache(`sqlite:${path}`),
    close: () => storage.close(),
  };
});
