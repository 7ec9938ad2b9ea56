/**
 * Safe script changes (issue 14) across two Registrar processes on one PostgreSQL and one
 * Redis: the test gate, a sticky 20 % canary, its counters shared through PostgreSQL, and
 * an automatic rollback seen by both nodes. Needs REGISTRAR_TEST_POSTGRES_URL and
 * REGISTRAR_TEST_REDIS_URL; skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from './helpers/ports.js';
import { basic } from './helpers/registrar.js';
import { ServerProcess, waitUntilHealthy } from './helpers/server-process.js';

const POSTGRES = process.env.REGISTRAR_TEST_POSTGRES_URL;
const REDIS = process.env.REGISTRAR_TEST_REDIS_URL;
const skip =
  POSTGRES && REDIS
    ? false
    : 'REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL are not set: start them with eval "$(scripts/test-services.sh start)"';

/** An audit event as the API lists it (fields read by the tests). */
interface AuditItem {
  action: string;
  client_id: string | null;
  after: { forced?: boolean; failures?: Array<{ case: string }>; reason?: string };
}

const COMPLETE = { source: 'function execute() { return { status: 2000, user: { id: "u" } }; }' };
const version = (n: number) =>
  `function execute(data) { return { status: 2000, responsePayload: "v${n}" }; }`;
const FLAKY = `function execute(data) {
  if (Number(String(data).slice(5)) % 3 === 0) throw new Error("boom for " + data);
  return { status: 2000, responsePayload: "v2" };
}`;
/** Answers whether the real CACHE holds what the shadow below stores. */
const SEES =
  'function execute(data) { return { status: 2000, responsePayload: "seen:" + CACHE.fetch("shadow-" + data) }; }';
/** The shadow: stores into its CACHE, and answers 5000 for user-3. */
const SHADOW = `function execute(data) {
  CACHE.store("shadow-" + data, "x");
  return { status: data === "user-3" ? 5000 : 2000, responsePayload: "seen:null" };
}`;
/** The read memo of PostgreSQL nodes (`storage.postgres.read_cache_ms`): a change is seen by the other node within it. */
const MEMO_MS = 200;

describe('safe script changes across two nodes on PostgreSQL + Redis', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'registrar-mn-rollout-'));
  const database = `registrar_rollout_${randomBytes(4).toString('hex')}`;
  const nodes: Array<{ server: ServerProcess; base: string }> = [];
  const portal = basic('portal', 'portal-secret');
  const admin = basic('admin', 'admin-secret');
  const BASE = '/api/v1/configuration/identity-providers';

  const call = async (node: number, method: string, path: string, auth: string, body?: unknown) => {
    const target = nodes[node];
    assert.ok(target, `node ${node} runs`);
    const res = await fetch(`${target.base}${path}`, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as any };
  };
  /** The backchannel's payload for `data` on `node`, or '500'. */
  const answer = async (node: number, idp: string, data: string) => {
    const res = await call(node, 'POST', `/oauth/api/v3/custom-registration/${idp}/backchannel`, portal, {
      data,
    });
    if (res.status === 500) return '500';
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return String(res.body.data);
  };
  /** user-from … user-(from+n-1), alternating nodes (user i on node i % 2), 20 at a time. */
  const callMany = async (idp: string, n: number, from = 0, node?: number) => {
    const answers: string[] = [];
    for (let i = from; i < from + n; i += 20) {
      const batch = Array.from({ length: Math.min(20, from + n - i) }, (_, j) =>
        answer(node ?? (i + j) % 2, idp, `user-${i + j}`),
      );
      answers.push(...(await Promise.all(batch)));
    }
    return answers;
  };
  /** Stores `source` as version 2 beside the active version 1, through node A. */
  const storeVersion2 = async (idp: string, source: string) => {
    assert.equal((await call(0, 'PUT', `${BASE}/${idp}/scripts/backchannel`, admin, { source })).status, 201);
    const back = await call(0, 'POST', `${BASE}/${idp}/scripts/backchannel/versions/1/activate`, admin, {});
    assert.equal(back.status, 200, JSON.stringify(back.body));
  };
  const audits = async (node: number, idp: string) =>
    (await call(node, 'GET', `/api/v1/audit-events?resource=script&resource_id=${idp}/backchannel`, admin))
      .body.items as AuditItem[];

  before(async () => {
    const pgAdmin = new pg.Client({ connectionString: POSTGRES });
    await pgAdmin.connect();
    await pgAdmin.query(`CREATE DATABASE ${database}`);
    await pgAdmin.end();
    const storageUrl = new URL(POSTGRES ?? '');
    storageUrl.pathname = `/${database}`;
    const configPath = join(dir, 'registrar.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { scrypt_log_n: 10, config_refresh_ms: 200 },
        storage: { postgres: { read_cache_ms: MEMO_MS } },
        engine: { sandbox_processes: 1 },
        cache: { redis: { key_prefix: `${database}:` } },
        api_clients: [
          { client_id: 'portal', client_secret: 'portal-secret', scopes: ['user_registration'] },
          { client_id: 'admin', client_secret: 'admin-secret', scopes: ['admin'] },
        ],
        identity_providers: ['gated', 'share', 'flaky', 'shadowed'].map((id) => ({
          id,
          scripts: { complete: COMPLETE, backchannel: { source: id === 'shadowed' ? SEES : version(1) } },
          ...(id === 'gated'
            ? {
                tests: {
                  backchannel: [{ name: 'says v1', input: { data: 'x' }, expect: { payload: 'v1' } }],
                },
              }
            : {}),
        })),
      }),
    );
    const env = {
      REGISTRAR_CONFIG: configPath,
      REGISTRAR_STORAGE_URL: storageUrl.toString(),
      REGISTRAR_CACHE_URL: REDIS,
      REGISTRAR_SECRET_KEY: randomBytes(32).toString('base64'),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    };
    const starting = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const port = await freePort();
        const server = new ServerProcess({ ...env, PORT: String(port), REGISTRAR_DATA_DIR: join(dir, name) });
        return { server, base: `http://127.0.0.1:${port}` };
      }),
    );
    nodes.push(...starting);
    await Promise.all(nodes.map(({ server, base }) => waitUntilHealthy(server, base)));
  });

  after(async () => {
    await Promise.all(nodes.map(({ server }) => server.kill()));
    rmSync(dir, { recursive: true, force: true });
    if (POSTGRES) {
      const pgAdmin = new pg.Client({ connectionString: POSTGRES });
      await pgAdmin.connect();
      await pgAdmin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await pgAdmin.end();
    }
  });

  test('a version failing its stored test is not activated on either node; forced, it is, audited', async () => {
    const saved = await call(0, 'PUT', `${BASE}/gated/scripts/backchannel`, admin, { source: version(2) });
    assert.equal(saved.status, 422, JSON.stringify(saved.body));
    assert.equal(saved.body.error, 'script_tests_failed');
    assert.equal(saved.body.details[0].case, 'says v1');
    await sleep(MEMO_MS * 2);
    assert.deepEqual([await answer(0, 'gated', 'a'), await answer(1, 'gated', 'b')], ['v1', 'v1']);
    const forced = await call(
      1,
      'POST',
      `${BASE}/gated/scripts/backchannel/versions/2/activate?force=true`,
      admin,
    );
    assert.equal(forced.status, 200, JSON.stringify(forced.body));
    await sleep(MEMO_MS * 2);
    assert.deepEqual([await answer(0, 'gated', 'a'), await answer(1, 'gated', 'b')], ['v2', 'v2']);
    const event = (await audits(0, 'gated')).find((e) => e.action === 'activate_version');
    assert.equal(event?.after.forced, true);
    assert.equal(event?.after.failures?.[0]?.case, 'says v1');
  });

  test('a 20 % canary started on node A: 15–25 % of 1 000 users on both nodes, sticky across nodes, counted together', async () => {
    await storeVersion2('share', version(2));
    const started = await call(0, 'POST', `${BASE}/share/scripts/backchannel/versions/2/activate`, admin, {
      rollout: { percent: 20 },
    });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    await sleep(MEMO_MS * 2);
    const answers = await callMany('share', 1000);
    const onNew = answers.filter((a) => a === 'v2').length;
    assert.equal(answers.filter((a) => a === 'v1').length + onNew, 1000);
    assert.ok(onNew >= 150 && onNew <= 250, `${onNew} of 1000 on the new version`);
    // The same users on the other node get the same versions.
    const swapped = await Promise.all(
      Array.from({ length: 200 }, (_, i) => answer((i + 1) % 2, 'share', `user-${i}`)),
    );
    assert.deepEqual(swapped, answers.slice(0, 200));

    // Each node adds its counts to PostgreSQL every 5 s: node B's view comes to hold both nodes' 1 200.
    let total = 0;
    for (let i = 0; i < 30 && total < 1200; i++) {
      await sleep(500);
      const view = (await call(1, 'GET', `${BASE}/share/scripts/backchannel/rollout`, admin)).body;
      total = view.previous.executions + view.new.executions;
    }
    assert.equal(total, 1200);
  });

  test('a new version throwing for a third of users is rolled back automatically; both nodes go back', async () => {
    await storeVersion2('flaky', FLAKY);
    const started = await call(1, 'POST', `${BASE}/flaky/scripts/backchannel/versions/2/activate`, admin, {
      rollout: { percent: 50 },
    });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    await sleep(MEMO_MS * 2);
    let state = 'running';
    for (let round = 0; round < 10 && state === 'running'; round++) {
      await callMany('flaky', 100, round * 100);
      state = (await call(round % 2, 'GET', `${BASE}/flaky/scripts/backchannel/rollout`, admin)).body.state;
    }
    assert.equal(state, 'rolled_back');
    await sleep(MEMO_MS * 2);
    const view = (await call(0, 'GET', `${BASE}/flaky/scripts/backchannel/rollout`, admin)).body;
    assert.equal(view.state, 'rolled_back');
    assert.match(view.reason, /failure rate of version 2, [\d.]+ % .* exceeds that of version 1, 0 %/);
    assert.deepEqual(new Set(await callMany('flaky', 100, 5000)), new Set(['v1']));
    const rollbacks = (await audits(1, 'flaky')).filter((e) => e.action === 'rollback_rollout');
    assert.equal(rollbacks.length, 1, 'exactly one node recorded the rollback');
    assert.equal(rollbacks[0]?.client_id, 'system');
    assert.equal(rollbacks[0]?.after.reason, view.reason);
    const logs = nodes.map(({ server }) => server.output()).join('\n');
    assert.match(logs, /canary rolled back: flaky\/backchannel runs version 1 again/);
  });

  test("a shadow started on node A runs beside node B's traffic; callers and the shared CACHE never see it", async () => {
    const draft = await call(0, 'PUT', `${BASE}/shadowed/scripts/backchannel?activate=false`, admin, {
      source: SHADOW,
    });
    assert.equal(draft.status, 201, JSON.stringify(draft.body));
    const started = await call(0, 'PUT', `${BASE}/shadowed/scripts/backchannel/shadow`, admin, {
      version: 2,
    });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    await sleep(MEMO_MS * 2);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 6; i++) {
        // The second round would see the shadow's CACHE store, had it reached the shared CACHE.
        assert.equal(await answer(1, 'shadowed', `user-${i}`), 'seen:null');
        await sleep(30);
      }
    }
    let view = (await call(1, 'GET', `${BASE}/shadowed/scripts/backchannel/shadow`, admin)).body;
    for (let i = 0; i < 50 && view.compared + view.skipped < 12; i++) {
      await sleep(50);
      view = (await call(1, 'GET', `${BASE}/shadowed/scripts/backchannel/shadow`, admin)).body;
    }
    assert.equal(view.compared + view.skipped, 12, JSON.stringify(view));
    assert.ok(view.different >= 1, JSON.stringify(view));
    for (const difference of view.differences) {
      assert.deepEqual(difference.shadow, { version: 2, status: 5000, payload: 'seen:null', error: null });
    }
    // Comparisons are kept per node: node A copied nothing.
    const onA = (await call(0, 'GET', `${BASE}/shadowed/scripts/backchannel/shadow`, admin)).body;
    assert.equal(onA.compared, 0);
  });
});
