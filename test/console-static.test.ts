/**
 * Serving the built console (src/console/static.ts) and building it
 * (scripts/build-console.ts): the page at /console and /console/ (no-store), hashed
 * assets with their content types and a year-long immutable cache, 404 for anything
 * else, 503 console_not_built when unbuilt; every answer with the console's CSP.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConsole, type ConsoleBuild } from '../scripts/build-console.js';
import { scriptGlobals } from '../scripts/script-globals.js';
import { CONSOLE_CSP, IMMUTABLE } from '../src/console/headers.js';
import { startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const HTML = '<!doctype html><title>console</title>';

describe('serving the console', () => {
  let r: TestRegistrar;
  let dir: string;
  const get = (url: string, method: 'GET' | 'HEAD' = 'GET') => r.app.inject({ method, url });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'registrar-console-static-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), HTML);
    writeFileSync(join(dir, 'assets', 'main-ABC123.js'), 'console.log(1);');
    writeFileSync(join(dir, 'assets', 'main-DEF456.css'), 'body{}');
    writeFileSync(join(dir, 'secret.txt'), 'not an asset');
    r = await startRegistrar({ server: { console_dir: dir }, engine: { sandbox_processes: 1 } });
  });
  after(async () => {
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the page at /console and /console/: HTML, no-store, the CSP', async () => {
    for (const url of ['/console', '/console/', '/console?x=1']) {
      const res = await get(url);
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.body, HTML);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
  });

  test('assets: their content type, immutable for a year, no Pragma, the CSP', async () => {
    for (const [name, type] of [
      ['main-ABC123.js', 'text/javascript; charset=utf-8'],
      ['main-DEF456.css', 'text/css; charset=utf-8'],
    ] as const) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await get(`/console/assets/${name}`, method);
        assert.equal(res.statusCode, 200, `${method} ${name}`);
        assert.equal(res.headers['content-type'], type);
        assert.equal(res.headers['cache-control'], IMMUTABLE);
        assert.equal(res.headers.pragma, undefined);
        assert.equal(res.headers['content-security-policy'], CONSOLE_CSP);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
      }
    }
  });

  test('anything else under /console is not_found and never cached', async () => {
    for (const url of [
      '/console/assets/main-XXXXXX.js',
      '/console/assets/..%2fsecret.txt',
      '/console/assets/..%2findex.html',
      '/console/assets/.hidden.js',
      '/console/assets/main-ABC123.exe',
      '/console/assets/',
      '/console/index.html',
      '/console/secret.txt',
      '/console/identity-providers',
    ]) {
      const res = await get(url);
      assert.equal(res.statusCode, 404, url);
      assert.equal(JSON.parse(res.body).error, 'not_found', url);
      assert.equal(res.headers['cache-control'], 'no-store', url);
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP, url);
    }
  });

  test('a console that is on but not built answers 503 console_not_built, saying what to run', async () => {
    rmSync(join(dir, 'index.html'));
    try {
      const res = await get('/console');
      assert.equal(res.statusCode, 503);
      const body = JSON.parse(res.body);
      assert.equal(body.error, 'console_not_built');
      assert.match(body.error_description, /npm run build/);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP);
      assert.ok(r.logs.find((line) => line.msg === 'the console is on but not built: run npm run build'));
    } finally {
      writeFileSync(join(dir, 'index.html'), HTML);
    }
    assert.equal((await get('/console')).statusCode, 200, 'a build made while running is served at once');
  });
});

describe('building the console', () => {
  let out: string;
  let build: ConsoleBuild;

  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'registrar-console-build-'));
    build = await buildConsole(out);
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  test('index.html names the hashed bundles and has no inline script or style', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    assert.match(build.script, /^main-[A-Z0-9]{8}\.js$/);
    assert.match(build.stylesheet, /^main-[A-Z0-9]{8}\.css$/);
    assert.ok(html.includes(`<script type="module" src="/console/assets/${build.script}"></script>`));
    assert.ok(html.includes(`<link rel="stylesheet" href="/console/assets/${build.stylesheet}">`));
    assert.ok(!/<style|\sstyle=|<script>|<script(?![^>]*\ssrc=)|\son[a-z]+=/i.test(html), 'nothing inline');
    assert.ok(!/https?:\/\//.test(html), 'nothing from elsewhere');
    for (const name of [build.script, build.stylesheet]) readFileSync(join(out, 'assets', name));
  });

  test('the bundle carries the script globals read from types/registrar-script.d.ts', () => {
    const globals = scriptGlobals(join(import.meta.dirname, '..', 'types', 'registrar-script.d.ts'));
    const names = globals.globals.map((g) => g.name);
    for (const name of ['CACHE', 'LOG', 'PROPERTIES', 'HTTP', 'RATE', 'print'])
      assert.ok(names.includes(name), name);
    assert.deepEqual(
      globals.execute.params.map((p) => p.name),
      ['requestPayload', 'userIdentifier', 'registrationData', 'hookContextCustomParams'],
    );
    const cache = globals.globals.find((g) => g.name === 'CACHE');
    assert.deepEqual(
      cache?.members.map((m) => m.name),
      ['store', 'fetch', 'delete', 'increment'],
    );
    const bundle = readFileSync(join(out, 'assets', build.script), 'utf8');
    const store = cache?.members.find((m) => m.name === 'store');
    assert.ok(
      store && bundle.includes(JSON.stringify(store.signature).slice(1, -1)),
      'the signature is in the bundle',
    );
  });
});
