import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const BASE = '/api/v1/configuration/identity-providers';
const ADMIN = { client_id: 'ops', client_secret: 'ops-secret' } as const;

/** Answers which version ran. */
const version = (n: number) =>
  `function execute(data) { return { status: 2000, responsePayload: "v${n}" }; }`;
/** Version 2 of the rollback case: throws on a third of the users (`user-N` with N divisible by 3). */
const FLAKY = `function execute(data) {
  if (Number(String(data).slice(5)) % 3 === 0) throw new Error("boom for " + data);
  return { status: 2000, responsePayload: "v2" };
}`;

type Res = Awaited<ReturnType<TestRegistrar['app']['inject']>>;

describe('script canaries on one node (SQLite)', () => {
  let r: TestRegistrar;
  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      identity_providers: ['share', 'flaky', 'auto', 'manual'].map((id) =>
        idp(id, { backchannel: version(1) }),
      ),
    });
  });
  after(() => r.close());

  const admin = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    r.app.inject({
      method,
      url: url.startsWith('/api/') || url.startsWith('/metrics') ? url : `${BASE}${url}`,
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      ...(payload === undefined ? {} : { payload }),
    });
  const expectError = (res: Res, status: number, error: string) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error, error, res.body);
  };
  /** Stores `source` as version 2 beside the active version 1 (saved, then version 1 activated again). */
  const storeVersion2 = async (id: string, source: string) => {
    assert.equal((await admin('PUT', `/${id}/scripts/backchannel`, { source })).statusCode, 201);
    assert.equal((await admin('POST', `/${id}/scripts/backchannel/versions/1/activate`)).statusCode, 200);
  };
  const startCanary = async (id: string, rollout: object) => {
    const res = await admin('POST', `/${id}/scripts/backchannel/versions/2/activate`, { rollout });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  /** The backchannel's answer for `data`: its payload, or `500` when the script failed. */
  const call = async (id: string, data: string) => {
    const res = await backchannel(r.app, id, data);
    if (res.statusCode === 500) return '500';
    assert.equal(res.statusCode, 200, res.body);
    return res.json().data as string;
  };
  /** Calls for user-0 … user-(n-1), `batch` at a time; the answers in order. */
  const callMany = async (id: string, n: number, from = 0) => {
    const answers: string[] = [];
    for (let i = from; i < from + n; i += 25) {
      const batch = Array.from({ length: Math.min(25, from + n - i) }, (_, j) => call(id, `user-${i + j}`));
      answers.push(...(await Promise.all(batch)));
    }
    return answers;
  };
  const auditOf = async (id: string, action: string) => {
    const res = await admin('GET', `/api/v1/audit-events?resource=script&resource_id=${id}/backchannel`);
    return res.json().items.find((e: { action: string }) => e.action === action);
  };

  test('a 20 % canary gets 15–25 % of 1 000 users, sticky per user, counted per version', async () => {
    await storeVersion2('share', version(2));
    const started = await startCanary('share', { percent: 20 });
    assert.equal(started.state, 'running');
    assert.deepEqual([started.previous.version, started.new.version], [1, 2]);
    assert.equal(started.min_executions, 50);
    assert.equal(started.margin_points, 5);

    const answers = await callMany('share', 1000);
    const onNew = answers.filter((a) => a === 'v2').length;
    assert.equal(answers.filter((a) => a === 'v1').length + onNew, 1000);
    assert.ok(onNew >= 150 && onNew <= 250, `${onNew} of 1000 on the new version`);

    // Sticky: the same users get the same versions again.
    const again = await callMany('share', 200);
    assert.deepEqual(again, answers.slice(0, 200));

    const view = (await admin('GET', '/share/scripts/backchannel/rollout')).json();
    assert.equal(view.counts_source, 'this_node');
    assert.equal(view.new.executions + view.previous.executions, 1200);
    assert.equal(view.new.failures, 0);
    assert.ok(view.new.mean_wall_ms > 0);

    const metrics = await r.app.inject({ url: '/metrics' });
    const line = metrics.body
      .split('\n')
      .find((l) =>
        l.startsWith('registrar_script_version_executions_total{idp="share",kind="backchannel",version="2"}'),
      );
    assert.equal(line?.split(' ')[1], String(view.new.executions), metrics.body.slice(0, 2000));
    assert.match(
      metrics.body,
      /registrar_script_version_duration_seconds_count\{idp="share",kind="backchannel",version="1"\}/,
    );
  });

  test('while a canary runs, other changes of the script are conflict; abort sends all traffic back', async () => {
    expectError(await admin('PUT', '/share/scripts/backchannel', { source: version(3) }), 409, 'conflict');
    expectError(await admin('POST', '/share/scripts/backchannel/versions/2/activate'), 409, 'conflict');
    expectError(
      await admin('POST', '/share/scripts/backchannel/versions/2/activate', { rollout: { percent: 50 } }),
      409,
      'conflict',
    );
    const aborted = await admin('POST', '/share/scripts/backchannel/rollout/abort');
    assert.equal(aborted.statusCode, 200, aborted.body);
    assert.equal(aborted.json().state, 'aborted');
    assert.equal(aborted.json().reason, 'aborted by ops');
    assert.equal(aborted.json().new.executions > 0, true);
    assert.deepEqual(new Set(await callMany('share', 100)), new Set(['v1']));
    expectError(await admin('POST', '/share/scripts/backchannel/rollout/abort'), 409, 'conflict');
    expectError(await admin('POST', '/share/scripts/backchannel/rollout/promote'), 409, 'conflict');
    const event = await auditOf('share', 'abort_rollout');
    assert.equal(event.client_id, 'ops');
  });

  test('a new version that throws for a third of users is rolled back on its own, and the audit says why', async () => {
    await storeVersion2('flaky', FLAKY);
    await startCanary('flaky', { percent: 50 });
    let answers: string[] = [];
    let state = 'running';
    for (let round = 0; round < 10 && state === 'running'; round++) {
      answers = answers.concat(await callMany('flaky', 100, round * 100));
      state = (await admin('GET', '/flaky/scripts/backchannel/rollout')).json().state;
    }
    assert.equal(state, 'rolled_back');
    assert.ok(answers.includes('500'), 'some callers of the new version failed before the rollback');
    const view = (await admin('GET', '/flaky/scripts/backchannel/rollout')).json();
    assert.equal(view.counts_source, 'stored');
    assert.ok(view.new.executions >= 50, JSON.stringify(view));
    assert.ok(view.new.failure_rate > view.previous.failure_rate + 5, JSON.stringify(view));
    assert.match(
      view.reason,
      /failure rate of version 2, [\d.]+ % \(\d+ of \d+\), exceeds that of version 1, 0 % \(0 of \d+\), by more than 5 points/,
    );

    // Everyone is back on version 1, which never fails.
    assert.deepEqual(new Set(await callMany('flaky', 150)), new Set(['v1']));
    const idpNow = (await admin('GET', '/flaky')).json();
    assert.equal(idpNow.scripts.backchannel.version, 1);

    const event = await auditOf('flaky', 'rollback_rollout');
    assert.equal(event.client_id, 'system');
    assert.equal(event.after.state, 'rolled_back');
    assert.equal(event.after.reason, view.reason);
    assert.equal(event.after.failure_rates['1'], 0);
    assert.ok(event.after.failure_rates['2'] > 5);
    assert.ok(
      r.logs.find((l) => l.level === 40 && /canary rolled back: flaky\/backchannel/.test(String(l.msg))),
      'a warning in the server log',
    );
  });

  test('promote_after promotes a healthy canary on its own; rules are validated', async () => {
    await storeVersion2('auto', version(2));
    const bad = async (rollout: object, field: string) => {
      const res = await admin('POST', '/auto/scripts/backchannel/versions/2/activate', { rollout });
      expectError(res, 400, 'invalid_request');
      assert.ok(
        res.json().details.some((d: { field: string }) => d.field === field),
        res.body,
      );
    };
    await bad({ percent: 0 }, 'rollout.percent');
    await bad({ percent: 100 }, 'rollout.percent');
    await bad({ percent: 10, margin_points: -1 }, 'rollout.margin_points');
    await bad({ percent: 10, min_executions: 20, promote_after: 10 }, 'rollout.promote_after');
    await bad({ percent: 10, extra: 1 }, 'rollout.extra');
    expectError(
      await admin('POST', '/auto/scripts/backchannel/versions/1/activate', { rollout: { percent: 10 } }),
      409,
      'conflict',
    );

    await startCanary('auto', { percent: 50, min_executions: 10, promote_after: 20 });
    let state = 'running';
    for (let round = 0; round < 10 && state === 'running'; round++) {
      await callMany('auto', 25, round * 25);
      state = (await admin('GET', '/auto/scripts/backchannel/rollout')).json().state;
    }
    assert.equal(state, 'promoted');
    assert.equal((await admin('GET', '/auto')).json().scripts.backchannel.version, 2);
    assert.deepEqual(new Set(await callMany('auto', 50)), new Set(['v2']));
    const event = await auditOf('auto', 'promote_rollout');
    assert.equal(event.client_id, 'system');
    assert.match(event.after.reason, /version 2 ran \d+ times \(promote_after 20\)/);
  });

  test('explicit promotion; the gate runs before a canary starts', async () => {
    await storeVersion2('manual', version(2));
    const put = await admin('PUT', '/manual/scripts/backchannel/tests', {
      cases: [{ name: 'says v1', input: { data: 'x' }, expect: { payload: 'v1' } }],
    });
    assert.equal(put.statusCode, 200, put.body);
    expectError(
      await admin('POST', '/manual/scripts/backchannel/versions/2/activate', { rollout: { percent: 30 } }),
      422,
      'script_tests_failed',
    );
    expectError(await admin('GET', '/manual/scripts/backchannel/rollout'), 404, 'not_found');
    const forced = await admin('POST', '/manual/scripts/backchannel/versions/2/activate?force=true', {
      rollout: { percent: 30 },
    });
    assert.equal(forced.statusCode, 200, forced.body);
    const started = await auditOf('manual', 'start_rollout');
    assert.equal(started.after.forced, true);
    assert.equal(started.after.canary.percent, 30);

    const promoted = await admin('POST', '/manual/scripts/backchannel/rollout/promote');
    assert.equal(promoted.statusCode, 200, promoted.body);
    assert.equal(promoted.json().state, 'promoted');
    assert.deepEqual(new Set(await callMany('manual', 30)), new Set(['v2']));
    assert.equal((await admin('GET', '/manual/scripts/backchannel/versions')).json().items[0].active, true);
  });
});
