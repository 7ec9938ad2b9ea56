/**
 * The counters and rate limits across two Registrar instances that share their storage
 * and CACHE (SQLite files, or PostgreSQL + Redis), each with its own sandbox processes:
 * `CACHE.increment` under 200 concurrent executions, `RATE.take` in scripts, and the
 * declarative `rate_limits` of an IdP, all exact across both nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sampleValue } from './metrics.js';
import { backchannel, basic, idp, PORTAL, type TestRegistrar } from './registrar.js';

/** A second API client with `user_registration`, to show limits are per client. */
export const OTHER_PORTAL = { client_id: 'portal-2', client_secret: 'portal-2-secret' } as const;

/** The config both nodes share (besides where storage and the CACHE live). */
export function countersConfig(): Record<string, unknown> {
  return {
    api_clients: [
      { ...PORTAL, scopes: ['user_registration'] },
      { ...OTHER_PORTAL, scopes: ['user_registration'] },
    ],
    identity_providers: [
      idp('count', {
        backchannel:
          'function execute(key) { return { status: 2000, responsePayload: String(CACHE.increment(key)) }; }',
      }),
      idp('read', {
        backchannel:
          'function execute(key) { return { status: 2000, responsePayload: JSON.stringify(CACHE.fetch(key)) }; }',
      }),
      idp('rate', {
        backchannel: `function execute(key) {
          var r = RATE.take(key, 30, 60);
          return { status: r.allowed ? 2000 : 4290, responsePayload: JSON.stringify(r) };
        }`,
      }),
      idp(
        'limited',
        { backchannel: 'function execute() { CACHE.increment("limited-runs"); return { status: 2000 }; }' },
        { rate_limits: [{ endpoint: 'backchannel', per: 'client', limit: 30, window_seconds: 60 }] },
      ),
    ],
  };
}

/**
 * Waits, when the current fixed window of `windowSeconds` ends within `marginMs`, for the
 * next one to start, so a burst of calls all fall in one window.
 */
export async function awayFromWindowEdge(windowSeconds: number, marginMs = 15_000): Promise<void> {
  const windowMs = windowSeconds * 1000;
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await sleep(left + 100);
}

export function countersAcrossNodes(
  name: string,
  start: () => Promise<[TestRegistrar, TestRegistrar]>,
): void {
  describe(`counters and rate limits on two nodes: ${name}`, () => {
    let nodes: [TestRegistrar, TestRegistrar];
    const node = (i: number) => nodes[i % 2] as TestRegistrar;
    const call = (
      i: number,
      idpId: string,
      data?: string,
      client: { client_id: string; client_secret: string } = PORTAL,
    ) =>
      backchannel(node(i).app, idpId, data, { authorization: basic(client.client_id, client.client_secret) });

    /** What both nodes logged at error level, for a failure's message. */
    const errorsLogged = () =>
      JSON.stringify(
        nodes.flatMap((n) => n.logs.lines.filter((line) => Number(line.level) >= 50)).slice(0, 5),
      );
    /** The count under `key`, as a node's script reads it (0 when absent). */
    const readCount = async (i: number, key: string) =>
      Number(JSON.parse((await call(i, 'read', key)).json().data) ?? 0);

    before(async () => {
      nodes = await start();
    });
    after(async () => {
      await Promise.all(nodes.map((n) => n.close()));
    });

    test('CACHE.increment: 200 concurrent executions on two nodes lose no increment', async () => {
      const key = `hits-${Date.now()}`;
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => call(i, 'count', key)));
      for (const res of answers) assert.equal(res.statusCode, 200, `${res.body} ${errorsLogged()}`);
      const counts = answers.map((res) => Number(res.json().data)).sort((a, b) => a - b);
      assert.deepEqual(
        counts,
        Array.from({ length: 200 }, (_, i) => i + 1),
        'every execution saw a distinct count',
      );
      for (const i of [0, 1]) {
        assert.equal(await readCount(i, key), 200, `node ${i} reads the exact total`);
      }
    });

    test('RATE.take in a script: the 31st take of a 30/min key across both nodes is denied', async () => {
      await awayFromWindowEdge(60);
      const key = `qr-${Date.now()}`;
      const verdicts = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const res = await call(i, 'rate', key);
          assert.equal(res.statusCode, 200, res.body);
          return JSON.parse(res.json().data) as { allowed: boolean; remaining: number; resetSeconds: number };
        }),
      );
      assert.ok(verdicts.every((v) => v.allowed));
      assert.deepEqual(
        verdicts.map((v) => v.remaining).sort((a, b) => a - b),
        Array.from({ length: 30 }, (_, i) => i),
      );
      const denied = await call(1, 'rate', key);
      assert.equal(denied.json().status, 4290);
      const verdict = JSON.parse(denied.json().data);
      assert.equal(verdict.allowed, false);
      assert.equal(verdict.remaining, 0);
      assert.ok(
        verdict.resetSeconds >= 1 && verdict.resetSeconds <= 60,
        `resetSeconds ${verdict.resetSeconds}`,
      );
      const other = await call(0, 'rate', `${key}-other`);
      assert.equal(other.json().status, 2000, 'another key has its own count');
    });

    test('rate_limits: 30/min per client; the 31st call across both nodes is 429 with Retry-After, before the script runs', async () => {
      await awayFromWindowEdge(60);
      const before = await readCount(0, 'limited-runs');
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i, 'limited')));
      for (const res of answers) assert.equal(res.statusCode, 200, res.body);
      for (const i of [0, 1]) {
        const res = await call(i, 'limited');
        assert.equal(res.statusCode, 429, res.body);
        assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'error_description']);
        assert.equal(res.json().error, 'too_many_requests');
        assert.match(res.headers['content-type'] as string, /^application\/json/);
        assert.equal(res.headers['cache-control'], 'no-store');
        const retryAfter = Number(res.headers['retry-after']);
        assert.ok(
          Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
          `Retry-After ${retryAfter}`,
        );
      }
      const runs = await readCount(1, 'limited-runs');
      assert.equal(runs - before, 30, 'the limited calls never ran the script');
      const other = await call(0, 'limited', undefined, OTHER_PORTAL);
      assert.equal(other.statusCode, 200, 'another client has its own count');
      const counted =
        ((await sampleValue(node(0).deps.metrics, 'registrar_rate_limited_total', {
          idp: 'limited',
          endpoint: 'backchannel',
          per: 'client',
        })) ?? 0) +
        ((await sampleValue(node(1).deps.metrics, 'registrar_rate_limited_total', {
          idp: 'limited',
          endpoint: 'backchannel',
          per: 'client',
        })) ?? 0);
      assert.equal(counted, 2, 'each node counted its 429 in /metrics');
    });
  });
}
