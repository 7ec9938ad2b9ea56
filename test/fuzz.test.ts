import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Answer, checkAnswer, credentialProblem } from './fuzz/oracle.js';
import { findingsText, summary } from './fuzz/report.js';
import { runFuzz } from './fuzz/run.js';
import { type FuzzTarget, startTarget } from './fuzz/target.js';

/** The seed `npm test` uses (FUZZ_SEED replays another run's requests). */
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : 0x13_2026;
const REQUESTS = 10_000;

/**
 * Issue 13: 10⁴ seeded requests over every route the app registers, a share of them
 * malformed HTTP over raw sockets. No 5xx, only the documented error shape and headers,
 * no stack trace, file path or secret in any answer, no answer slower than 10 s, valid
 * credentials never refused, and the server still answering /healthz at the end.
 * `npm run fuzz` runs 10⁵ with a fresh seed.
 */
describe('fuzzing every route', () => {
  let target: FuzzTarget;
  before(async () => {
    target = await startTarget();
  });
  after(() => target.close());

  test(`${REQUESTS} seeded requests find nothing`, async () => {
    const report = await runFuzz(target, { seed: SEED, requests: REQUESTS });
    assert.equal(report.findings.length, 0, `${summary(report)}\n${findingsText(report)}`);
    assert.equal(report.unsent, 0, 'every generated request was sent');
    const missed = Object.entries(report.routesHit).filter(([, n]) => n === 0);
    assert.deepEqual(missed, [], 'every registered route was fuzzed with its own method');
    for (const route of [
      'POST /oauth/api/v3/custom-registration/:idp/backchannel',
      'POST /oauth/custom-registration/:idp/init',
      'POST /oauth/custom-registration/:idp/complete',
      'POST /oauth/token',
      'POST /oauth/introspect',
      'POST /api/v1/configuration/identity-providers/:id/scripts/:kind/test',
    ]) {
      assert.ok((report.successes[route] ?? 0) > 0, `some requests to ${route} succeeded`);
    }
  });
});

describe('the fuzz oracle', () => {
  const asked = { method: 'POST', path: '/oauth/token', credentials: 'other' };
  const headers = {
    'content-type': 'application/json;charset=UTF-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'x-request-id': '0b9e0d52-6d1c-4c57-8a44-5b2f1f6f7a10',
  };
  const answer = (status: number, body: unknown, more: Partial<Answer> = {}): Answer => ({
    status,
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ms: 5,
    ...more,
  });
  const problems = (a: Answer, secrets: string[] = [], who = asked) => checkAnswer(who, a, secrets);

  test('passes documented answers', () => {
    assert.deepEqual(problems(answer(400, { error: 'invalid_client', error_description: 'x' })), []);
    assert.deepEqual(problems(answer(413, { error: 'invalid_request', error_description: 'x' })), []);
    const admin = { ...asked, path: '/api/v1/configuration/properties' };
    const details = {
      error: 'invalid_request',
      error_description: 'x',
      details: [{ field: 'id', message: 'm' }],
    };
    assert.deepEqual(problems(answer(400, details), [], admin), []);
  });

  test('flags 5xx, off-contract errors, missing headers, leaks and slow answers', () => {
    const flagged = (a: Answer, pattern: RegExp, secrets: string[] = []) =>
      assert.ok(
        problems(a, secrets).some((p) => pattern.test(p)),
        `${pattern} in ${problems(a, secrets)}`,
      );
    flagged(answer(500, { error: 'internal_server_error', error_description: 'x' }), /status 500/);
    flagged(answer(400, { message: 'Bad Request', statusCode: 400 }), /members|not a string/);
    flagged(answer(404, { error: 'invalid_client', error_description: 'x' }), /not in the error registry/);
    flagged(answer(400, { error: 'invalid_request', error_description: 'x', details: [] }), /details/);
    flagged(answer(400, 'Bad Request'), /not JSON/);
    flagged(answer(200, '{}', { headers: { ...headers, 'cache-control': 'public' } }), /Cache-Control/);
    flagged(answer(200, '{}', { headers: { ...headers, 'x-request-id': undefined } }), /X-Request-Id/);
    flagged(answer(200, '{"data":"s3cret-value"}'), /secret/, ['s3cret-value']);
    flagged(answer(200, { stack: 'Error: x\n    at parse (/srv/app/dist/x.js:1:2)' }), /stack frame/);
    flagged(answer(200, { stack: 'at async node:internal/x:1:2' }), /stack frame/);
    flagged(answer(200, `{"file":"${process.cwd()}/src/app.ts"}`), /file path/);
    flagged(answer(200, '{}', { ms: 10_001 }), /answered after/);
    const refused = answer(400, { error: 'invalid_client', error_description: 'x' });
    assert.ok(credentialProblem({ ...asked, credentials: 'valid' }, refused));
    assert.equal(credentialProblem(asked, refused), undefined);
  });
});
