import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMetricsRegistry } from '../src/metrics/registry.js';
import { OUTBOUND_DURATION_BUCKETS, OutboundMetrics } from '../src/outbound/metrics.js';
import { compilePolicy } from '../src/outbound/policy.js';
import { sampleValue } from './helpers/metrics.js';
import {
  failsWith,
  makeClient,
  makeContext,
  startServer,
  type TestServer,
} from './outbound-client-helpers.js';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(\\{${LABEL}(?:,${LABEL})*\\})? (\\S+)$`);
const COMMENT = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`);

/**
 * Parses exposition text line by line; fails on any line that is neither a comment, a
 * sample nor empty (prom-client separates families with an empty line).
 */
function parseExposition(text: string) {
  assert.ok(text.endsWith('\n'), 'the text ends with a newline');
  const types = new Map<string, string>();
  const samples: { name: string; labels: string; value: number }[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const comment = COMMENT.exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') types.set(comment[2] ?? '', comment[3] ?? '');
      continue;
    }
    const sample = SAMPLE.exec(line);
    assert.ok(sample, `not a valid exposition line: ${JSON.stringify(line)}`);
    const raw = sample[3] ?? '';
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : Number(raw);
    assert.ok(!Number.isNaN(value), `not a number: ${line}`);
    samples.push({ name: sample[1] ?? '', labels: sample[2] ?? '', value });
  }
  return { types, samples };
}

describe('OutboundMetrics recorded by OutboundHttp', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  test('counts calls by IdP and outcome and observes their latency', async () => {
    const { http, metrics } = makeClient();
    const policy = compilePolicy({ allow: [server.origin], allow_addresses: [] });
    const a = makeContext(policy);
    const b = makeContext(policy, { idpId: 'idp-b' });
    await http.request(a, { method: 'GET', url: `${server.origin}/utf8`, headers: {} });
    await http.request(a, { method: 'GET', url: `${server.origin}/nothing`, headers: {} });
    await failsWith(http.request(a, { method: 'GET', url: 'http://127.0.0.9/', headers: {} }), 'refused');
    await failsWith(
      http.request(b, { method: 'GET', url: `${server.origin}/slow?ms=500`, headers: {}, timeoutMs: 60 }),
      'timeout',
    );
    const { registry } = metrics;
    const requests = (labels: Record<string, string>) =>
      sampleValue(registry, 'registrar_outbound_requests_total', labels);
    assert.equal(await requests({ idp: 'idp-a', outcome: 'ok' }), 2, 'a 404 still counts as ok');
    assert.equal(await requests({ idp: 'idp-a', outcome: 'refused' }), 1);
    assert.equal(await requests({ idp: 'idp-b', outcome: 'timeout' }), 1);
    assert.equal(await requests({ idp: 'idp-b', outcome: 'ok' }), undefined, 'no series for idp-b ok');
    const duration = (suffix: string, labels: Record<string, string | number>) =>
      sampleValue(registry, `registrar_outbound_request_duration_seconds_${suffix}`, labels);
    assert.equal(await duration('count', { idp: 'idp-a' }), 3);
    assert.equal(await duration('bucket', { idp: 'idp-a', le: '+Inf' }), 3);
    const sumB = (await duration('sum', { idp: 'idp-b' })) ?? Number.NaN;
    assert.ok(sumB >= 0.05 && sumB < 1, `idp-b spent ${sumB} s`);
    assert.equal(await duration('bucket', { idp: 'idp-b', le: 0.05 }), 0);
    assert.equal(await duration('bucket', { idp: 'idp-b', le: 1 }), 1);

    const { types, samples } = parseExposition(await registry.metrics());
    assert.equal(types.get('registrar_outbound_requests_total'), 'counter');
    assert.equal(types.get('registrar_outbound_request_duration_seconds'), 'histogram');
    const value = (name: string, labels: string) =>
      samples.find((sample) => sample.name === name && sample.labels === labels)?.value;
    assert.equal(value('registrar_outbound_requests_total', '{idp="idp-a",outcome="ok"}'), 2);
    assert.equal(value('registrar_outbound_requests_total', '{idp="idp-b",outcome="timeout"}'), 1);
    assert.equal(value('registrar_outbound_request_duration_seconds_count', '{idp="idp-a"}'), 3);
    assert.equal(value('registrar_outbound_request_duration_seconds_bucket', '{le="+Inf",idp="idp-a"}'), 3);
    const buckets = samples.filter(
      (sample) => sample.name.endsWith('_bucket') && sample.labels.endsWith(',idp="idp-a"}'),
    );
    assert.deepEqual(
      buckets.map((sample) => sample.labels.replace(/.*le="([^"]+)".*/, '$1')),
      [...OUTBOUND_DURATION_BUCKETS.map(String), '+Inf'],
    );
    const counts = buckets.map((sample) => sample.value);
    assert.deepEqual(
      counts,
      [...counts].sort((x, y) => x - y),
      'bucket counts are cumulative',
    );
  });
});

describe('OutboundMetrics', () => {
  test('registers both families in the given registry, with help and type before any sample', async () => {
    const registry = createMetricsRegistry();
    const metrics = new OutboundMetrics(registry);
    assert.equal(metrics.registry, registry);
    const { types, samples } = parseExposition(await registry.metrics());
    assert.equal(types.get('registrar_outbound_requests_total'), 'counter');
    assert.equal(types.get('registrar_outbound_request_duration_seconds'), 'histogram');
    assert.deepEqual(
      samples.filter((sample) => sample.name.startsWith('registrar_outbound_')),
      [],
    );
    assert.throws(() => new OutboundMetrics(registry), /already been registered/);
    assert.doesNotThrow(() => new OutboundMetrics(), 'a fresh registry by default');
  });

  test('a value on a bucket edge counts in that bucket; repeated labels add to one series', async () => {
    const metrics = new OutboundMetrics();
    metrics.observe('x', 'ok', 0.005);
    metrics.observe('x', 'ok', 0.2);
    const { registry } = metrics;
    const name = 'registrar_outbound_request_duration_seconds_bucket';
    assert.equal(await sampleValue(registry, name, { idp: 'x', le: 0.005 }), 1);
    assert.equal(await sampleValue(registry, name, { idp: 'x', le: 0.25 }), 2);
    assert.equal(
      await sampleValue(registry, 'registrar_outbound_requests_total', { idp: 'x', outcome: 'ok' }),
      2,
    );
  });
});
