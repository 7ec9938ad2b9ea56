import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Counter, escapeLabelValue, Histogram, MetricsRegistry } from '../src/metrics/prometheus.js';
import { OUTBOUND_DURATION_BUCKETS, OutboundMetrics } from '../src/outbound/metrics.js';
import { compilePolicy } from '../src/outbound/policy.js';
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

/** Parses exposition text line by line; fails on any line that is neither a comment nor a sample. */
function parseExposition(text: string) {
  assert.ok(text.endsWith('\n'), 'the text ends with a newline');
  const types = new Map<string, string>();
  const samples: { name: string; labels: string; value: number }[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
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
    assert.equal(metrics.requests.get({ idp: 'idp-a', outcome: 'ok' }), 2, 'a 404 still counts as ok');
    assert.equal(metrics.requests.get({ idp: 'idp-a', outcome: 'refused' }), 1);
    assert.equal(metrics.requests.get({ idp: 'idp-b', outcome: 'timeout' }), 1);
    assert.equal(metrics.requests.get({ idp: 'idp-b', outcome: 'ok' }), 0);
    const latencyA = metrics.duration.snapshot({ idp: 'idp-a' });
    assert.equal(latencyA.count, 3);
    assert.equal(latencyA.buckets.at(-1)?.count, 3);
    const latencyB = metrics.duration.snapshot({ idp: 'idp-b' });
    assert.ok(latencyB.sum >= 0.05 && latencyB.sum < 1, `idp-b spent ${latencyB.sum} s`);
    assert.equal(latencyB.buckets.find((bucket) => bucket.le === 0.05)?.count, 0);
    assert.equal(latencyB.buckets.find((bucket) => bucket.le === 1)?.count, 1);

    const { types, samples } = parseExposition(metrics.render());
    assert.equal(types.get('registrar_outbound_requests_total'), 'counter');
    assert.equal(types.get('registrar_outbound_request_duration_seconds'), 'histogram');
    const value = (name: string, labels: string) =>
      samples.find((sample) => sample.name === name && sample.labels === labels)?.value;
    assert.equal(value('registrar_outbound_requests_total', '{idp="idp-a",outcome="ok"}'), 2);
    assert.equal(value('registrar_outbound_requests_total', '{idp="idp-b",outcome="timeout"}'), 1);
    assert.equal(value('registrar_outbound_request_duration_seconds_count', '{idp="idp-a"}'), 3);
    assert.equal(value('registrar_outbound_request_duration_seconds_bucket', '{idp="idp-a",le="+Inf"}'), 3);
    const buckets = samples.filter(
      (sample) => sample.name.endsWith('_bucket') && sample.labels.startsWith('{idp="idp-a"'),
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

describe('Prometheus rendering', () => {
  test('escapes backslash, quote and newline in label values', () => {
    const metrics = new OutboundMetrics();
    const idp = 'we"ird\\id\nx';
    metrics.observe(idp, 'ok', 0.2);
    const text = metrics.render();
    assert.ok(
      text.includes('registrar_outbound_requests_total{idp="we\\"ird\\\\id\\nx",outcome="ok"} 1\n'),
      `escaped label in:\n${text}`,
    );
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    const { samples } = parseExposition(text);
    assert.equal(samples.length, 1 + OUTBOUND_DURATION_BUCKETS.length + 3);
  });

  test('renders HELP and TYPE even before any sample; values on bucket edges count in that bucket', () => {
    const registry = new MetricsRegistry();
    const metrics = new OutboundMetrics(registry);
    assert.equal(
      registry.render(),
      [
        '# HELP registrar_outbound_requests_total Outbound HTTP calls made by scripts, by IdP and outcome (ok or the failure kind).',
        '# TYPE registrar_outbound_requests_total counter',
        '# HELP registrar_outbound_request_duration_seconds Duration of outbound HTTP calls made by scripts (including the wait for a slot), by IdP.',
        '# TYPE registrar_outbound_request_duration_seconds histogram',
        '',
      ].join('\n'),
    );
    metrics.observe('x', 'ok', 0.005);
    assert.equal(metrics.duration.snapshot({ idp: 'x' }).buckets[0]?.count, 1);
  });

  test('a registry renders every family and refuses duplicate names; families validate their input', () => {
    const registry = new MetricsRegistry();
    new OutboundMetrics(registry);
    const jobs = registry.register(
      new Counter({ name: 'registrar_jobs_total', help: 'Jobs.\nSecond line \\ here', labelNames: [] }),
    );
    jobs.inc({}, 2);
    const sizes = registry.register(
      new Histogram({ name: 'registrar_sizes', help: 'Sizes.', labelNames: ['kind'], buckets: [1, 10] }),
    );
    sizes.observe({ kind: 'a' }, 5);
    const text = registry.render();
    parseExposition(text);
    assert.ok(text.includes('# HELP registrar_jobs_total Jobs.\\nSecond line \\\\ here\n'), 'help escaped');
    assert.ok(text.includes('registrar_jobs_total 2\n'), 'unlabelled sample');
    assert.ok(text.includes('registrar_sizes_bucket{kind="a",le="1"} 0\n'), 'below the sample');
    assert.ok(text.includes('registrar_sizes_bucket{kind="a",le="10"} 1\n'), 'cumulative');
    assert.ok(text.includes('registrar_sizes_sum{kind="a"} 5\n'), 'sum');
    assert.throws(() => new OutboundMetrics(registry), /already registered/);
    assert.throws(() => jobs.inc({}, -1), /cannot decrease/);
    assert.throws(() => sizes.observe({}, 1), /label kind is missing/);
    assert.throws(
      () => new Histogram({ name: 'h', help: '', labelNames: [], buckets: [2, 1] }),
      /strictly increasing/,
    );
    assert.throws(() => new Counter({ name: 'bad-name', help: '', labelNames: [] }), /invalid metric name/);
    assert.throws(() => new Counter({ name: 'c', help: '', labelNames: ['le'] }), /invalid label name/);
  });
});
