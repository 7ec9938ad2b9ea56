/**
 * `registrar script replay` through the real binary: a recording stored in a SQLite
 * storage is replayed against the active version (same: exit 0), a fixed draft
 * (different: exit 2) and bad arguments (exit 1).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStorage } from '../src/storage/open.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'registrar.js');
const dir = mkdtempSync(join(tmpdir(), 'registrar-replay-cli-'));
const storageUrl = `sqlite:${join(dir, 'registrar.db')}`;
const configPath = join(dir, 'registrar.yaml');
after(() => rmSync(dir, { recursive: true, force: true }));

const FAILING =
  'function execute(data) { if (data === "boom") throw new Error("no " + data); return { status: 2000 }; }';
const FIXED = 'function execute(data) { return { status: 2000, responsePayload: "fixed " + data }; }';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function registrar(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('REGISTRAR_') || ['NODE_TEST_CONTEXT', 'NODE_OPTIONS', 'LOG_LEVEL'].includes(name)) {
      delete env[name];
    }
  }
  Object.assign(env, {
    REGISTRAR_CONFIG: configPath,
    REGISTRAR_DATA_DIR: dir,
    REGISTRAR_STORAGE_URL: storageUrl,
    REGISTRAR_CACHE_URL: storageUrl,
    REGISTRAR_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
  });
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env, timeout: 30_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(new Error(`${error.message}\n${stderr}`));
        else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

const show = (run: Run) => `exit ${run.code}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;

describe('registrar script replay', { concurrency: true }, () => {
  let rid = 0;
  before(async () => {
    writeFileSync(configPath, 'identity_providers: []\n');
    const storage = await openStorage({ storage: { url: storageUrl }, cache: { url: storageUrl } });
    try {
      await storage.config.upsertIdentityProvider(
        { id: 'cli', name: null, flow: 'one_step', enabled: true, limits: {} },
        { complete: { source: FAILING, filename: 'cli/complete.js' } },
      );
      rid = await storage.recordings.append({
        idp_id: 'cli',
        kind: 'complete',
        version: 1,
        outcome: 'error',
        at: Date.now(),
        request_id: 'r1',
        execution: {
          args: ['boom', null, null, null],
          result: null,
          error: { kind: 'exception', message: 'Error: no boom', line: 1 },
          logs: [],
          cpu_ms: 1,
          wall_ms: 1,
        },
      });
    } finally {
      await storage.close();
    }
  });

  test('against the active version it fails the same way: exit 0', async () => {
    const run = await registrar(['script', 'replay', 'cli', String(rid), '--json']);
    assert.equal(run.code, 0, show(run));
    const replay = JSON.parse(run.stdout);
    assert.equal(replay.same, true, show(run));
    assert.equal(replay.ran, 1);
  });

  test('against a fixed draft it succeeds and differs: exit 2', async () => {
    const draft = join(dir, 'fixed.js');
    writeFileSync(draft, FIXED);
    const run = await registrar(['script', 'replay', 'cli', String(rid), '--source', draft]);
    assert.equal(run.code, 2, show(run));
    assert.match(run.stdout, /ran: the draft/);
    assert.match(run.stdout, /replayed: status 2000, payload "fixed boom"/);
    assert.match(run.stdout, /different:/);
  });

  test('bad arguments and unknown recordings exit 1', async () => {
    for (const args of [
      ['script', 'replay', 'cli'],
      ['script', 'replay', 'cli', 'x1'],
      ['script', 'replay', 'cli', '1', '--version', '1', '--source', 'f.js'],
      ['script', 'replay', 'cli', '999'],
      ['script', 'replay', 'cli', String(rid), '--version', '7'],
    ]) {
      const run = await registrar(args);
      assert.equal(run.code, 1, `${args.join(' ')}: ${show(run)}`);
    }
  });
});
