/**
 * CACHE limits beyond one key and one value: what one execution may store, and how large a
 * SQLite CACHE may grow. A script past them gets a clear error; the CACHE is never
 * corrupted and the server never stalls.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { backchannel, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const STORE_MANY = `function execute(p) {
  var n = JSON.parse(p);
  var value = new Array(n.bytes + 1).join("v");
  for (var i = 0; i < n.count; i++) CACHE.store(n.prefix + i, value);
  return { status: 2000, responsePayload: String(n.count) };
}`;

describe('CACHE limits', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      cache: { sqlite_max_mb: 2 },
      // These scripts build large values; scheduling (demotion of long runs) is tested elsewhere.
      engine: { demote_after_ms: 5000 },
      identity_providers: [
        idp('many', { backchannel: STORE_MANY }),
        idp('delete', {
          backchannel:
            'function execute(p) { return { status: 2000, responsePayload: String(CACHE.delete(p)) }; }',
        }),
      ],
    });
  });
  after(() => r.close());

  const store = (prefix: string, count: number, bytes: number) =>
    backchannel(r.app, 'many', JSON.stringify({ prefix, count, bytes }));
  const failedWith = (pattern: RegExp) =>
    r.logs.find((line) =>
      pattern.test(String((line.failure as { message?: string } | undefined)?.message ?? line.msg)),
    );

  test('one execution stores at most 100 keys (engine.cache.max_stores_per_execution)', async () => {
    assert.equal((await store('hundred-', 100, 10)).statusCode, 200);
    const res = await store('too-many-', 101, 10);
    assert.equal(res.statusCode, 500);
    assert.ok(failedWith(/an execution may store at most 100 keys/), 'the script error says why');
    assert.equal(await r.deps.storage.cache.get('too-many-0'), null, 'nothing of it was committed');
  });

  test('one execution stores at most 1 MiB in all (engine.cache.max_store_bytes_per_execution)', async () => {
    const res = await store('big-', 20, 60 * 1024);
    assert.equal(res.statusCode, 500);
    assert.ok(failedWith(/an execution may store at most 1048576 bytes in all/));
    assert.equal((await store('fits-', 15, 60 * 1024)).statusCode, 200, 'just under the limit is fine');
  });

  test('a full SQLite CACHE (cache.sqlite_max_mb) refuses new stores, stays intact and the server stays responsive', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await store(`fill-${i}-`, 15, 60 * 1024)).statusCode);
    assert.ok(statuses.includes(500), `the CACHE filled up: ${statuses.join(' ')}`);
    assert.ok(
      r.logs.find((line) => line.msg === 'committing CACHE stores failed'),
      'the refused commit is logged',
    );
    const started = performance.now();
    const health = await r.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.ok(performance.now() - started < 500, 'no stall');
    // Deleting makes room again; the file is intact.
    for (let i = 0; i < 15; i++) await backchannel(r.app, 'delete', `fill-0-${i}`);
    assert.equal((await store('after-', 1, 10)).statusCode, 200);
    const file = new Database(join(r.dataDir, 'cache.db'), { readonly: true });
    try {
      assert.equal(file.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      file.close();
    }
  });
});
