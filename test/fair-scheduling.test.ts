/**
 * Fair scheduling over a real port: one IdP's misbehaving script (a loop, a native
 * built-in that ignores the CPU limit, a slow upstream) must cost only that IdP, while a
 * quick script on another IdP keeps answering.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecuteRequest } from '../src/engine/engine.js';
import { listen } from './helpers/ports.js';
import { basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const QUICK = 'function execute(p) { return { status: 2000, responsePayload: "quick" }; }';
const LOOP = 'function execute(p) { while (true) {} }';
const SPARSE =
  'function execute(p) { var a = []; a[4294967294] = 1; a.lastIndexOf(2); return { status: 2000 }; }';

/** Keeps `count` callers calling `url` one request after another until `stop()`; counts answers by status. */
function callers(url: string, count: number) {
  let running = true;
  const statuses: number[] = [];
  const one = async () => {
    while (running) {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: basic(PORTAL.client_id, PORTAL.client_secret),
          'content-type': 'application/json',
        },
        body: '{"data":"x"}',
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  };
  const all = Array.from({ length: count }, one);
  return {
    statuses,
    async stop() {
      running = false;
      await Promise.all(all);
    },
  };
}

describe('fair scheduling over a real port', () => {
  let r: TestRegistrar;
  let base: string;
  let upstream: Server;

  before(async () => {
    upstream = createServer((_req, res) => {
      setTimeout(() => res.end('slow'), 1000);
    });
    const upstreamPort = await listen(upstream, 0);
    const origin = `http://127.0.0.1:${upstreamPort}`;
    r = await startRegistrar({
      identity_providers: [
        idp('quick', { backchannel: QUICK }),
        idp('loop', { backchannel: LOOP }),
        idp('sparse', { backchannel: SPARSE }, { limits: { cpu_time_ms: 300 } }),
        idp(
          'upstream',
          {
            backchannel: `function execute(p) {
              var answer = HTTP.request({ method: 'GET', url: ${JSON.stringify(`${origin}/slow`)} });
              return { status: 2000, responsePayload: String(answer.status) };
            }`,
          },
          { http: { allow: [origin] } },
        ),
        idp(
          'capped',
          {
            backchannel: `function execute(p) {
              var end = Date.now() + 300; while (Date.now() < end) {}
              return { status: 2000 };
            }`,
          },
          { limits: { max_processes: 1, wall_time_ms: 700 } },
        ),
      ],
    });
    const address = await r.app.listen({ host: '127.0.0.1', port: 0 });
    base = address.replace('localhost', '127.0.0.1');
  });
  after(async () => {
    await r.close();
    upstream.closeAllConnections();
    upstream.close();
  });

  const url = (idpId: string) => `${base}/oauth/api/v3/custom-registration/${idpId}/backchannel`;
  /** One backchannel call of the portal to `idpId`. */
  const post = (idpId: string) =>
    fetch(url(idpId), {
      method: 'POST',
      headers: {
        authorization: basic(PORTAL.client_id, PORTAL.client_secret),
        'content-type': 'application/json',
      },
      body: '{"data":"x"}',
    });

  /** `count` calls of the quick IdP, one after another: each one's time and status. */
  async function quickSeries(count: number): Promise<Array<{ ms: number; status: number; body: string }>> {
    const out = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const res = await post('quick');
      out.push({ ms: performance.now() - started, status: res.status, body: await res.text() });
      await sleep(20);
    }
    return out;
  }

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) if (pattern.test(line)) sum += Number(line.split(' ').pop());
    return sum;
  };

  test('with a looping script called by 8 concurrent callers, a quick script on another IdP answers each call within 100 ms', async (t) => {
    await quickSeries(3); // warm: the quick script is compiled in both processes
    const loop = callers(url('loop'), 8);
    // The series starts once the first loop run has been demoted and its replacement process
    // has started (that start-up, under tsx in tests, is what a call at the very moment of
    // the switch can wait on); from then on every call is held to 100 ms.
    await sleep(1500);
    const series = await quickSeries(40);
    await loop.stop();
    const slowest = Math.max(...series.map((s) => s.ms));
    const worst = series
      .map((s, i) => `#${i} ${s.ms.toFixed(1)} ms`)
      .sort((a, b) => Number(b.split(' ')[1]) - Number(a.split(' ')[1]))
      .slice(0, 3);
    t.diagnostic(`quick calls: slowest ${worst.join(', ')}; loop answers: ${loop.statuses.length}`);
    for (const s of series) {
      assert.equal(s.status, 200, s.body);
      assert.deepEqual(JSON.parse(s.body), { status: 2000, data: 'quick' });
    }
    assert.ok(slowest < 100, `every quick call within 100 ms (slowest ${slowest.toFixed(1)} ms)`);
    assert.ok(
      loop.statuses.every((status) => status === 500),
      'the looping IdP fails its own requests',
    );
    // Demoted while it ran (when it was seen burning a core), or sent to demoted processes after its first run.
    const demoted =
      (await metric(/^registrar_script_demotions_total\{idp="loop"\}/)) +
      (await metric(/^registrar_sandbox_process_starts_total\{pool="demoted"\}/));
    assert.ok(demoted >= 1, 'the loop was demoted');
    assert.equal(
      await metric(/^registrar_script_executions_total\{idp="quick",kind="backchannel",outcome="success"\}/),
      43,
    );
  });

  test('a native built-in that ignores the CPU limit loses its process soon after the limit; other IdPs do not notice', async (t) => {
    // Alone, in a normal process: killed at its 300 ms budget plus the 250 ms grace.
    const started = performance.now();
    const one = await post('sparse');
    const ms = performance.now() - started;
    t.diagnostic(`a lone sparse call answered ${one.status} after ${ms.toFixed(0)} ms`);
    assert.equal(one.status, 500);
    assert.equal(((await one.json()) as { error: string }).error, 'internal_server_error');
    assert.ok(
      ms < 2500,
      `failed near its CPU limit, long before wall time plus grace (11 s): ${ms.toFixed(0)} ms`,
    );
    // Four callers keep it stuck (now in demoted processes) while another IdP is served.
    const stuck = callers(url('sparse'), 4);
    await sleep(200);
    const series = await quickSeries(20);
    await stuck.stop();
    const slowest = Math.max(...series.map((s) => s.ms));
    t.diagnostic(`quick beside it: slowest ${slowest.toFixed(1)} ms`);
    for (const s of series) assert.equal(s.status, 200, s.body);
    assert.ok(slowest < 1000, `no quick call waited on it (slowest ${slowest.toFixed(1)} ms)`);
    assert.ok(stuck.statuses.every((status) => status === 500));
    const exits = await metric(
      /^registrar_sandbox_process_exits_total\{cause="(cpu_deadline|native_stuck)",idp="sparse"\}/,
    );
    assert.ok(exits >= 1, 'its processes were given up on, and counted under its IdP');
  });

  test('40 callers waiting on a slow upstream hold no capacity another IdP needs', async (t) => {
    const waiting = callers(url('upstream'), 40);
    await sleep(300);
    const series = await quickSeries(30);
    const inFlight = await metric(/^registrar_script_in_flight\{idp="upstream"\}/);
    await waiting.stop();
    const slowest = Math.max(...series.map((s) => s.ms));
    t.diagnostic(`quick: slowest ${slowest.toFixed(1)} ms; upstream in flight ${inFlight}`);
    for (const s of series) assert.equal(s.status, 200, s.body);
    // The bench holds the latency target under load; here: no quick call waits on the upstream (1 s).
    assert.ok(slowest < 1000, `no quick call waited on the upstream (slowest ${slowest.toFixed(1)} ms)`);
    assert.ok(
      inFlight <= 32,
      `at most max_executions_per_idp (32) of its executions in processes: ${inFlight}`,
    );
    assert.ok(
      waiting.statuses.every((status) => status === 200),
      'the upstream IdP itself is served',
    );
  });

  test('an IdP over its cap waits in its own queue and fails there at its wall-time limit', async () => {
    const send = () =>
      post('capped').then(async (res) => ({
        status: res.status,
        body: await res.text(),
        at: performance.now(),
      }));
    const started = performance.now();
    const answers = await Promise.all([send(), send(), send(), send()]);
    const ok = answers.filter((a) => a.status === 200);
    const failed = answers.filter((a) => a.status === 500);
    // One process at a time: 300 ms each, so within the 700 ms wall limit at most two get a turn.
    assert.ok(ok.length >= 1 && ok.length <= 2, `one or two served: ${JSON.stringify(answers)}`);
    assert.equal(failed.length, 4 - ok.length);
    for (const a of failed) assert.equal(JSON.parse(a.body).error, 'internal_server_error');
    assert.ok(
      Math.max(...answers.map((a) => a.at - started)) >= 600,
      'the served ones ran one after another, not side by side',
    );
    assert.ok(
      (await metric(
        /^registrar_script_executions_total\{idp="capped",kind="backchannel",outcome="queue_timeout"\}/,
      )) >= 1,
    );
    assert.ok(
      r.logs.find((line) => line.idp === 'capped' && String(line.msg).includes('queue_timeout')),
      'the log names the queue timeout',
    );
  });
});

describe('a process killed at an execution deadline', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      engine: {
        sandbox_processes: 1,
        max_sandbox_processes: 1,
        kill_grace_ms: 100,
        pipeline_budget_ms: 1000,
      },
      identity_providers: [
        idp('quick', { backchannel: QUICK }),
        idp(
          'flaky',
          {
            backchannel:
              'function execute(p) { if (p === "stick") { var a = []; a[4294967294] = 1; a.lastIndexOf(2); } return { status: 2000 }; }',
          },
          { limits: { cpu_time_ms: 200 } },
        ),
      ],
    });
  });
  after(() => r.close());

  const request = (idpId: string, payload: string): ExecuteRequest => {
    const source = r.config.identity_providers.find((entry) => entry.id === idpId)?.scripts.backchannel;
    assert.ok(source && typeof source === 'object');
    return {
      idpId,
      kind: 'backchannel',
      script: {
        version: 1,
        source: source.source,
        sha256: createHash('sha256').update(source.source).digest('hex'),
        filename: `${idpId}.js`,
      },
      limits: { cpu_time_ms: idpId === 'flaky' ? 200 : 1000, wall_time_ms: 10_000, memory_mb: 64 },
      args: [payload, null, null, null],
      requestId: `test-${idpId}`,
    };
  };

  test('an answer waiting in the pipe while the server itself was held up past the deadline is read, not killed', async () => {
    const { engine } = r.deps;
    assert.ok((await engine.execute(request('quick', 'x'))).ok);
    const pending = engine.execute(request('quick', 'x'));
    // Let the batch of this turn go out (at the end of the turn), then hold the thread.
    await new Promise((resolve) => setImmediate(resolve));
    // The server's own thread is busy past the execution's deadline (1 000 + 100 ms); the
    // sandbox answered long before, and its answer waits in the pipe.
    const end = Date.now() + 1500;
    while (Date.now() < end) {}
    const outcome = await pending;
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
  });

  test('executions queued behind it in its pipe never started: they run elsewhere and succeed', async () => {
    const { engine } = r.deps;
    const requeued = () => r.logs.lines.filter((line) => String(line.msg).includes('had not started')).length;
    // The flaky script's recent CPU becomes known (three runs), so another execution may
    // wait behind it in the pipe (the pipeline budget here is large enough for certain).
    for (let i = 0; i < 3; i++) assert.ok((await engine.execute(request('flaky', 'ok'))).ok);
    // Sent in one tick: the quick one waits in the pipe behind the one that gets stuck.
    const [a, b] = await Promise.all([
      engine.execute(request('flaky', 'stick')),
      engine.execute(request('quick', 'x')),
    ]);
    assert.equal(a.ok, false);
    assert.equal(!a.ok && a.error.kind, 'cpu_timeout');
    assert.ok(a.wallMs < 2000, `killed near its 200 ms budget plus grace, not at wall time: ${a.wallMs} ms`);
    assert.equal(b.ok, true, `the execution behind it succeeded: ${JSON.stringify(b)}`);
    assert.ok(requeued() > 0, 'the supervisor says it sent the waiting execution again');
  });
});

describe('loading a script is not running long', () => {
  let r: TestRegistrar;
  /** Its top level takes 450 ms, longer than the demotion threshold plus the allowance for loading (300 ms). */
  const HEAVY_TOP_LEVEL =
    'var end = Date.now() + 450; while (Date.now() < end) {} function execute(p) { return { status: 2000 }; }';

  before(async () => {
    r = await startRegistrar({
      engine: { sandbox_processes: 1 },
      identity_providers: [idp('heavy', { backchannel: HEAVY_TOP_LEVEL })],
    });
  });
  after(() => r.close());

  test('a cold run whose load takes long is not demoted: its demotion clock starts once the script is loaded', async () => {
    const source = HEAVY_TOP_LEVEL;
    const outcome = await r.deps.engine.execute({
      idpId: 'heavy',
      kind: 'backchannel',
      script: {
        version: 1,
        source,
        sha256: createHash('sha256').update(source).digest('hex'),
        filename: 'heavy.js',
      },
      limits: { cpu_time_ms: 2000, wall_time_ms: 10_000, memory_mb: 64 },
      args: [null, null, null, null],
      requestId: 'test-heavy',
    });
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    const demotions = r.logs.lines.filter((line) => String(line.msg).includes('a script ran long'));
    assert.deepEqual(demotions, [], 'no demotion for the time spent loading');
  });
});
