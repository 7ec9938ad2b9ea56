import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { basic, idp, startRegistrar } from './helpers/registrar.js';

const dir = mkdtempSync(join(tmpdir(), 'registrar-script-tests-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ADMIN = { client_id: 'ops', client_secret: 'ops-secret', scopes: ['admin'] } as const;
const ANSWER =
  'function execute(data) { return { status: data === "x" ? 5000 : 2000, responsePayload: "p" }; }';
const PASSES = [{ name: 'a 2000', input: { data: 'y' }, expect: { status: 2000 } }];
const FAILS = [
  { name: 'x is fine', input: { data: 'x' }, expect: { status: '2xxx', payload: 'p' } },
  ...PASSES,
];

/** The ConfigError problems of a raw config, or [] when it parses. */
function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, { baseDir: dir, dataDir: dir });
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
}

describe('script tests in the config file', () => {
  test('tests are an inline list or a YAML/JSON file beside the config; bad ones name their path', () => {
    writeFileSync(
      join(dir, 'cases.yaml'),
      '- name: from yaml\n  input: {data: "y"}\n  expect: {status: 2000}\n',
    );
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ name: 'n', expect: { status: 'nope' } }]));
    const config = parseConfig(
      {
        identity_providers: [
          idp('a', { backchannel: ANSWER }, { tests: { backchannel: 'cases.yaml', complete: PASSES } }),
        ],
      },
      { baseDir: dir, dataDir: dir },
    );
    assert.equal(config.identity_providers[0]?.tests.backchannel?.[0]?.name, 'from yaml');
    assert.equal(config.identity_providers[0]?.tests.complete?.[0]?.name, 'a 2000');
    assert.equal(config.identity_providers[0]?.force_scripts, false);

    const withTests = (tests: unknown, extra = {}) => ({
      identity_providers: [idp('a', { backchannel: ANSWER }, { tests, ...extra })],
    });
    assert.match(
      problems(withTests({ backchannel: 'missing.yaml' })).join('\n'),
      /identity_providers\[0\]\.tests\.backchannel: file not found: .*missing\.yaml/,
    );
    assert.match(
      problems(withTests({ backchannel: 'bad.json' })).join('\n'),
      /identity_providers\[0\]\.tests\.backchannel: .*bad\.json: \[0\]\.expect\.status/,
    );
    assert.match(
      problems(withTests({ init: PASSES })).join('\n'),
      /identity_providers\[0\]\.tests\.init: tests for a init script the identity provider does not have/,
    );
    assert.match(
      problems(withTests({ backchannel: [...PASSES, ...PASSES] })).join('\n'),
      /identity_providers\[0\]\.tests\.backchannel\[1\]\.name: duplicate case name/,
    );
    assert.match(
      problems(withTests({}, { force_scripts: 'yes' })).join('\n'),
      /identity_providers\[0\]\.force_scripts/,
    );
  });

  test('passing tests are stored at start and readable through the admin API', async () => {
    const r = await startRegistrar({
      api_clients: [ADMIN],
      identity_providers: [idp('a', { backchannel: ANSWER }, { tests: { backchannel: PASSES } })],
    });
    try {
      const res = await r.app.inject({
        url: '/api/v1/configuration/identity-providers/a/scripts/backchannel/tests',
        headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(
        res.json().cases.map((c: { name: string }) => c.name),
        ['a 2000'],
      );
    } finally {
      await r.close();
    }
  });

  test('a script failing its tests refuses the start, naming each failed check', async () => {
    await assert.rejects(
      startRegistrar({
        identity_providers: [idp('a', { backchannel: ANSWER }, { tests: { backchannel: FAILS } })],
      }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        const text = error.problems.join('\n');
        assert.match(
          text,
          /identity_providers\[0\]\.scripts\.backchannel: test case "x is fine" failed: status: expected "2xxx", got 5000/,
        );
        assert.match(text, /set force_scripts: true/);
        assert.doesNotMatch(text, /a 2000/);
        return true;
      },
    );
  });

  test('force_scripts starts anyway: the script is active and the audit event says forced', async () => {
    const r = await startRegistrar({
      api_clients: [ADMIN],
      identity_providers: [
        idp('a', { backchannel: ANSWER }, { tests: { backchannel: FAILS }, force_scripts: true }),
      ],
    });
    try {
      const events = await r.deps.storage.auditEvents.list({ limit: 10, resource: 'script' });
      const event = events.items.find((e) => e.resource_id === 'a/backchannel');
      assert.ok(event, JSON.stringify(events.items));
      const after = event.after as Record<string, unknown>;
      assert.equal(after.forced, true);
      assert.equal(after.via, 'config_file');
      assert.deepEqual(after.tests, { passed: 1, failed: 1 });
      assert.ok(r.logs.find((line) => /activated anyway \(force_scripts\)/.test(String(line.msg))));
      const active = await r.deps.storage.config.getIdentityProvider('a');
      assert.equal(active?.scripts.backchannel?.version, 1);
    } finally {
      await r.close();
    }
  });
});
