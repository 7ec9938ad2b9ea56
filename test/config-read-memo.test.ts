import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { withReadMemo } from '../src/storage/config-read-memo.js';
import { SqliteConfigStore } from '../src/storage/sqlite/config-store.js';
import { openSqlite } from '../src/storage/sqlite/database.js';

describe('the read memo for shared-database configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'registrar-memo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const client = (secret_hash: string) => ({ client_id: 'c', name: null, secret_hash, scopes: [] });

  const setup = () => {
    const db = openSqlite(join(dir, `${Math.random()}.db`), { migrate: true });
    // Another node: a second store on the same database, which the memo knows nothing of.
    const other = new SqliteConfigStore(openSqlite(db.name, { migrate: false }));
    let clock = 0;
    const memo = withReadMemo(new SqliteConfigStore(db), 500, () => clock);
    return { memo, other, advance: (ms: number) => (clock += ms) };
  };

  test('a change made elsewhere is seen once the memo expires, not before', async () => {
    const { memo, other, advance } = setup();
    await other.upsertApiClient(client('h1'));
    assert.equal((await memo.getApiClient('c'))?.secret_hash, 'h1');
    await other.upsertApiClient(client('h2'));
    advance(499);
    assert.equal((await memo.getApiClient('c'))?.secret_hash, 'h1', 'reused within the TTL');
    advance(1);
    // The SQLite store under the memo checks for other connections' commits once per event-loop turn.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await memo.getApiClient('c'))?.secret_hash, 'h2', 'read again after it');
  });

  test('a write through the memoised store is seen at once', async () => {
    const { memo, other } = setup();
    await other.upsertApiClient(client('h1'));
    assert.equal((await memo.getApiClient('c'))?.secret_hash, 'h1');
    assert.equal(await memo.deleteApiClient('c'), true);
    assert.equal(await memo.getApiClient('c'), undefined);
  });

  test('an unknown id is memoised too, and other methods pass through', async () => {
    const { memo, other } = setup();
    assert.equal(await memo.getApiClient('c'), undefined);
    await other.upsertApiClient(client('h1'));
    assert.equal(await memo.getApiClient('c'), undefined, 'still the memoised miss');
    assert.deepEqual(
      (await memo.listApiClients({ limit: 10 })).items.map((c) => c.client_id),
      ['c'],
      'lists are never memoised',
    );
  });
});
