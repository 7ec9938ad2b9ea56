/**
 * The `registrar` command line, through the real binary (`bin/registrar.js`, which
 * runs the sources through tsx): help and dispatch, `config validate`, `script test`
 * in the real sandbox, and `client create` / `client rotate-secret` against a server
 * (`registrar serve`) running on the same SQLite file.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort } from './helpers/ports.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'registrar.js');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'scripts');
const SECRET_KEY = Buffer.alloc(32, 7).toString('base64');
const RUN_TIMEOUT_MS = 30_000;

const dir = mkdtempSync(join(tmpdir(), 'registrar-cli-test-'));
const dataDir = join(dir, 'data');
const configPath = join(dir, 'registrar.yaml');
after(() => rmSync(dir, { recursive: true, force: true }));

/** The test's environment without anything that would change the child's behaviour, plus `env`. */
function childEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(result)) {
    if (
      name.startsWith('REGISTRAR_') ||
      ['NODE_TEST_CONTEXT', 'NODE_OPTIONS', 'LOG_LEVEL', 'HOST', 'PORT'].includes(name)
    ) {
      delete result[name];
    }
  }
  return {
    ...result,
    REGISTRAR_CONFIG: configPath,
    REGISTRAR_DATA_DIR: dataDir,
    REGISTRAR_SECRET_KEY: SECRET_KEY,
    ...env,
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `registrar ...args` to its end. */
function registrar(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: childEnv(env), timeout: RUN_TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(new Error(`${error.message}\n${stderr}`));
        else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

const show = (run: Run) => `exit ${run.code}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;

function writeScript(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

writeFileSync(
  configPath,
  [
    'server: { scrypt_log_n: 10 }',
    'api_clients:',
    '  - client_id: portal',
    '    client_secret: portal-secret',
    '    scopes: [user_registration]',
    'identity_providers:',
    '  - id: qr',
    '    scripts:',
    `      backchannel: ${JSON.stringify(join(FIXTURES, 'published-qr-backchannel.js'))}`,
    `      complete: ${JSON.stringify(join(FIXTURES, 'published-qr-complete.js'))}`,
    'properties:',
    '  - id: greeting',
    '    value: hello',
    '',
  ].join('\n'),
);

describe('registrar: help and dispatch', { concurrency: true }, () => {
  for (const args of [['--help'], ['help'], []]) {
    test(`registrar ${args.join(' ') || '(no arguments)'} prints the usage and exits 0`, async () => {
      const run = await registrar(args);
      assert.equal(run.code, 0, show(run));
      assert.ok(run.stdout.startsWith('Usage: registrar'), show(run));
      for (const command of [
        'serve',
        'config validate',
        'script test',
        'client create',
        'client rotate-secret',
      ]) {
        assert.ok(run.stdout.includes(command), `the usage names ${command}`);
      }
    });
  }

  test('an unknown command, or an unknown client command, exits 1 with a message on stderr', async () => {
    const [unknown, client] = await Promise.all([registrar(['frobnicate']), registrar(['client', 'frob'])]);
    assert.equal(unknown.code, 1, show(unknown));
    assert.equal(unknown.stdout, '');
    assert.ok(unknown.stderr.includes('unknown command: frobnicate'), show(unknown));
    assert.equal(client.code, 1, show(client));
    assert.ok(client.stderr.includes('unknown client command: frob'), show(client));
  });
});

describe('registrar config validate', { concurrency: true }, () => {
  test('a valid file: exit 0 and the counts, without creating the data folder', async () => {
    const unopened = join(dir, 'never-created');
    const run = await registrar(['config', 'validate', configPath], { REGISTRAR_DATA_DIR: unopened });
    assert.equal(run.code, 0, show(run));
    assert.equal(
      run.stdout,
      `${configPath}: valid (1 api clients, 0 applications, 1 identity providers, 1 properties)\n`,
    );
    assert.ok(!existsSync(unopened), 'no storage was opened');
  });

  test('an unknown key: exit 1, its path on stderr', async () => {
    const path = join(dir, 'unknown-key.yaml');
    writeFileSync(path, 'engine:\n  cpu_limit: 5\n');
    const run = await registrar(['config', 'validate', path]);
    assert.equal(run.code, 1, show(run));
    assert.equal(run.stdout, '');
    assert.ok(run.stderr.includes('engine.cpu_limit: unknown key'), show(run));
  });

  test('a script that does not compile: exit 1, with line and column', async () => {
    const path = join(dir, 'syntax-error.yaml');
    const source = 'function execute() {\n  return { status: 2000 ;\n}\n';
    writeFileSync(
      path,
      `identity_providers:\n  - id: x\n    scripts:\n      complete: { source: ${JSON.stringify(source)} }\n`,
    );
    const run = await registrar(['config', 'validate', path]);
    assert.equal(run.code, 1, show(run));
    assert.match(
      run.stderr,
      /identity_providers\[0\]\.scripts\.complete: does not compile: SyntaxError: .*\(line 2, column \d+\)/,
    );
  });
});

describe('registrar script test', { concurrency: true }, () => {
  test('the QR backchannel script with --data and --json: status 2000, the stored entry in the scratch cache', async () => {
    const run = await registrar([
      'script',
      'test',
      join(FIXTURES, 'published-qr-backchannel.js'),
      '--data',
      '{"userId": "alice"}',
      '--json',
    ]);
    assert.equal(run.code, 0, show(run));
    const report = JSON.parse(run.stdout);
    assert.equal(report.status, 2000);
    assert.equal(typeof report.response_payload, 'string');
    assert.deepEqual(report.cache, { [report.response_payload]: 'alice' });
    assert.deepEqual(report.logs, [{ level: 'info', message: 'storing userId: alice' }]);
    assert.equal(report.error, undefined);
  });

  test('a --cache-json seed is readable by a complete script', async () => {
    const run = await registrar([
      'script',
      'test',
      join(FIXTURES, 'published-qr-complete.js'),
      '--kind',
      'complete',
      '--data',
      'k1',
      '--cache-json',
      '{"k1": "bob", "other": {"n": 1}}',
    ]);
    assert.equal(run.code, 0, show(run));
    assert.ok(run.stdout.includes('status: 2000'), show(run));
    assert.ok(run.stdout.includes('user: {"id":"bob"}'), show(run));
    // The script deleted the entry it read; the other seed stays.
    assert.ok(run.stdout.includes('cache afterwards: {"other":{"n":1}}'), show(run));
  });

  test('any status is exit 0; LOG lines and --properties-json show in the summary', async () => {
    const script = writeScript('log.js', [
      'function execute(data) {',
      '  LOG.warn("greeting is {}", PROPERTIES.get("greeting"));',
      '  return { status: 4001, responsePayload: "retry" };',
      '}',
    ]);
    const run = await registrar(['script', 'test', script, '--properties-json', '{"greeting": "hey"}']);
    assert.equal(run.code, 0, show(run));
    assert.ok(run.stdout.includes('status: 4001'), show(run));
    assert.ok(run.stdout.includes('response payload: retry'), show(run));
    assert.ok(run.stdout.includes('[warn] greeting is hey'), show(run));
    assert.match(run.stdout, /cpu: [\d.]+ ms, wall: [\d.]+ ms/);
  });

  test('--allow lets HTTP.request reach a local upstream, and the summary lists the call', async (t) => {
    const upstream = createHttpServer((_req, res) => res.end('pong'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    t.after(() => upstream.close());
    const origin = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    const script = writeScript('http.js', [
      'function execute() {',
      `  return { status: 2000, responsePayload: HTTP.request({ url: '${origin}/ping' }).body };`,
      '}',
    ]);
    const refused = await registrar(['script', 'test', script]);
    assert.equal(refused.code, 2, show(refused));
    assert.ok(refused.stdout.includes('outbound calls are not enabled'), show(refused));
    const run = await registrar(['script', 'test', script, '--allow', origin]);
    assert.equal(run.code, 0, show(run));
    assert.ok(run.stdout.includes('response payload: pong'), show(run));
    assert.ok(run.stdout.includes(`outbound: GET ${origin}/ping -> 200`), show(run));
    const bad = await registrar(['script', 'test', script, '--allow', 'ftp://x']);
    assert.equal(bad.code, 1, show(bad));
    assert.ok(bad.stderr.includes('--allow: '), show(bad));
  });

  test('a syntax error: exit 1 with line and column, no report', async () => {
    const script = writeScript('syntax.js', [
      'function execute(p) {',
      '  var x = 1;',
      '  return { status: 2000 ;',
      '}',
    ]);
    const run = await registrar(['script', 'test', script]);
    assert.equal(run.code, 1, show(run));
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /does not compile: SyntaxError: .*\(line 3, column \d+\)/);
  });

  test('a script that throws: exit 2 with the error and its line', async () => {
    const script = writeScript('throws.js', [
      'function execute(p) {',
      '  var x = 1;',
      '  throw new Error("boom " + PROPERTIES.get("greeting"));',
      '}',
    ]);
    const run = await registrar(['script', 'test', script, '--properties-json', '{"greeting": "hey"}']);
    assert.equal(run.code, 2, show(run));
    assert.ok(run.stdout.includes('error: exception: Error: boom hey (line 3)'), show(run));
  });

  test('a runaway loop with --cpu-ms 50: exit 2, cpu_timeout', async () => {
    const script = writeScript('loop.js', ['function execute() {', '  while (true) {}', '}']);
    const run = await registrar(['script', 'test', script, '--cpu-ms', '50', '--json']);
    assert.equal(run.code, 2, show(run));
    const report = JSON.parse(run.stdout);
    assert.equal(report.status, null);
    assert.equal(report.error.kind, 'cpu_timeout');
    assert.ok(report.wall_ms < 5000, `stopped well before the wall limit: ${report.wall_ms} ms`);
  });

  test('bad flags and bad JSON: exit 1 with a message, no sandbox started', async () => {
    const script = join(FIXTURES, 'published-qr-backchannel.js');
    const runs = await Promise.all([
      registrar(['script', 'test', script, '--bogus']),
      registrar(['script', 'test', script, '--cpu-ms', 'fast']),
      registrar(['script', 'test', script, '--cache-json', '{"a":']),
      registrar(['script', 'test', script, '--hook-context-json', '{"a": 1}']),
      registrar(['script', 'test', script, '--kind', 'sideways']),
      registrar(['script', 'test']),
    ]);
    const expected = [
      "Unknown option '--bogus'",
      '--cpu-ms: not a whole number: fast',
      '--cache-json: not JSON',
      '--hook-context-json: a:',
      '--kind: must be one of',
      'missing FILE',
    ];
    runs.forEach((run, i) => {
      assert.equal(run.code, 1, show(run));
      assert.equal(run.stdout, '', show(run));
      assert.ok(run.stderr.includes(expected[i] as string), show(run));
    });
  });
});

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** The `client_id=` and `client_secret=` lines of a client command's stdout. */
function credentials(run: Run): { id: string; secret: string } {
  const id = /^client_id=(.+)$/m.exec(run.stdout)?.[1];
  const secret = /^client_secret=(.+)$/m.exec(run.stdout)?.[1];
  assert.ok(id && secret, `credentials printed:\n${show(run)}`);
  return { id, secret };
}

describe('registrar client create / rotate-secret with a running registrar serve', () => {
  let server: ChildProcess | undefined;
  let serverOutput = '';
  let base = '';

  after(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const child = server;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  });

  const backchannel = (id: string, secret: string) =>
    fetch(`${base}/oauth/api/v3/custom-registration/qr/backchannel`, {
      method: 'POST',
      headers: { authorization: basic(id, secret), 'content-type': 'application/json' },
      body: JSON.stringify({ data: '{"userId": "carol"}' }),
    });
  const listClients = (id: string, secret: string) =>
    fetch(`${base}/api/v1/configuration/api-clients`, { headers: { authorization: basic(id, secret) } });

  let created: { id: string; secret: string };

  test('client create prints a new secret once; the same id again, or an unknown scope, exits 1', async () => {
    const run = await registrar([
      'client',
      'create',
      'ops',
      '--scope',
      'admin',
      '--scope',
      'user_registration',
      '--name',
      'Operations',
    ]);
    assert.equal(run.code, 0, show(run));
    created = credentials(run);
    assert.equal(created.id, 'ops');
    assert.match(created.secret, /^[A-Za-z0-9_-]{43}$/, 'a base64url secret of 32 bytes');

    const [again, badScope, unknownRotate] = await Promise.all([
      registrar(['client', 'create', 'ops']),
      registrar(['client', 'create', 'other', '--scope', 'superuser']),
      registrar(['client', 'rotate-secret', 'nobody']),
    ]);
    assert.equal(again.code, 1, show(again));
    assert.equal(again.stdout, '', 'no secret printed');
    assert.ok(again.stderr.includes('ops exists already'), show(again));
    assert.equal(badScope.code, 1, show(badScope));
    assert.ok(badScope.stderr.includes('unknown scope superuser'), show(badScope));
    assert.equal(unknownRotate.code, 1, show(unknownRotate));
    assert.ok(unknownRotate.stderr.includes('no API client nobody'), show(unknownRotate));
  });

  test('the server started with registrar serve accepts the created client', async () => {
    assert.ok(created, 'the client was created');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [BIN, 'serve'], {
      cwd: ROOT,
      env: childEnv({ HOST: '127.0.0.1', PORT: String(port) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      serverOutput += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      serverOutput += chunk;
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      assert.ok(child.exitCode === null, `the server exited during start-up:\n${serverOutput}`);
      assert.ok(Date.now() < deadline, `the server did not start:\n${serverOutput}`);
      const health = await fetch(`${base}/healthz`).catch(() => undefined);
      if (health?.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const list = await listClients(created.id, created.secret);
    const text = await list.text();
    assert.equal(list.status, 200, text);
    const ops = JSON.parse(text).items.find((c: { client_id: string }) => c.client_id === 'ops');
    assert.deepEqual(ops, { client_id: 'ops', name: 'Operations', scopes: ['admin', 'user_registration'] });
    const res = await backchannel(created.id, created.secret);
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.equal(JSON.parse(body).status, 2000);
  });

  test('client rotate-secret while it runs: the old secret is refused, the new one works, no restart', async () => {
    assert.ok(base, 'the server runs');
    const run = await registrar(['client', 'rotate-secret', 'ops']);
    assert.equal(run.code, 0, show(run));
    const rotated = credentials(run);
    assert.notEqual(rotated.secret, created.secret);

    const old = await backchannel(created.id, created.secret);
    assert.equal(old.status, 400);
    assert.equal(((await old.json()) as { error: string }).error, 'invalid_client');
    const oldAdmin = await listClients(created.id, created.secret);
    assert.equal(oldAdmin.status, 400);
    assert.equal(((await oldAdmin.json()) as { error: string }).error, 'invalid_client');

    const fresh = await backchannel(rotated.id, rotated.secret);
    assert.equal(fresh.status, 200, await fresh.clone().text());
    assert.equal(((await fresh.json()) as { status: number }).status, 2000);
    assert.equal((await listClients(rotated.id, rotated.secret)).status, 200);

    for (const secret of [created.secret, rotated.secret]) {
      assert.ok(!serverOutput.includes(secret), 'the server never logs a client secret');
    }
  });
});

describe('registrar script test --cases', { concurrency: true }, () => {
  const script = writeScript('cases-target.js', [
    'function execute(data) {',
    '  LOG.info("got {}", data);',
    '  CACHE.store("seen", data);',
    '  return { status: data === "bad" ? 5000 : 2000, responsePayload: JSON.stringify({ echo: data }) };',
    '}',
  ]);
  const yaml = join(dir, 'cases.yaml');
  writeFileSync(
    yaml,
    [
      '- name: echoes',
      '  input: {data: "hi"}',
      '  expect:',
      '    status: 2000',
      '    payload: {json_subset: {echo: "hi"}}',
      '    cache: {seen: "hi"}',
      '    logs: ["got hi"]',
      '- name: bad is a success',
      '  input: {data: "bad"}',
      '  expect: {status: 2xxx}',
      '',
    ].join('\n'),
  );

  test('each case runs; a failure prints expected, got and logs, exit 2', async () => {
    const run = await registrar(['script', 'test', script, '--cases', yaml]);
    assert.equal(run.code, 2, show(run));
    assert.ok(run.stdout.includes('PASS echoes'), show(run));
    assert.ok(run.stdout.includes('FAIL bad is a success'), show(run));
    assert.ok(run.stdout.includes('  status: expected "2xxx", got 5000'), show(run));
    assert.ok(run.stdout.includes('  [info] got bad'), show(run));
    assert.ok(run.stdout.includes('1 passed, 1 failed'), show(run));
  });

  test('all passing is exit 0; --json prints the run; JSON case files work', async () => {
    const json = join(dir, 'cases.json');
    writeFileSync(json, JSON.stringify([{ name: 'ok', input: { data: 'x' }, expect: { status: 2000 } }]));
    const run = await registrar(['script', 'test', script, '--cases', json, '--json']);
    assert.equal(run.code, 0, show(run));
    const report = JSON.parse(run.stdout);
    assert.equal(report.passed, 1);
    assert.equal(report.results[0].name, 'ok');
  });

  test('a bad case file or an input flag beside --cases is exit 1 with the reason', async () => {
    const bad = join(dir, 'bad-cases.yaml');
    writeFileSync(bad, '- name: x\n  expect: {status: nope}\n');
    const invalid = await registrar(['script', 'test', script, '--cases', bad]);
    assert.equal(invalid.code, 1, show(invalid));
    assert.match(invalid.stderr, /--cases: .*bad-cases\.yaml: \[0\]\.expect\.status/);
    const missing = await registrar(['script', 'test', script, '--cases', join(dir, 'none.yaml')]);
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stderr, /--cases: file not found/);
    const both = await registrar(['script', 'test', script, '--cases', yaml, '--data', 'x']);
    assert.equal(both.code, 1, show(both));
    assert.match(both.stderr, /--data: not with --cases/);
  });
});
