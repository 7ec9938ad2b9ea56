/**
 * A CACHE store acknowledged to the caller survives the server being killed with SIGKILL
 * in the middle of a load: the server answers only after the commit, and a commit in
 * WAL mode is in the file once it returns (checkpoints run on a thread of their own and
 * change nothing of that).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { freePort } from './helpers/ports.js';
import { ServerProcess, waitUntilHealthy } from './helpers/server-process.js';

const DEMO_CLIENT = { id: 'demo-portal', secret: 'demo-portal-secret' };
const CALLERS = 16;

describe('durable CACHE stores across a SIGKILL of the server', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'registrar-durability-'));
  let server: ServerProcess | undefined;
  after(async () => {
    if (server?.running) server.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = new ServerProcess({ REGISTRAR_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port) });
    await waitUntilHealthy(server, base);
    return base;
  };

  test('every store acknowledged before the kill is in the CACHE after a restart', async (t) => {
    const base = await start();
    const acknowledged = new Map<string, string>();
    let failed = 0;
    let running = true;
    const caller = async (n: number) => {
      for (let i = 0; running; i++) {
        const userId = `user-${n}-${i}`;
        try {
          const res = await fetch(`${base}/oauth/api/v3/custom-registration/qr/backchannel`, {
            method: 'POST',
            headers: {
              authorization: `Basic ${Buffer.from(`${DEMO_CLIENT.id}:${DEMO_CLIENT.secret}`).toString('base64')}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({ data: JSON.stringify({ userId }) }),
          });
          const body = (await res.json()) as { status: number; data: string };
          assert.equal(res.status, 200);
          acknowledged.set(body.data, userId);
        } catch {
          failed++;
          return;
        }
      }
    };
    const callers = Array.from({ length: CALLERS }, (_, n) => caller(n));
    // Kill under load once enough stores are acknowledged (a busy machine takes longer to get there).
    const loadStart = Date.now();
    do await new Promise((resolve) => setTimeout(resolve, 100));
    while (acknowledged.size < 200 && Date.now() - loadStart < 15_000);
    server?.child.kill('SIGKILL');
    await server?.waitForExit(5000);
    running = false;
    await Promise.all(callers);
    t.diagnostic(`acknowledged ${acknowledged.size} stores; ${failed} callers cut off by the kill`);
    assert.ok(acknowledged.size > 50, `the load ran (${acknowledged.size} stores acknowledged)`);
    assert.ok(failed > 0, 'the kill cut requests in flight');

    // A restart recovers the WAL; every acknowledged store must be there.
    await start();
    const db = new Database(join(dataDir, 'cache.db'), { readonly: true });
    try {
      const read = db.prepare<[string], string>('SELECT value FROM cache_entries WHERE key = ?').pluck();
      const missing = [...acknowledged].filter(([key, userId]) => read.get(key) !== JSON.stringify(userId));
      assert.deepEqual(missing, [], 'no acknowledged store is lost');
    } finally {
      db.close();
    }
  });
});
