/**
 * The storage conformance suites against PostgreSQL, plus what only PostgreSQL has
 * (concurrent migrations, the advisory lock, BIGINT parsing, byte-order paging). Needs
 * REGISTRAR_TEST_POSTGRES_URL (`eval "$(scripts/test-services.sh start)"`; CI sets it).
 * Every fixture works in a schema of its own, dropped on close, so cases are isolated
 * and the file can run beside others on the same database.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Pool } from 'pg';
import { withReadMemo } from '../src/storage/config-read-memo.js';
import { PostgresAuditEventStore } from '../src/storage/postgres/audit-event-store.js';
import { PostgresConfigStore } from '../src/storage/postgres/config-store.js';
import { PostgresConsoleSessionStore } from '../src/storage/postgres/console-session-store.js';
import { migrate, openPostgres, type PostgresOptions } from '../src/storage/postgres/database.js';
import { MIGRATIONS } from '../src/storage/postgres/migrations.js';
import { PostgresRecordingStore } from '../src/storage/postgres/recording-store.js';
import { PostgresScriptTestStore } from '../src/storage/postgres/script-test-store.js';
import { PostgresSigningKeyStore } from '../src/storage/postgres/signing-key-store.js';
import { PostgresTokenStore } from '../src/storage/postgres/token-store.js';
import type { TokenRecord } from '../src/storage/types.js';
import { adminStoreConformance } from './helpers/audit-event-conformance.js';
import { tokenStoreConformance } from './helpers/grant-conformance.js';
import { recordingStoreConformance } from './helpers/recording-conformance.js';
import { rolloutStoreConformance } from './helpers/rollout-conformance.js';
import { scriptTestStoreConformance } from './helpers/script-test-conformance.js';
import { signingKeyStoreConformance } from './helpers/signing-key-conformance.js';
import { configStoreConformance } from './helpers/storage-conformance.js';

const url = process.env.REGISTRAR_TEST_POSTGRES_URL;

if (url === undefined || url === '') {
  test('PostgreSQL conformance', {
    skip: 'REGISTRAR_TEST_POSTGRES_URL is not set: start one with eval "$(scripts/test-services.sh start)" (CI sets it)',
  }, () => {});
} else {
  postgresSuites(url);
}

function postgresSuites(url: string): void {
  const poolOptions = (schema?: string, max = 10): PostgresOptions => ({
    max,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 15_000,
    ...(schema === undefined ? {} : { schema }),
  });
  /** Creates and drops the test schemas. */
  const admin = openPostgres(url, poolOptions(undefined, 2));
  after(() => admin.end());

  /** A new, empty schema; `open` gives pools on it (unmigrated); `close` ends them and drops the schema. */
  async function freshSchema() {
    const schema = `test_${randomBytes(8).toString('hex')}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    const pools: Pool[] = [];
    return {
      schema,
      open(max = 10): Pool {
        const pool = openPostgres(url, poolOptions(schema, max));
        pools.push(pool);
        return pool;
      },
      async close() {
        await Promise.all(pools.map((pool) => pool.end()));
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  }

  /** A fresh schema, migrated, and a pool on it. */
  async function migrated() {
    const fresh = await freshSchema();
    const pool = fresh.open();
    await migrate(pool);
    return { ...fresh, pool };
  }

  configStoreConformance('PostgreSQL', async () => {
    const { pool, open, close } = await migrated();
    return {
      store: new PostgresConfigStore(pool),
      async openPeer() {
        return new PostgresConfigStore(open());
      },
      close,
    };
  });

  tokenStoreConformance('PostgreSQL', async () => {
    const { pool, close } = await migrated();
    let clock = 1_700_000_000_000;
    return {
      store: new PostgresTokenStore(pool, () => clock),
      now: () => clock,
      advance: (ms: number) => {
        clock += ms;
      },
      close,
    };
  });

  signingKeyStoreConformance('PostgreSQL', async () => {
    const { pool, close } = await migrated();
    return { store: new PostgresSigningKeyStore(pool), close };
  });

  adminStoreConformance('PostgreSQL', async () => {
    const { pool, close } = await migrated();
    return {
      auditEvents: new PostgresAuditEventStore(pool),
      consoleSessions: new PostgresConsoleSessionStore(pool),
      close,
    };
  });

  recordingStoreConformance('PostgreSQL', async () => {
    const { pool, close } = await migrated();
    return { recordings: new PostgresRecordingStore(pool), config: new PostgresConfigStore(pool), close };
  });

  scriptTestStoreConformance('PostgreSQL', async () => {
    const { pool, close } = await migrated();
    return { tests: new PostgresScriptTestStore(pool), config: new PostgresConfigStore(pool), close };
  });

  rolloutStoreConformance('PostgreSQL', async () => {
    const { pool, close } = await migrated();
    return { store: new PostgresConfigStore(pool), close };
  });

  rolloutStoreConformance('PostgreSQL, with the read memo', async () => {
    const { pool, close } = await migrated();
    return { store: withReadMemo(new PostgresConfigStore(pool), 60_000), close };
  });

  describe('PostgreSQL specifics', () => {
    const versionsOf = async (pool: Pool) =>
      (
        await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
      ).rows.map((row) => row.version);
    const allVersions = MIGRATIONS.map((_, i) => i + 1);

    test('migrations are idempotent: migrating again keeps the versions and the data', async () => {
      const { pool, close } = await migrated();
      try {
        await new PostgresConfigStore(pool).upsertProperty({ id: 'p', value: 'v', sensitive: false });
        await migrate(pool);
        await migrate(pool);
        assert.deepEqual(await versionsOf(pool), allVersions);
        assert.deepEqual(await new PostgresConfigStore(pool).listProperties(), [
          { id: 'p', value: 'v', sensitive: false },
        ]);
      } finally {
        await close();
      }
    });

    test('5 pools migrating one fresh schema at once all succeed, each version applied once', async () => {
      const fresh = await freshSchema();
      try {
        const pools = Array.from({ length: 5 }, () => fresh.open(2));
        const results = await Promise.allSettled(pools.map((pool) => migrate(pool)));
        assert.deepEqual(
          results.map((result) => result.status),
          Array.from({ length: 5 }, () => 'fulfilled'),
          `every migration succeeded: ${results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')).join('; ')}`,
        );
        const [first] = pools;
        assert.ok(first, 'a pool was opened');
        assert.deepEqual(await versionsOf(first), allVersions);
        await new PostgresConfigStore(first).ping();
      } finally {
        await fresh.close();
      }
    });

    test('a schema from a newer Registrar is refused', async () => {
      const { pool, close } = await migrated();
      try {
        await pool.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)', [
          MIGRATIONS.length + 1,
        ]);
        await assert.rejects(migrate(pool), /newer than this Registrar/);
      } finally {
        await close();
      }
    });

    test('migrating into a schema that does not exist fails with a clear message', async () => {
      const pool = openPostgres(url, poolOptions(`missing_${randomBytes(6).toString('hex')}`, 1));
      try {
        await assert.rejects(migrate(pool), /no schema of the search_path exists/);
      } finally {
        await pool.end();
      }
    });

    test('an invalid schema name is refused before connecting', () => {
      assert.throws(
        () => openPostgres(url, poolOptions('x; DROP TABLE y', 1)),
        /invalid PostgreSQL schema name/,
      );
    });

    test('BIGINT columns read as numbers', async () => {
      const { pool, close } = await migrated();
      try {
        const { rows } = await pool.query<{ n: unknown }>('SELECT 1700000000000::bigint AS n');
        assert.equal(rows[0]?.n, 1_700_000_000_000);
      } finally {
        await close();
      }
    });

    test('the statement timeout applies to every statement', async () => {
      const fresh = await freshSchema();
      const pool = openPostgres(url, { ...poolOptions(fresh.schema, 1), statementTimeoutMs: 100 });
      try {
        await assert.rejects(pool.query('SELECT pg_sleep(2)'), /statement timeout/);
      } finally {
        await pool.end();
        await fresh.close();
      }
    });

    test('lists page in byte order of the key, whatever the database collation', async () => {
      const { pool, close } = await migrated();
      try {
        const store = new PostgresConfigStore(pool);
        const ids = ['b', 'B', 'a-1', 'a_1', 'é', 'Z', 'a'];
        for (const id of ids) await store.upsertProperty({ id, value: id, sensitive: false });
        const byteOrder = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        const walked: string[] = [];
        let after: string | undefined;
        for (let i = 0; i < 10; i++) {
          const page = await store.pageProperties(after === undefined ? { limit: 2 } : { limit: 2, after });
          walked.push(...page.items.map((p) => p.id));
          if (page.next === null) break;
          after = page.next;
        }
        assert.deepEqual(walked, byteOrder);
        assert.deepEqual(
          (await store.listProperties()).map((p) => p.id),
          byteOrder,
        );
      } finally {
        await close();
      }
    });

    test('of 100 parallel rotations of one refresh token exactly one rotates, the others see a replay', async () => {
      const { pool, close } = await migrated();
      try {
        const store = new PostgresTokenStore(pool);
        const family = randomUUID();
        const token = (kind: TokenRecord['kind']): TokenRecord => ({
          hash: randomUUID(),
          kind,
          family_id: family,
          client_id: 'mobile',
          idp_id: 'qr',
          sub: 'user-1',
          scopes: ['openid'],
          amr: ['qr'],
          user_details: { nul: 'a\u0000b', order: { z: 1, a: 2 } },
          issued_at: Date.now(),
          expires_at: Date.now() + 60_000,
        });
        const refresh = token('refresh');
        await store.save([refresh]);
        const results = await Promise.all(
          Array.from({ length: 100 }, () =>
            store.rotate(refresh.hash, 'mobile', [token('access'), token('refresh')]),
          ),
        );
        const outcomes = results.map((result) => result.outcome);
        assert.equal(outcomes.filter((outcome) => outcome === 'rotated').length, 1, 'one rotation');
        assert.equal(outcomes.filter((outcome) => outcome === 'reused').length, 99, 'the others are replays');
        const rotated = results.find((result) => result.outcome === 'rotated');
        assert.deepEqual(
          rotated?.outcome === 'rotated' && rotated.token,
          refresh,
          'user details byte for byte',
        );
        const live = await pool.query("SELECT 1 FROM tokens WHERE state = 'live'");
        assert.equal(live.rowCount, 0, 'the replays revoked the family');
        const stored = await pool.query('SELECT 1 FROM tokens');
        assert.equal(stored.rowCount, 3, 'only the winner stored successors');
      } finally {
        await close();
      }
    });

    test('the schema itself refuses a second active signing key', async () => {
      const { pool, close } = await migrated();
      try {
        const insert =
          'INSERT INTO signing_keys (kid, alg, private_jwk_sealed, public_jwk, created_at, active) VALUES ($1, $2, $3, $4, $5, $6)';
        await pool.query(insert, ['a', 'ES256', 'v1:a', '{}', 1, true]);
        await assert.rejects(
          pool.query(insert, ['b', 'ES256', 'v1:b', '{}', 2, true]),
          /signing_keys_one_active/,
        );
        await pool.query(insert, ['c', 'ES256', 'v1:c', '{}', 3, false]);
      } finally {
        await close();
      }
    });

    test('a signing key added through one pool is activated through another', async () => {
      const { pool, open, close } = await migrated();
      try {
        const first = new PostgresSigningKeyStore(pool);
        const second = new PostgresSigningKeyStore(open());
        const key = (kid: string, created_at: number, active: boolean) => ({
          kid,
          alg: 'ES256',
          private_jwk_sealed: `v1:${kid}`,
          public_jwk: '{}',
          created_at,
          active,
        });
        await first.add(key('k1', 1, true));
        await first.add(key('k2', 2, false));
        await second.activate('k2');
        assert.deepEqual(
          (await first.list()).map((k) => [k.kid, k.active]),
          [
            ['k1', false],
            ['k2', true],
          ],
        );
      } finally {
        await close();
      }
    });
  });
}
