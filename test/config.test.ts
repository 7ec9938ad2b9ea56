import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { ConfigError, loadConfigFile, parseConfig, type RegistrarConfig } from '../src/config/load.js';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'registrar.yaml');
const COMPLETE = 'function execute() { return { status: 2000, user: { id: "u" } }; }';
const BACKCHANNEL = 'function execute(p) {\n  return { status: 2000, responsePayload: p };\n}\n';
const INIT = 'function execute() { return { status: 2000, responsePayload: "init" }; }';

let dir: string;
let dataDir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'registrar-config-test-'));
  dataDir = join(dir, 'data');
  mkdirSync(join(dir, 'conf', 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'conf', 'scripts', 'complete.js'), COMPLETE);
  writeFileSync(join(dir, 'conf', 'scripts', 'backchannel.js'), BACKCHANNEL);
  writeFileSync(join(dir, 'conf', 'scripts', 'init.js'), INIT);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Validates `raw` the way the server does, resolving scripts against `<dir>/conf`. */
function parse(raw: unknown, overrides?: Parameters<typeof parseConfig>[1]['overrides']): RegistrarConfig {
  return parseConfig(raw, { baseDir: join(dir, 'conf'), dataDir, overrides });
}

/** The problems a config is rejected with; fails when it is accepted or throws something else. */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.name, 'ConfigError');
    for (const problem of error.problems) {
      assert.ok(error.message.includes(problem), `the message lists "${problem}"`);
    }
    return error.problems;
  }
  assert.fail('the configuration was accepted');
}

const rejects = (raw: unknown) => problemsOf(() => parse(raw));

/** A one_step IdP with an inline complete script, plus `extra`. */
const idp = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  scripts: { complete: { source: COMPLETE } },
  ...extra,
});

/** A config that uses every section, with scripts as paths relative to the file. */
const FULL = {
  server: { host: '0.0.0.0', port: 9090, body_limit_bytes: 4096, scrypt_log_n: 12 },
  storage: { url: 'sqlite:/tmp/elsewhere.db' },
  cache: { purge_interval_seconds: 5 },
  engine: { cpu_time_ms: 500, wall_time_ms: 2000, memory_mb: 32, cache: { default_ttl_seconds: 60 } },
  api_clients: [
    { client_id: 'portal', client_secret: 'portal-secret', name: 'Portal', scopes: ['user_registration'] },
    { client_id: 'ops', client_secret: 'ops-secret', scopes: ['admin', 'token_introspection'] },
  ],
  identity_providers: [
    {
      id: 'qr',
      name: 'QR',
      flow: 'one_step',
      scripts: { backchannel: 'scripts/backchannel.js', complete: 'scripts/complete.js' },
      limits: { cpu_time_ms: 100 },
    },
    {
      id: 'two',
      flow: 'two_step',
      enabled: false,
      scripts: { init: 'scripts/init.js', complete: { source: COMPLETE } },
    },
  ],
  properties: [
    { id: 'api.url', value: 'https://example.com' },
    { id: 'api_key', value: 'k-123', sensitive: true },
  ],
};

describe('config file formats', () => {
  test('a YAML file and an equivalent JSON file load to the same config', () => {
    const yamlPath = join(dir, 'conf', 'registrar.yaml');
    const jsonPath = join(dir, 'conf', 'registrar.json');
    writeFileSync(yamlPath, YAML.stringify(FULL));
    writeFileSync(jsonPath, JSON.stringify(FULL, null, 2));
    const fromYaml = loadConfigFile(yamlPath, { dataDir });
    const fromJson = loadConfigFile(jsonPath, { dataDir });
    assert.deepEqual(fromYaml, fromJson);
    assert.equal(fromYaml.server.port, 9090);
    assert.equal(fromYaml.server.host, '0.0.0.0');
    assert.equal(fromYaml.storage.url, 'sqlite:/tmp/elsewhere.db');
    assert.equal(
      fromYaml.cache.url,
      'sqlite:/tmp/cache.db',
      'the cache defaults to cache.db beside the storage database',
    );
    assert.deepEqual(fromYaml.api_clients[1]?.scopes, ['admin', 'token_introspection']);
    assert.equal(fromYaml.identity_providers[1]?.enabled, false);
    assert.deepEqual(fromYaml.identity_providers[0]?.limits, { cpu_time_ms: 100 });
    assert.equal(fromYaml.properties[1]?.sensitive, true);
    assert.equal(fromYaml.properties[0]?.sensitive, false);
    assert.equal(fromYaml.data_dir, resolve(dataDir));
  });

  test('a .yml file is YAML too, and an empty YAML file is all defaults', () => {
    const yml = join(dir, 'conf', 'short.yml');
    writeFileSync(yml, 'server:\n  port: 1234\n');
    assert.equal(loadConfigFile(yml, { dataDir }).server.port, 1234);
    const empty = join(dir, 'conf', 'empty.yaml');
    writeFileSync(empty, '');
    const config = loadConfigFile(empty, { dataDir });
    assert.equal(config.server.port, 8080);
    assert.deepEqual(config.identity_providers, []);
  });

  test('script paths resolve relative to the config file folder, not the working directory', () => {
    const nested = join(dir, 'elsewhere', 'deeper');
    mkdirSync(join(nested, 'js'), { recursive: true });
    writeFileSync(join(nested, 'js', 'bc.js'), BACKCHANNEL);
    writeFileSync(join(dir, 'elsewhere', 'complete.js'), COMPLETE);
    const path = join(nested, 'registrar.yaml');
    writeFileSync(
      path,
      YAML.stringify({
        identity_providers: [{ id: 'x', scripts: { backchannel: 'js/bc.js', complete: '../complete.js' } }],
      }),
    );
    assert.notEqual(process.cwd(), nested);
    const config = loadConfigFile(path, { dataDir });
    const scripts = config.identity_providers[0]?.scripts;
    assert.equal(scripts?.backchannel?.source, BACKCHANNEL);
    assert.equal(scripts?.complete?.source, COMPLETE);
    assert.equal(scripts?.backchannel?.filename, 'x/backchannel.js');
    assert.equal(scripts?.complete?.filename, 'x/complete.js');
  });

  test('an absolute script path is used as is', () => {
    const config = parse({
      identity_providers: [{ id: 'abs', scripts: { complete: join(dir, 'conf', 'scripts', 'complete.js') } }],
    });
    assert.equal(config.identity_providers[0]?.scripts.complete?.source, COMPLETE);
  });

  test('inline {source: ...} scripts work, for every script kind', () => {
    const config = parse({
      identity_providers: [
        {
          id: 'inline',
          flow: 'two_step',
          scripts: {
            init: { source: INIT },
            complete: { source: COMPLETE },
            backchannel: { source: BACKCHANNEL },
          },
        },
      ],
    });
    const scripts = config.identity_providers[0]?.scripts;
    assert.deepEqual(scripts, {
      init: { source: INIT, filename: 'inline/init.js' },
      complete: { source: COMPLETE, filename: 'inline/complete.js' },
      backchannel: { source: BACKCHANNEL, filename: 'inline/backchannel.js' },
    });
  });

  test('a file that cannot be read or does not parse is a ConfigError naming the file', () => {
    const missing = join(dir, 'conf', 'nope.yaml');
    const [unreadable] = problemsOf(() => loadConfigFile(missing, { dataDir }));
    assert.ok(unreadable?.startsWith(`${missing}: cannot read config file`), String(unreadable));

    const badJson = join(dir, 'conf', 'bad.json');
    writeFileSync(badJson, '{"server": {"port": 1,}}');
    const [jsonProblem] = problemsOf(() => loadConfigFile(badJson, { dataDir }));
    assert.ok(jsonProblem?.startsWith(`${badJson}: does not parse`), String(jsonProblem));

    const badYaml = join(dir, 'conf', 'bad.yaml');
    writeFileSync(badYaml, 'server:\n  port: [1\n');
    const [yamlProblem] = problemsOf(() => loadConfigFile(badYaml, { dataDir }));
    assert.ok(yamlProblem?.startsWith(`${badYaml}: does not parse`), String(yamlProblem));
  });

  test('a YAML file with a duplicate key is rejected, not silently resolved', () => {
    const path = join(dir, 'conf', 'dupkey.yaml');
    writeFileSync(path, 'server:\n  port: 1\n  port: 2\n');
    const [problem] = problemsOf(() => loadConfigFile(path, { dataDir }));
    assert.ok(problem?.startsWith(`${path}: does not parse`), String(problem));
  });

  test('a YAML file that is not a mapping is rejected', () => {
    const path = join(dir, 'conf', 'list.yaml');
    writeFileSync(path, '- a\n- b\n');
    assert.deepEqual(
      problemsOf(() => loadConfigFile(path, { dataDir })),
      ['(root): Invalid input: expected object, received array'],
    );
  });
});

describe('validation errors name their path exactly', () => {
  test('scheduling settings: the process maximum covers the base pool; per-IdP shares are positive', () => {
    assert.deepEqual(rejects({ engine: { sandbox_processes: 4, max_sandbox_processes: 2 } }), [
      'engine.max_sandbox_processes: must be at least sandbox_processes (4)',
    ]);
    const [share] = rejects({ identity_providers: [idp('a', { limits: { max_processes: 0 } })] });
    assert.match(share ?? '', /^identity_providers\[0\]\.limits\.max_processes: /);
  });

  test('unknown top-level key', () => {
    assert.deepEqual(rejects({ servers: {} }), ['servers: unknown key']);
  });

  test('unknown nested keys', () => {
    assert.deepEqual(
      rejects({ identity_providers: [idp('a', { scripts: { complete: 'x.js', extra: 'y.js' } })] }),
      ['identity_providers[0].scripts.extra: unknown key'],
    );
    assert.deepEqual(rejects({ engine: { cpu_limit: 5 } }), ['engine.cpu_limit: unknown key']);
    assert.deepEqual(rejects({ engine: { cache: { ttl: 5 } } }), ['engine.cache.ttl: unknown key']);
    assert.deepEqual(rejects({ server: { listen: 'x' } }), ['server.listen: unknown key']);
    assert.deepEqual(rejects({ api_clients: [{ client_id: 'a', client_secret: 'b', secret: 'c' }] }), [
      'api_clients[0].secret: unknown key',
    ]);
    assert.deepEqual(rejects({ identity_providers: [idp('a', { limits: { cpu: 1 } })] }), [
      'identity_providers[0].limits.cpu: unknown key',
    ]);
    assert.deepEqual(
      rejects({ identity_providers: [idp('a', { scripts: { complete: { source: 'x', path: 'y' } } })] }),
      ['identity_providers[0].scripts.complete.path: unknown key'],
    );
  });

  test('a two_step IdP without init', () => {
    const problems = rejects({
      identity_providers: [idp('a'), idp('b', { flow: 'two_step' })],
    });
    assert.deepEqual(problems, [
      'identity_providers[1].scripts.init: a two_step identity provider needs an init script',
    ]);
  });

  test('init on a one_step IdP (also when flow is left at its one_step default)', () => {
    const withInit = (id: string, extra: Record<string, unknown>) =>
      idp(id, { scripts: { init: { source: INIT }, complete: { source: COMPLETE } }, ...extra });
    assert.deepEqual(rejects({ identity_providers: [idp('a'), withInit('b', { flow: 'one_step' })] }), [
      'identity_providers[1].scripts.init: init scripts are only used by two_step identity providers',
    ]);
    assert.deepEqual(rejects({ identity_providers: [withInit('b', {})] }), [
      'identity_providers[0].scripts.init: init scripts are only used by two_step identity providers',
    ]);
  });

  test('an IdP without a complete script', () => {
    const [problem] = rejects({ identity_providers: [{ id: 'a', scripts: { backchannel: 'x.js' } }] });
    assert.ok(problem?.startsWith('identity_providers[0].scripts.complete: '), String(problem));
  });

  test('a missing script file names the IdP index, the kind and the resolved path', () => {
    const problems = rejects({
      identity_providers: [
        idp('a'),
        idp('b'),
        idp('c'),
        idp('d', { scripts: { complete: 'scripts/complete.js', backchannel: 'scripts/missing.js' } }),
      ],
    });
    assert.deepEqual(problems, [
      `identity_providers[3].scripts.backchannel: file not found: ${join(dir, 'conf', 'scripts', 'missing.js')}`,
    ]);
  });

  test('a script with a syntax error does not compile, with its line number', () => {
    const source = 'function execute() {\n  var a = 1;\n  return { status: 2000 ;\n}\n';
    const problems = rejects({
      identity_providers: [
        idp('a'),
        idp('b', { scripts: { complete: { source: COMPLETE }, backchannel: { source } } }),
      ],
    });
    assert.equal(problems.length, 1);
    const [problem] = problems;
    assert.ok(
      problem?.startsWith('identity_providers[1].scripts.backchannel: does not compile'),
      String(problem),
    );
    assert.ok(problem?.includes('SyntaxError'), String(problem));
    assert.ok(problem?.includes('line 3'), `names line 3: ${problem}`);
  });

  test('a syntax error in a script file is reported too, and compiling does not run the script', () => {
    writeFileSync(join(dir, 'conf', 'scripts', 'broken.js'), '\n\nfunction (\n');
    writeFileSync(
      join(dir, 'conf', 'scripts', 'side-effect.js'),
      'globalThis.__registrarConfigTestRan = true; function execute() { return { status: 2000 }; }',
    );
    const [problem] = rejects({
      identity_providers: [idp('a', { scripts: { complete: 'scripts/broken.js' } })],
    });
    assert.ok(
      problem?.startsWith('identity_providers[0].scripts.complete: does not compile'),
      String(problem),
    );
    assert.ok(problem?.includes('line 3'), `names line 3: ${problem}`);
    parse({ identity_providers: [idp('a', { scripts: { complete: 'scripts/side-effect.js' } })] });
    assert.equal((globalThis as Record<string, unknown>).__registrarConfigTestRan, undefined);
  });

  test('duplicate client_id, IdP id and property id', () => {
    const problems = rejects({
      api_clients: [
        { client_id: 'a', client_secret: 'x' },
        { client_id: 'b', client_secret: 'x' },
        { client_id: 'a', client_secret: 'y' },
      ],
      identity_providers: [idp('i'), idp('i')],
      properties: [
        { id: 'p', value: '1' },
        { id: 'p', value: '2' },
      ],
    });
    assert.deepEqual(problems.sort(), [
      'api_clients[2].client_id: duplicate client_id',
      'identity_providers[1].id: duplicate id',
      'properties[1].id: duplicate id',
    ]);
  });

  test('an unknown scope', () => {
    const [problem, ...rest] = rejects({
      api_clients: [
        { client_id: 'a', client_secret: 'x', scopes: ['user_registration', 'user_registraton'] },
      ],
    });
    assert.deepEqual(rest, []);
    assert.ok(problem?.startsWith('api_clients[0].scopes[1]: '), String(problem));
    assert.ok(problem?.includes('user_registration'), `lists the valid scopes: ${problem}`);
  });

  test('a bad IdP id (space, slash, empty, too long, non-ASCII)', () => {
    for (const [i, id] of ['my idp', 'a/b', '', 'x'.repeat(129), 'ä', 'a?b', 'a%2F'].entries()) {
      const problems = rejects({ identity_providers: [idp('ok'), idp(id)] });
      assert.equal(problems.length, 1, `${i}: ${problems.join('; ')}`);
      assert.ok(
        problems[0]?.startsWith('identity_providers[1].id: must be 1-128 characters'),
        String(problems[0]),
      );
    }
    parse({ identity_providers: [idp('A-z_0.9~'), idp('x'.repeat(128))] });
  });

  test('a bad property id', () => {
    const [problem] = rejects({ properties: [{ id: 'has space', value: 'v' }] });
    assert.ok(problem?.startsWith('properties[0].id: must be'), String(problem));
  });

  test('a bad outbound allow-list entry or address, installation-wide and per IdP', () => {
    const problems = rejects({
      engine: { http: { allow: ['ftp://example.com'], allow_addresses: ['10.0.0.0/33'] } },
      identity_providers: [{ ...idp('a'), http: { allow: ['https://user@example.com'] } }],
    });
    assert.ok(
      problems.some((p) => p.startsWith('engine.http.allow[0]: ')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('engine.http.allow_addresses[0]: ')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('identity_providers[0].http.allow[0]: ')),
      problems.join('\n'),
    );
  });

  test('out-of-range limits', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ engine: { memory_mb: 4 } }, 'engine.memory_mb: '],
      [{ engine: { memory_mb: 4097 } }, 'engine.memory_mb: '],
      [{ engine: { cpu_time_ms: 0 } }, 'engine.cpu_time_ms: '],
      [{ engine: { wall_time_ms: 600_001 } }, 'engine.wall_time_ms: '],
      [{ engine: { cpu_time_ms: 1.5 } }, 'engine.cpu_time_ms: '],
      [{ engine: { memory_mb: '64' } }, 'engine.memory_mb: '],
      [{ engine: { cache: { max_key_bytes: 0 } } }, 'engine.cache.max_key_bytes: '],
      [{ server: { port: 65_536 } }, 'server.port: '],
      [{ server: { port: -1 } }, 'server.port: '],
      [{ server: { body_limit_bytes: 10 } }, 'server.body_limit_bytes: '],
      [{ server: { scrypt_log_n: 9 } }, 'server.scrypt_log_n: '],
      [
        { identity_providers: [idp('a', { limits: { memory_mb: 4 } })] },
        'identity_providers[0].limits.memory_mb: ',
      ],
      [
        { identity_providers: [idp('a', { limits: { cpu_time_ms: 0 } })] },
        'identity_providers[0].limits.cpu_time_ms: ',
      ],
    ];
    for (const [raw, prefix] of cases) {
      const problems = rejects(raw);
      assert.equal(problems.length, 1, `${JSON.stringify(raw)}: ${problems.join('; ')}`);
      assert.ok(problems[0]?.startsWith(prefix), `${JSON.stringify(raw)} → ${problems[0]}`);
    }
    assert.equal(parse({ engine: { memory_mb: 8 } }).engine.memory_mb, 8);
    assert.equal(parse({ engine: { memory_mb: 4096 } }).engine.memory_mb, 4096);
  });

  test('wrong types, and storage or cache URLs of an unknown kind', () => {
    assert.ok(rejects({ server: { port: '8080' } })[0]?.startsWith('server.port: '), 'port as a string');
    assert.ok(rejects({ api_clients: {} })[0]?.startsWith('api_clients: '), 'api_clients as an object');
    assert.ok(
      rejects({ identity_providers: [idp('a', { enabled: 'yes' })] })[0]?.startsWith(
        'identity_providers[0].enabled: ',
      ),
      'enabled as a string',
    );
    assert.ok(
      rejects({ identity_providers: [idp('a', { flow: 'three_step' })] })[0]?.startsWith(
        'identity_providers[0].flow: ',
      ),
      'an unknown flow',
    );
    assert.deepEqual(rejects({ storage: { url: 'mysql://db/registrar' } }), [
      'storage.url: must be sqlite:PATH or postgres://...',
    ]);
    assert.deepEqual(rejects({ cache: { url: 'memcached://cache' } }), [
      'cache.url: must be sqlite:PATH or redis://...',
    ]);
    const remote = parse({
      storage: { url: 'postgres://db/registrar' },
      cache: { url: 'redis://cache:6379' },
    });
    assert.equal(remote.storage.url, 'postgres://db/registrar');
    assert.equal(remote.storage.postgres.connect_timeout_ms, 1000);
    assert.equal(remote.cache.redis.command_timeout_ms, 800);
    const pgOnly = parse({ storage: { url: 'postgres://db/registrar' } });
    assert.equal(
      pgOnly.cache.url,
      `sqlite:${resolve(dataDir, 'cache.db')}`,
      'the CACHE defaults to the data folder',
    );
  });

  test('several problems are reported together in one ConfigError', () => {
    const problems = rejects({
      bogus: true,
      server: { port: 70_000 },
      engine: { memory_mb: 4, cpu_limit: 1 },
      api_clients: [{ client_id: 'a', client_secret: 'x', scopes: ['nope'] }],
      identity_providers: [
        idp('bad id'),
        idp('ok', { scripts: { complete: { source: COMPLETE }, extra: 'x' } }),
      ],
    });
    const expected = [
      'bogus: unknown key',
      'server.port: ',
      'engine.memory_mb: ',
      'engine.cpu_limit: unknown key',
      'api_clients[0].scopes[0]: ',
      'identity_providers[0].id: ',
      'identity_providers[1].scripts.extra: unknown key',
    ];
    for (const prefix of expected) {
      assert.ok(
        problems.some((p) => p.startsWith(prefix)),
        `reports "${prefix}…" among ${JSON.stringify(problems)}`,
      );
    }
    assert.equal(problems.length, expected.length, JSON.stringify(problems));
  });

  test('several script problems are reported together too', () => {
    const problems = rejects({
      identity_providers: [
        idp('a', { scripts: { complete: 'scripts/gone-1.js' } }),
        idp('b', { scripts: { complete: { source: COMPLETE }, backchannel: { source: 'function (' } } }),
        idp('c', {
          flow: 'two_step',
          scripts: { init: 'scripts/gone-2.js', complete: 'scripts/complete.js' },
        }),
      ],
    });
    assert.equal(problems.length, 3, JSON.stringify(problems));
    assert.ok(
      problems[0]?.startsWith('identity_providers[0].scripts.complete: file not found: '),
      String(problems[0]),
    );
    assert.ok(
      problems[1]?.startsWith('identity_providers[1].scripts.backchannel: does not compile'),
      String(problems[1]),
    );
    assert.ok(
      problems[2]?.startsWith('identity_providers[2].scripts.init: file not found: '),
      String(problems[2]),
    );
  });

  test('the root must be an object', () => {
    for (const raw of [null, [], 'text', 42]) {
      const [problem] = rejects(raw);
      assert.ok(problem?.startsWith('(root): '), String(problem));
    }
  });
});

describe('defaults and overrides', () => {
  test('an empty config gets the documented defaults', () => {
    const config = parse({});
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.port, 8080);
    assert.equal(config.server.body_limit_bytes, 262_144);
    assert.equal(config.server.scrypt_log_n, 15);
    assert.equal(config.server.trust_request_id, false);
    assert.equal(config.engine.cpu_time_ms, 1000);
    assert.equal(config.engine.wall_time_ms, 10_000);
    assert.equal(config.engine.memory_mb, 64);
    assert.equal(config.engine.cache.default_ttl_seconds, 300);
    assert.equal(config.engine.cache.max_key_bytes, 1024);
    assert.equal(config.engine.cache.max_value_bytes, 65_536);
    assert.deepEqual(config.engine.http.allow, [], 'no outbound calls until an allow-list names a host');
    assert.equal(config.engine.http.connect_timeout_ms, 2500);
    assert.equal(config.engine.http.max_response_bytes, 1_048_576);
    assert.equal(config.engine.http.follow_redirects, false);
    assert.equal(config.storage.url, `sqlite:${resolve(dataDir, 'registrar.db')}`);
    assert.equal(config.cache.url, `sqlite:${resolve(dataDir, 'cache.db')}`, 'the CACHE has its own file');
    assert.equal(config.data_dir, resolve(dataDir));
    assert.deepEqual(config.api_clients, []);
    assert.deepEqual(config.identity_providers, []);
    assert.deepEqual(config.properties, []);
  });

  test('defaults fill in around the values that are given', () => {
    const config = parse({
      engine: { memory_mb: 128, cache: { max_value_bytes: 10 } },
      api_clients: [{ client_id: 'a', client_secret: 'x' }],
      identity_providers: [idp('i')],
      properties: [{ id: 'p', value: 'v' }],
    });
    assert.equal(config.engine.memory_mb, 128);
    assert.equal(config.engine.cpu_time_ms, 1000);
    assert.equal(config.engine.cache.max_value_bytes, 10);
    assert.equal(config.engine.cache.default_ttl_seconds, 300);
    assert.deepEqual(config.api_clients[0]?.scopes, []);
    assert.equal(config.identity_providers[0]?.flow, 'one_step');
    assert.equal(config.identity_providers[0]?.enabled, true);
    assert.equal(config.properties[0]?.sensitive, false);
  });

  test('environment overrides (host, port, storage URL) win over the file', () => {
    const path = join(dir, 'conf', 'overrides.yaml');
    writeFileSync(
      path,
      YAML.stringify({ server: { host: '10.0.0.1', port: 9000 }, storage: { url: 'sqlite:/from/file.db' } }),
    );
    const fromFile = loadConfigFile(path, { dataDir });
    assert.equal(fromFile.server.host, '10.0.0.1');
    assert.equal(fromFile.server.port, 9000);
    assert.equal(fromFile.storage.url, 'sqlite:/from/file.db');

    const overridden = loadConfigFile(path, {
      dataDir,
      overrides: { host: '::1', port: 0, storageUrl: 'sqlite:/from/env.db' },
    });
    assert.equal(overridden.server.host, '::1');
    assert.equal(overridden.server.port, 0, 'port 0 is an override, not "absent"');
    assert.equal(overridden.storage.url, 'sqlite:/from/env.db');
    assert.equal(
      overridden.cache.url,
      'sqlite:/from/cache.db',
      'the cache file follows the overridden storage',
    );
    assert.equal(overridden.server.body_limit_bytes, 262_144);

    const cacheOverride = loadConfigFile(path, { dataDir, overrides: { cacheUrl: 'sqlite:/cache/env.db' } });
    assert.equal(cacheOverride.storage.url, 'sqlite:/from/file.db');
    assert.equal(cacheOverride.cache.url, 'sqlite:/cache/env.db');
  });

  test('overrides also apply over defaults', () => {
    const config = parse({}, { host: '0.0.0.0', port: 1234 });
    assert.equal(config.server.host, '0.0.0.0');
    assert.equal(config.server.port, 1234);
  });
});

describe('the result', () => {
  test('is deeply frozen: assigning throws in strict mode', () => {
    const config = parse(FULL);
    const mutations: Array<[string, () => void]> = [
      ['top level', () => Object.assign(config, { data_dir: '/x' })],
      ['server.port', () => (config.server.port = 1)],
      ['engine.cache.default_ttl_seconds', () => (config.engine.cache.default_ttl_seconds = 1)],
      ['storage.url', () => (config.storage.url = 'sqlite:/x')],
      ['api_clients.push', () => config.api_clients.push({ client_id: 'x', client_secret: 'y', scopes: [] })],
      [
        'api_clients[0].client_secret',
        () => Object.assign(config.api_clients[0] ?? {}, { client_secret: 'x' }),
      ],
      ['api_clients[0].scopes.push', () => config.api_clients[0]?.scopes.push('admin')],
      [
        'identity_providers[0].enabled',
        () => Object.assign(config.identity_providers[0] ?? {}, { enabled: false }),
      ],
      [
        'identity_providers[0].scripts.backchannel.source',
        () => Object.assign(config.identity_providers[0]?.scripts.backchannel ?? {}, { source: 'x' }),
      ],
      [
        'identity_providers[0].limits',
        () => Object.assign(config.identity_providers[0]?.limits ?? {}, { memory_mb: 1 }),
      ],
      ['properties[1].value', () => Object.assign(config.properties[1] ?? {}, { value: 'x' })],
      ['delete server.host', () => delete (config.server as { host?: string }).host],
    ];
    for (const [what, mutate] of mutations) {
      assert.throws(mutate, TypeError, `${what} cannot be changed`);
    }
    assert.equal(config.server.port, 9090);
    assert.equal(config.identity_providers[0]?.scripts.backchannel?.source, BACKCHANNEL);
    assert.ok(Object.isFrozen(config.identity_providers[0]?.scripts), 'scripts is frozen');
  });

  test('parsing does not mutate the raw input', () => {
    const raw = JSON.parse(JSON.stringify(FULL));
    parse(raw);
    assert.deepEqual(raw, FULL);
  });
});

describe('examples/registrar.yaml (the demo config)', () => {
  test('loads cleanly with the demo client and the qr and echo IdPs', () => {
    const config = loadConfigFile(EXAMPLE, { dataDir });
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.port, 8080);
    assert.deepEqual(
      config.api_clients.map((c) => [c.client_id, c.scopes]),
      [
        ['demo-portal', ['user_registration']],
        ['demo-resource-server', ['token_introspection']],
        ['demo-admin', ['admin']],
      ],
    );
    assert.deepEqual(
      config.applications.map((a) => [a.client_id, a.identity_providers, a.scopes, a.refresh_tokens]),
      [['demo-app', ['qr', 'echo'], ['openid', 'profile'], true]],
    );
    assert.deepEqual(
      config.identity_providers.map((i) => [i.id, i.flow, i.enabled, Object.keys(i.scripts).sort()]),
      [
        ['qr', 'one_step', true, ['backchannel', 'complete']],
        ['echo', 'one_step', true, ['backchannel', 'complete']],
      ],
    );
    for (const provider of config.identity_providers) {
      for (const script of Object.values(provider.scripts)) {
        assert.match(script.source, /function execute\(/);
      }
    }
    assert.deepEqual(config.properties, [
      { id: 'greeting', value: 'hello from Registrar', sensitive: false },
    ]);
  });
});

describe('applications (the OAuth clients of custom registration)', () => {
  const app = (extra: Record<string, unknown> = {}) => ({
    client_id: 'mobile',
    client_secret: 'mobile-secret',
    identity_providers: ['qr'],
    scopes: ['openid', 'read'],
    default_scopes: ['openid'],
    ...extra,
  });

  test('defaults: no IdPs, no scopes, one-hour access tokens, no refresh tokens', () => {
    const config = parse({ applications: [{ client_id: 'a', client_secret: 's' }] });
    assert.deepEqual(config.applications[0], {
      client_id: 'a',
      client_secret: 's',
      identity_providers: [],
      scopes: [],
      default_scopes: [],
      access_token_ttl_seconds: 3600,
      refresh_tokens: false,
    });
  });

  test('a full application is accepted', () => {
    const config = parse({ identity_providers: [idp('qr')], applications: [app({ refresh_tokens: true })] });
    assert.equal(config.applications[0]?.refresh_tokens, true);
  });

  test('an IdP the file does not define is named by its path', () => {
    assert.deepEqual(
      rejects({
        identity_providers: [idp('qr')],
        applications: [app({ identity_providers: ['qr', 'nope'] })],
      }),
      ['applications[0].identity_providers[1]: unknown identity provider nope'],
    );
  });

  test('default scopes must be among the scopes', () => {
    assert.deepEqual(
      rejects({ identity_providers: [idp('qr')], applications: [app({ default_scopes: ['admin'] })] }),
      ["applications[0].default_scopes[0]: admin is not among the application's scopes"],
    );
  });

  test('duplicate client ids, bad scope names, out-of-range TTLs and unknown keys are rejected', () => {
    const problems = rejects({
      identity_providers: [idp('qr')],
      applications: [
        app(),
        app({ scopes: ['has space'], default_scopes: [] }),
        app({ client_id: 'other', access_token_ttl_seconds: 5, colour: 'red' }),
      ],
    });
    assert.ok(problems.includes('applications[1].client_id: duplicate client_id'), problems.join('\n'));
    assert.ok(
      problems.includes('applications[1].scopes[0]: is not a valid OAuth scope name'),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('applications[2].access_token_ttl_seconds:')),
      problems.join('\n'),
    );
    assert.ok(problems.includes('applications[2].colour: unknown key'), problems.join('\n'));
  });
});
