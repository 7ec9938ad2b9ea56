import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clientCreate } from '../src/cli/client.js';
import { UsageError } from '../src/cli/usage.js';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { basic, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const ADMIN = { client_id: 'admin', client_secret: 'admin-secret' } as const;
const BASE = '/api/v1/configuration';

/** Client ids that are refused, and why. */
const BAD_IDS: Array<[string, string]> = [
  ['\ud800', 'a lone high surrogate'],
  ['a\udc00b', 'a lone low surrogate'],
  ['', 'empty'],
  ['a\nb', 'a control character (newline)'],
  ['nul\u0000', 'a NUL'],
  ['\u007f', 'DEL'],
  ['evil\u202etxt.exe', 'a bidi override (format character)'],
  ['zero\u200bwidth', 'a zero-width space'],
  ['line\u2028sep', 'a line separator'],
  [' admin', 'a leading space'],
  ['é'.repeat(128), '256 UTF-8 bytes in 128 characters'],
];

/** Client ids that are accepted: printable Unicode, 1-255 UTF-8 bytes. */
const GOOD_IDS = ['mobile-app_1.0', 'a:b@c/d?e', 'ünïcødé client', '€'.repeat(85), '😀 app'];

/**
 * Identifiers (security review, issue 13): client ids of API clients and applications
 * are well-formed Unicode, printable, 1-255 UTF-8 bytes; anything else is refused
 * before it is stored, in the admin API and in the config file.
 */
describe('client identifiers', () => {
  let r: TestRegistrar;
  const call = (method: string, url: string, payload?: string) =>
    r.app.inject({
      method: method as 'POST',
      url: `${BASE}${url}`,
      headers: {
        authorization: basic(ADMIN.client_id, ADMIN.client_secret),
        'content-type': 'application/json',
      },
      ...(payload === undefined ? {} : { payload }),
    });
  const auditIds = () =>
    r.logs.lines
      .map((line) => line.audit as { event?: string; id?: string } | undefined)
      .filter((audit) => audit?.event === 'configuration_change')
      .map((audit) => audit?.id);
  const listIds = async (resource: string) => {
    const res = await call('GET', `/${resource}?limit=200`);
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { items: Array<{ client_id: string }> }).items.map((item) => item.client_id);
  };

  before(async () => {
    r = await startRegistrar({ api_clients: [{ ...ADMIN, scopes: ['admin'] }] });
  });
  after(() => r.close());

  for (const resource of ['api-clients', 'applications']) {
    test(`${resource}: a bad client_id is invalid_request naming the field, and nothing is stored or audited`, async () => {
      for (const [id, what] of BAD_IDS) {
        const before = await listIds(resource);
        const audits = auditIds().length;
        // JSON.stringify writes lone surrogates as \\uXXXX escapes, as a client would.
        const res = await call('POST', `/${resource}`, JSON.stringify({ client_id: id, client_secret: 's' }));
        assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
        const body = res.json() as { error: string; details: Array<{ field: string; message: string }> };
        assert.equal(body.error, 'invalid_request', what);
        assert.deepEqual(
          body.details.map((d) => d.field),
          ['client_id'],
          what,
        );
        assert.deepEqual(await listIds(resource), before, `${what}: nothing stored`);
        assert.equal(auditIds().length, audits, `${what}: nothing audited`);
      }
    });

    test(`${resource}: printable Unicode ids are created, with a Location that reads them back`, async () => {
      for (const id of GOOD_IDS) {
        const res = await call('POST', `/${resource}`, JSON.stringify({ client_id: id, client_secret: 's' }));
        assert.equal(res.statusCode, 201, `${id}: ${res.body}`);
        const location = String(res.headers.location);
        const read = await call('GET', location.slice(BASE.length));
        assert.equal(read.statusCode, 200, `${id}: ${read.body}`);
        assert.equal(read.json().client_id, id);
      }
      for (const id of GOOD_IDS) assert.ok((await listIds(resource)).includes(id), id);
    });
  }

  test('PUT with a bad client_id in the body is invalid_request naming client_id', async () => {
    const res = await call(
      'PUT',
      '/api-clients/admin',
      JSON.stringify({ client_id: '\ud800', scopes: ['admin'] }),
    );
    assert.equal(res.statusCode, 400, res.body);
    assert.deepEqual(
      res.json().details.map((d: { field: string }) => d.field),
      ['client_id'],
    );
  });

  test('the config file refuses the same ids, naming the path', () => {
    const config = (clientId: string) => ({
      api_clients: [{ client_id: clientId, client_secret: 's' }],
      applications: [{ client_id: clientId, client_secret: 's' }],
    });
    for (const [id, what] of BAD_IDS) {
      assert.throws(
        () => parseConfig(config(id), { baseDir: tmpdir(), dataDir: tmpdir() }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.problems.some((p) => p.startsWith('api_clients[0].client_id')) &&
          error.problems.some((p) => p.startsWith('applications[0].client_id')),
        what,
      );
    }
    for (const id of GOOD_IDS) parseConfig(config(id), { baseDir: tmpdir(), dataDir: tmpdir() });
  });

  test('registrar client create refuses the same ids before opening storage', async () => {
    // Should the check ever go, the command fails on this missing file instead of writing anywhere.
    const saved = process.env.REGISTRAR_CONFIG;
    process.env.REGISTRAR_CONFIG = join(tmpdir(), 'registrar-identifiers-test-no-such-file.yaml');
    try {
      for (const [id, what] of BAD_IDS) {
        await assert.rejects(clientCreate([id]), UsageError, what);
      }
    } finally {
      if (saved === undefined) delete process.env.REGISTRAR_CONFIG;
      else process.env.REGISTRAR_CONFIG = saved;
    }
  });
});
