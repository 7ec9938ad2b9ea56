import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type EngineGaugeSource,
  EngineMetrics,
  QUEUE_WAIT_BUCKETS,
  SCRIPT_DURATION_BUCKETS,
} from '../src/engine/metrics.js';
import { createMetricsRegistry } from '../src/metrics/registry.js';
import { samples, sampleValue } from './helpers/metrics.js';

function setup() {
  const registry = createMetricsRegistry();
  return { registry, metrics: new EngineMetrics(registry) };
}

/** A gauge source whose figures the test changes between scrapes. */
function fakeSource() {
  const state = {
    processes: { base: 2, elastic: 0, demoted: 0 },
    queues: new Map<string, number>(),
    inFlight: new Map<string, number>(),
  };
  const source: EngineGaugeSource = {
    processes: () => ({ ...state.processes }),
    queueLengths: () => state.queues,
    inFlight: () => state.inFlight,
  };
  return { state, source };
}

describe('EngineMetrics', () => {
  test('counts executions by IdP, kind and outcome; the same labels add to one series', async () => {
    const { registry, metrics } = setup();
    for (let i = 0; i < 3; i++) metrics.execution('a', 'backchannel', 'success', 0.002, 0.001, 0);
    metrics.execution('a', 'backchannel', 'status_4xxx', 0.004, 0.002, 0);
    metrics.execution('a', 'init', 'success', 0.004, 0.002, 0);
    metrics.execution('b', 'backchannel', 'cpu_timeout', 1.2, 1, 0.3);
    const executions = (idp: string, kind: string, outcome: string) =>
      sampleValue(registry, 'registrar_script_executions_total', { idp, kind, outcome });
    assert.equal(await executions('a', 'backchannel', 'success'), 3);
    assert.equal(await executions('a', 'backchannel', 'status_4xxx'), 1);
    assert.equal(await executions('a', 'init', 'success'), 1);
    assert.equal(await executions('b', 'backchannel', 'cpu_timeout'), 1);
    assert.equal(await executions('b', 'backchannel', 'success'), undefined);
    assert.equal(
      (await samples(registry, 'registrar_script_executions_total')).length,
      4,
      'one series per label set, however often it was recorded',
    );
  });

  test('observes wall time per IdP and kind, queue wait per IdP, and sums CPU time per IdP', async () => {
    const { registry, metrics } = setup();
    metrics.execution('a', 'backchannel', 'success', 0.0004, 0.0003, 0.00005);
    metrics.execution('a', 'backchannel', 'status_5xx', 0.03, 0.02, 0.002);
    metrics.execution('a', 'complete', 'success', 0.2, 0.1, 0.5);
    metrics.execution('b', 'init', 'wall_timeout', 12, 0.5, 20);

    const duration = (suffix: string, labels: Record<string, string | number>) =>
      sampleValue(registry, `registrar_script_duration_seconds_${suffix}`, labels);
    assert.equal(await duration('count', { idp: 'a', kind: 'backchannel' }), 2);
    assert.equal(await duration('bucket', { idp: 'a', kind: 'backchannel', le: 0.0005 }), 1);
    assert.equal(await duration('bucket', { idp: 'a', kind: 'backchannel', le: 0.025 }), 1);
    assert.equal(await duration('bucket', { idp: 'a', kind: 'backchannel', le: 0.05 }), 2);
    assert.equal(await duration('count', { idp: 'a', kind: 'complete' }), 1);
    assert.equal(await duration('bucket', { idp: 'b', kind: 'init', le: 10 }), 0, 'past the last bucket');
    assert.equal(await duration('bucket', { idp: 'b', kind: 'init', le: '+Inf' }), 1);
    const buckets = await samples(registry, 'registrar_script_duration_seconds_bucket');
    assert.deepEqual(
      buckets.filter((s) => s.labels.idp === 'a' && s.labels.kind === 'complete').map((s) => s.labels.le),
      [...SCRIPT_DURATION_BUCKETS, '+Inf'],
    );

    const wait = (suffix: string, labels: Record<string, string | number>) =>
      sampleValue(registry, `registrar_script_queue_wait_seconds_${suffix}`, labels);
    assert.equal(await wait('count', { idp: 'a' }), 3);
    assert.equal(await wait('bucket', { idp: 'a', le: 0.0001 }), 1);
    assert.equal(await wait('bucket', { idp: 'a', le: 0.005 }), 2);
    assert.equal(await wait('bucket', { idp: 'a', le: 0.5 }), 3);
    assert.equal(await wait('bucket', { idp: 'b', le: '+Inf' }), 1);
    const waitBuckets = await samples(registry, 'registrar_script_queue_wait_seconds_bucket');
    assert.deepEqual(
      waitBuckets.filter((s) => s.labels.idp === 'b').map((s) => s.labels.le),
      [...QUEUE_WAIT_BUCKETS, '+Inf'],
    );

    const cpuA = await sampleValue(registry, 'registrar_script_cpu_seconds_total', { idp: 'a' });
    assert.ok(Math.abs((cpuA ?? 0) - 0.1203) < 1e-9, `idp a burnt ${cpuA} s`);
    assert.equal(await sampleValue(registry, 'registrar_script_cpu_seconds_total', { idp: 'b' }), 0.5);
  });

  test('odd times count as 0 instead of throwing', async () => {
    const { registry, metrics } = setup();
    metrics.execution('a', 'init', 'success', Number.NaN, -1, Number.POSITIVE_INFINITY);
    assert.equal(await sampleValue(registry, 'registrar_script_cpu_seconds_total', { idp: 'a' }), 0);
    assert.equal(
      await sampleValue(registry, 'registrar_script_duration_seconds_sum', { idp: 'a', kind: 'init' }),
      0,
    );
    assert.equal(await sampleValue(registry, 'registrar_script_queue_wait_seconds_sum', { idp: 'a' }), 0);
    assert.equal(await sampleValue(registry, 'registrar_script_queue_wait_seconds_count', { idp: 'a' }), 1);
  });

  test('counts demotions, process exits by cause and IdP, and process starts by pool', async () => {
    const { registry, metrics } = setup();
    const starts = (pool: string) =>
      sampleValue(registry, 'registrar_sandbox_process_starts_total', { pool });
    assert.equal(await starts('base'), 0, 'every pool shows from the start');
    assert.equal(await starts('elastic'), 0);
    assert.equal(await starts('demoted'), 0);
    metrics.processStart('base');
    metrics.processStart('base');
    metrics.processStart('demoted');
    assert.equal(await starts('base'), 2);
    assert.equal(await starts('elastic'), 0);
    assert.equal(await starts('demoted'), 1);

    metrics.demotion('a');
    metrics.demotion('a');
    metrics.demotion('b');
    assert.equal(await sampleValue(registry, 'registrar_script_demotions_total', { idp: 'a' }), 2);
    assert.equal(await sampleValue(registry, 'registrar_script_demotions_total', { idp: 'b' }), 1);

    metrics.processExit('cpu_deadline', 'a');
    metrics.processExit('cpu_deadline', 'a');
    metrics.processExit('idle', '');
    metrics.processExit('crash', 'b');
    const exits = (cause: string, idp: string) =>
      sampleValue(registry, 'registrar_sandbox_process_exits_total', { cause, idp });
    assert.equal(await exits('cpu_deadline', 'a'), 2);
    assert.equal(await exits('idle', ''), 1);
    assert.equal(await exits('crash', 'b'), 1);
    assert.equal(await exits('crash', 'a'), undefined);
  });

  test('gauges read the source at each scrape; IdPs the source no longer reports are absent', async () => {
    const { registry, metrics } = setup();
    const processes = (pool: string) => sampleValue(registry, 'registrar_sandbox_processes', { pool });
    assert.equal(await processes('base'), 0, 'all pools at 0 before a source is set');
    assert.equal(await processes('demoted'), 0);
    assert.deepEqual(await samples(registry, 'registrar_script_queue_length'), []);

    const { state, source } = fakeSource();
    metrics.setGaugeSource(source);
    state.queues.set('a', 3).set('b', 0);
    state.inFlight.set('a', 4);
    assert.equal(await processes('base'), 2);
    assert.equal(await processes('elastic'), 0);
    assert.equal(await processes('demoted'), 0);
    assert.equal(await sampleValue(registry, 'registrar_script_queue_length', { idp: 'a' }), 3);
    assert.equal(await sampleValue(registry, 'registrar_script_queue_length', { idp: 'b' }), 0);
    assert.equal(await sampleValue(registry, 'registrar_script_in_flight', { idp: 'a' }), 4);

    state.processes = { base: 2, elastic: 3, demoted: 1 };
    state.queues.delete('a');
    state.inFlight.delete('a');
    state.inFlight.set('c', 1);
    assert.equal(await processes('elastic'), 3);
    assert.equal(await processes('demoted'), 1);
    assert.equal(await sampleValue(registry, 'registrar_script_queue_length', { idp: 'a' }), undefined);
    assert.equal(await sampleValue(registry, 'registrar_script_in_flight', { idp: 'a' }), undefined);
    assert.equal(await sampleValue(registry, 'registrar_script_in_flight', { idp: 'c' }), 1);

    const text = await registry.metrics();
    assert.match(text, /^# TYPE registrar_sandbox_processes gauge$/m);
    assert.match(text, /^registrar_sandbox_processes\{pool="elastic"\} 3$/m);
    assert.match(text, /^registrar_script_in_flight\{idp="c"\} 1$/m);
    assert.doesNotMatch(text, /registrar_script_in_flight\{idp="a"\}/);
  });

  test('every family has help text and its type; two EngineMetrics need two registries', async () => {
    const { registry } = setup();
    const text = await registry.metrics();
    const types = Object.fromEntries(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1], match[2]]),
    );
    assert.deepEqual(types, {
      // Every registry has it (src/metrics/registry.ts).
      registrar_log_lines_dropped_total: 'counter',
      registrar_script_executions_total: 'counter',
      registrar_script_duration_seconds: 'histogram',
      registrar_script_cpu_seconds_total: 'counter',
      registrar_script_queue_wait_seconds: 'histogram',
      registrar_script_demotions_total: 'counter',
      registrar_sandbox_process_exits_total: 'counter',
      registrar_sandbox_process_starts_total: 'counter',
      registrar_sandbox_processes: 'gauge',
      registrar_script_queue_length: 'gauge',
      registrar_script_in_flight: 'gauge',
    });
    for (const name of Object.keys(types)) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S.{10,}$`, 'm'), `help for ${name}`);
    }
    assert.throws(() => new EngineMetrics(registry), /already been registered/);
    assert.doesNotThrow(() => setup());
  });
});
