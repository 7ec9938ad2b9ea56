/**
 * A `CACHE.increment` whose result reached the caller survives the server being killed
 * with SIGKILL in the middle of a load: the sandbox process commits the increment (one
 * SQLite statement in WAL mode) before the script goes on, so the count in the file after
 * a restart is at least every count any caller was answered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { freePort } from './helpers/ports.js';
import { basic } from './helpers/registrar.js';
import { ServerProcess, waitUntilHealthy } from './helpers/server-process.js';

const CALLERS = 8;

describe('durable CACHE.increment across a SIGKILL of the server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'registrar-counter-durability-'));
  const configPath = join(dir, 'registrar.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      server: { scrypt_log_n: 10 },
      engine: { sandbox_processes: 2 },
      api_clients: [{ client_id: 'portal', client_secret: 'portal-secret', scopes: ['user_registration'] }],
      identity_providers: [
        {
          id: 'count',
          scripts: {
            backchannel: {
              source:
                'function execute() { return { status: 2000, responsePayload: String(CACHE.increment("durable-count", 1, 3600)) }; }',
            },
            complete: { source: 'function execute() { return { status: 2000, user: { id: "u" } }; }' },
          },
        },
      ],
    }),
  );
  let server: ServerProcess | undefined;
  after(async () => {
    if (server?.running) server.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = new ServerProcess({
      REGISTRAR_CONFIG: configPath,
      REGISTRAR_DATA_DIR: join(dir, 'data'),
      HOST: '127.0.0.1',
      PORT: String(port),
    });
    await waitUntilHealthy(server, base);
    return base;
  };

  test('the count after a restart is at least the highest count any caller was answered', async (t) => {
    const base = await start();
    let highest = 0;
    let answered = 0;
    let failed = 0;
    let running = true;
    const caller = async () => {
      while (running) {
        try {
          const res = await fetch(`${base}/oauth/api/v3/custom-registration/count/backchannel`, {
            method: 'POST',
            headers: { authorization: basic('portal', 'portal-secret'), 'content-type': 'application/json' },
            body: '{}',
          });
          const body = (await res.json()) as { status: number; data: string };
          assert.equal(res.status, 200);
          highest = Math.max(highest, Number(body.data));
          answered++;
        } catch {
          failed++;
          return;
        }
      }
    };
    const callers = Array.from({ length: CALLERS }, () => caller());
    await new Promise((resolve) => setTimeout(resolve, 1500));
    server?.child.kill('SIGKILL');
    await server?.waitForExit(5000);
    running = false;
    await Promise.all(callers);
    t.diagnostic(
      `${answered} increments answered (highest ${highest}); ${failed} callers cut off by the kill`,
    );
    assert.ok(answered > 20, `the load ran (${answered} answered)`);

    await start(); // recovers the WAL
    const db = new Database(join(dir, 'data', 'cache.db'), { readonly: true });
    try {
      const stored = db
        .prepare<[string], string>('SELECT value FROM cache_entries WHERE key = ?')
        .pluck()
        .get('durable-count');
      assert.ok(Number(stored) >= highest, `stored ${stored}, answered up to ${highest}`);
      assert.ok(Number(stored) >= answered, `stored ${stored}, ${answered} answered`);
    } finally {
      db.close();
    }
  });
});
