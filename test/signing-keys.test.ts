import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSqlite } from '../src/storage/sqlite/database.js';
import { SqliteSigningKeyStore } from '../src/storage/sqlite/signing-key-store.js';
import { signingKeyStoreConformance } from './helpers/signing-key-conformance.js';

const root = mkdtempSync(join(tmpdir(), 'registrar-signing-keys-'));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A new database file in the temp folder. */
const freshPath = () => join(root, `db-${++counter}`, 'registrar.db');

signingKeyStoreConformance('SQLite', async () => {
  const db = openSqlite(freshPath(), { migrate: true });
  return {
    store: new SqliteSigningKeyStore(db),
    async close() {
      db.close();
    },
  };
});

describe('SQLite signing keys specifics', () => {
  const insert = 'INSERT INTO signing_keys VALUES (?, ?, ?, ?, ?, ?)';

  test('the schema itself refuses a second active key', () => {
    const db = openSqlite(freshPath(), { migrate: true });
    try {
      db.prepare(insert).run('a', 'ES256', 'v1:a', '{}', 1, 1);
      assert.throws(() => db.prepare(insert).run('b', 'ES256', 'v1:b', '{}', 2, 1), /UNIQUE constraint/);
      db.prepare(insert).run('c', 'ES256', 'v1:c', '{}', 3, 0);
    } finally {
      db.close();
    }
  });

  test('a key added on one connection is listed and activated on another', async () => {
    const path = freshPath();
    const a = openSqlite(path, { migrate: true });
    const b = openSqlite(path, { migrate: true });
    try {
      const first = new SqliteSigningKeyStore(a);
      const second = new SqliteSigningKeyStore(b);
      await first.add({
        kid: 'k1',
        alg: 'ES256',
        private_jwk_sealed: 'v1:k1',
        public_jwk: '{}',
        created_at: 1,
        active: true,
      });
      await first.add({
        kid: 'k2',
        alg: 'ES256',
        private_jwk_sealed: 'v1:k2',
        public_jwk: '{}',
        created_at: 2,
        active: false,
      });
      await second.activate('k2');
      assert.deepEqual(
        (await first.list()).map((k) => [k.kid, k.active]),
        [
          ['k1', false],
          ['k2', true],
        ],
      );
    } finally {
      a.close();
      b.close();
    }
  });
});
