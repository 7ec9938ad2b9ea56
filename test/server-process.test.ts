import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from './helpers/ports.js';
import { ServerProcess, waitUntilHealthy } from './helpers/server-process.js';

const DEMO_CLIENT = { id: 'demo-portal', secret: 'demo-portal-secret' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STARTUP_TIMEOUT_MS = 20_000;

/** The ids of a process's direct children. */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('src/server.ts with the demo config (no REGISTRAR_CONFIG)', () => {
  let dataDir: string;
  let server: ServerProcess;
  let base: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'registrar-process-test-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = new ServerProcess({ REGISTRAR_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port) });
    await waitUntilHealthy(server, base);
  });
  after(async () => {
    await server?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The first log line that matches, waiting up to 1 s for it (the log is flushed at least every 250 ms). */
  async function logLine(match: (line: Record<string, unknown>) => boolean) {
    const deadline = Date.now() + 1000;
    for (;;) {
      const line = server.logLines().find(match);
      if (line || Date.now() > deadline) return line;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  test('/healthz and /readyz answer 200', async () => {
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200, await ready.clone().text());
    assert.deepEqual(await ready.json(), {
      status: 'ok',
      checks: { storage: 'ok', cache: 'ok', sandbox: 'ok' },
    });
  });

  test('the demo client calls the qr backchannel: 200, status 2000, a UUID as data', async () => {
    const res = await fetch(`${base}/oauth/api/v3/custom-registration/qr/backchannel`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${DEMO_CLIENT.id}:${DEMO_CLIENT.secret}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ data: JSON.stringify({ userId: 'user-4711' }) }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = JSON.parse(text);
    assert.equal(body.status, 2000);
    assert.match(body.data, UUID);
  });

  test('a wrong demo secret is invalid_client', async () => {
    const res = await fetch(`${base}/oauth/api/v3/custom-registration/qr/backchannel`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${DEMO_CLIENT.id}:wrong`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: '{}',
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  test('the data folder holds the SQLite file and a generated 0600 key', () => {
    assert.ok(existsSync(join(dataDir, 'registrar.db')), 'registrar.db exists');
    const key = join(dataDir, 'secret.key');
    assert.ok(existsSync(key), 'secret.key exists');
    assert.equal(statSync(key).mode & 0o777, 0o600);
  });

  test('the log is JSON lines: it warns about the generated key and never contains the demo secret', async () => {
    // Stdout is written asynchronously: what an idle server buffered goes out within 250 ms.
    await logLine(
      (line) =>
        line.msg === 'request completed' && line.url === '/oauth/api/v3/custom-registration/qr/backchannel',
    );
    const lines = server.logLines();
    assert.ok(lines.length > 0, `there are JSON log lines:\n${server.output()}`);
    const warning = lines.find(
      (line) => line.level === 40 && String(line.msg).includes('REGISTRAR_SECRET_KEY is not set'),
    );
    assert.ok(warning, `a warning about the generated secret key:\n${server.stdout}`);
    assert.ok(String(warning.msg).includes(join(dataDir, 'secret.key')), 'the warning names the key file');
    assert.ok(
      lines.some((line) => line.msg === 'Registrar is ready'),
      'a ready line is logged',
    );
    assert.ok(
      lines.some(
        (line) =>
          line.msg === 'request completed' && line.url === '/oauth/api/v3/custom-registration/qr/backchannel',
      ),
      'requests are logged',
    );
    assert.ok(!server.stdout.includes(DEMO_CLIENT.secret), 'stdout never contains the demo secret');
    assert.ok(!server.stderr.includes(DEMO_CLIENT.secret), 'stderr never contains the demo secret');
  });

  test('script LOG lines reach the server log tagged with IdP, script kind and request id', async () => {
    const line = await logLine((l) => l.msg === 'storing userId: user-4711');
    assert.ok(line, `the qr script's LOG.info line is logged:\n${server.stdout}`);
    assert.equal(line.idp, 'qr');
    assert.equal(line.script_kind, 'backchannel');
    assert.match(String(line.reqId), UUID);
  });

  test('SIGTERM makes it exit 0, and its sandbox processes end with it', async () => {
    const sandboxes = childPids(server.child.pid ?? 0);
    assert.ok(sandboxes.length > 0, 'the server runs sandbox processes');
    server.child.kill('SIGTERM');
    const { code, signal } = await server.waitForExit(10_000);
    assert.equal(signal, null, server.output());
    assert.equal(code, 0, server.output());
    assert.ok(
      server.logLines().some((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM'),
      'the shutdown is logged',
    );
    const deadline = Date.now() + 5000;
    while (sandboxes.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(sandboxes.filter(isAlive), [], 'no sandbox process outlives the server');
  });

  test('a restart on the same data folder reuses the key without a warning and still serves', async () => {
    const key = readFileSync(join(dataDir, 'secret.key'), 'utf8');
    const port = await freePort();
    const restartBase = `http://127.0.0.1:${port}`;
    server = new ServerProcess({ REGISTRAR_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port) });
    await waitUntilHealthy(server, restartBase);
    assert.equal(readFileSync(join(dataDir, 'secret.key'), 'utf8'), key, 'the key file is unchanged');
    assert.ok(
      !server.logLines().some((line) => String(line.msg).includes('REGISTRAR_SECRET_KEY')),
      `no key warning the second time:\n${server.stdout}`,
    );
    const res = await fetch(`${restartBase}/oauth/api/v3/custom-registration/echo/backchannel`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: DEMO_CLIENT.id, client_secret: DEMO_CLIENT.secret, data: 'hi' }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.deepEqual(JSON.parse(JSON.parse(text).data), { echo: 'hi', greeting: 'hello from Registrar' });
    server.child.kill('SIGTERM');
    assert.equal((await server.waitForExit(10_000)).code, 0, server.output());
    assert.ok(!server.stdout.includes(DEMO_CLIENT.secret), 'the demo secret is not logged');
  });
});

describe('src/server.ts with a broken config', () => {
  let dir: string;
  const started: ServerProcess[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'registrar-process-bad-'));
  });
  after(async () => {
    for (const server of started) await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (env: Record<string, string>) => {
    const server = new ServerProcess({
      REGISTRAR_DATA_DIR: join(dir, 'data'),
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      ...env,
    });
    started.push(server);
    return server;
  };

  test('exits 1 and names the path of the problem', async () => {
    const config = join(dir, 'broken.yaml');
    writeFileSync(
      config,
      [
        'api_clients:',
        '  - client_id: a',
        '    client_secret: b',
        'identity_providers:',
        '  - id: broken',
        '    scripts:',
        '      backchannel: { source: "function execute() { return { status: 2000 }; }" }',
        '',
      ].join('\n'),
    );
    const server = await start({ REGISTRAR_CONFIG: config });
    const { code } = await server.waitForExit(STARTUP_TIMEOUT_MS);
    assert.equal(code, 1, server.output());
    assert.ok(
      server.stderr.includes('identity_providers[0].scripts.complete'),
      `stderr names the path:\n${server.output()}`,
    );
    assert.ok(
      server.stdout.includes('identity_providers[0].scripts.complete'),
      `the log names the path:\n${server.output()}`,
    );
    assert.ok(
      !server.stdout.includes('"b"') && !server.stderr.includes('client_secret: b'),
      'no secrets echoed',
    );
    assert.ok(!server.stderr.includes('    at '), `no stack trace for a config error:\n${server.stderr}`);
  });

  test('an unknown key, and a missing script file with its resolved path, are named', async () => {
    const config = join(dir, 'two-problems.yaml');
    writeFileSync(config, ['engine:', '  cpu_limit: 5', ''].join('\n'));
    const server = await start({ REGISTRAR_CONFIG: config });
    const { code } = await server.waitForExit(STARTUP_TIMEOUT_MS);
    assert.equal(code, 1, server.output());
    assert.ok(server.stderr.includes('engine.cpu_limit: unknown key'), server.output());

    const missing = join(dir, 'missing-script.yaml');
    writeFileSync(
      missing,
      ['identity_providers:', '  - id: x', '    scripts:', '      complete: nope.js', ''].join('\n'),
    );
    const second = await start({ REGISTRAR_CONFIG: missing });
    assert.equal((await second.waitForExit(STARTUP_TIMEOUT_MS)).code, 1, second.output());
    assert.ok(
      second.stderr.includes(
        `identity_providers[0].scripts.complete: file not found: ${join(dir, 'nope.js')}`,
      ),
      second.output(),
    );
  });

  test('a config file that does not exist, and a bad PORT, exit 1 with a clear message', async () => {
    const path = join(dir, 'does-not-exist.yaml');
    const missing = await start({ REGISTRAR_CONFIG: path });
    assert.equal((await missing.waitForExit(STARTUP_TIMEOUT_MS)).code, 1, missing.output());
    assert.ok(missing.stderr.includes(`${path}: cannot read config file`), missing.output());

    const badPort = await start({ PORT: 'eighty' });
    assert.equal((await badPort.waitForExit(STARTUP_TIMEOUT_MS)).code, 1, badPort.output());
    assert.ok(badPort.stderr.includes('PORT: not a port number: eighty'), badPort.output());
  });
});
