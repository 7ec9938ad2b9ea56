/**
 * The script engine (SPEC §3) through the backchannel: CACHE, PROPERTIES, LOG, the
 * Nashorn shims, limits and the sandbox supervisor, on a real server with real
 * sandbox processes.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { backchannel, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

type Response = Awaited<ReturnType<typeof backchannel>>;
type LogLine = Record<string, unknown>;

/** A generic CACHE client: the request names the operation, key, value and TTL. */
const CACHE_SCRIPT = `
function repeat(spec) { return new Array(spec.n + 1).join(spec.s); }
function execute(requestPayload) {
  var r = JSON.parse(requestPayload);
  var key = r.keyRepeat ? repeat(r.keyRepeat) : r.key;
  var value = r.valueRepeat ? repeat(r.valueRepeat) : r.value;
  if (r.valueKind === 'function') value = function () {};
  if (r.valueKind === 'circular') { value = {}; value.self = value; }
  var out = null;
  if (r.op === 'store') {
    if ('ttl' in r) CACHE.store(key, value, r.ttl); else CACHE.store(key, value);
  } else if (r.op === 'fetch') {
    out = CACHE.fetch(key);
  } else if (r.op === 'delete') {
    out = CACHE.delete(key);
  }
  var type = out === null ? 'null' : Array.isArray(out) ? 'array' : typeof out;
  return { status: 2000, responsePayload: JSON.stringify({ value: out, type: type }) };
}`;

const LOG_SCRIPT = String.raw`
function execute(p) {
  if (p === 'format') {
    LOG.info('a={} b={}', 1, 'two');
    LOG.info('escaped \\{} then {}', 'x');
    LOG.info('object {} array {}', { a: [1, 'x'], b: null }, [1, 2]);
    LOG.info('fewer {} {}', 'only');
    LOG.info('more {}', 'one', 'two');
    LOG.warn('failed: {}', 'x', new Error('boom'));
    LOG.info('no args {}');
    LOG.info({ not: 'a string' });
  } else if (p === 'levels') {
    LOG.trace('trace-line'); LOG.debug('debug-line'); LOG.info('info-line');
    LOG.warn('warn-line'); LOG.error('error-line');
  } else if (p.indexOf('long:') === 0) {
    LOG.info(new Array(Number(p.slice(5)) + 1).join('x'));
  } else if (p.indexOf('many:') === 0) {
    for (var i = 0; i < Number(p.slice(5)); i++) LOG.info('line ' + i);
  }
  return { status: 2000 };
}`;

const BUSY_300_MS = `function execute() {
  var end = Date.now() + 300;
  while (Date.now() < end) {}
  return { status: 2000 };
}`;

const COUNTER = `var count = 0;
function execute() { count++; return { status: 2000, responsePayload: String(count) }; }`;

const TOP_LEVEL_LOG = `LOG.info('top-level code ran');
function execute() { LOG.info('execute ran'); return { status: 2000 }; }`;

const ok = (res: Response): unknown => {
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json() as { status: number; data?: string };
  assert.equal(body.status, 2000, res.body);
  return body.data === undefined ? undefined : JSON.parse(body.data);
};

/** Asserts a 500 whose logged cause matches `cause`; returns the failure log line. */
const fails = (r: TestRegistrar, res: Response, cause: RegExp): LogLine => {
  assert.equal(res.statusCode, 500, res.body);
  assert.equal(res.json().error, 'internal_server_error');
  const reqId = res.headers['x-request-id'];
  const line = r.logs.find(
    (l) => l.reqId === reqId && l.level === 50 && String(l.msg).startsWith('script failed'),
  );
  assert.ok(line, `a script failure is logged with request id ${reqId}`);
  assert.match(String(line.msg), cause);
  return line;
};

/** The log lines a script wrote during the request `res` answers. */
const scriptLines = (r: TestRegistrar, res: Response): LogLine[] =>
  r.logs.lines.filter((l) => l.reqId === res.headers['x-request-id'] && l.source === 'script');

const call = (r: TestRegistrar, idpId: string, data: unknown) =>
  backchannel(r.app, idpId, typeof data === 'string' ? data : JSON.stringify(data));

/** The expiry of a CACHE key, straight from the SQLite file the server uses. */
const expiresAt = (r: TestRegistrar, key: string): number => {
  const db = new Database(join(r.dataDir, 'cache.db'), { readonly: true });
  try {
    const value = db.prepare('SELECT expires_at FROM cache_entries WHERE key = ?').pluck().get(key);
    assert.equal(typeof value, 'number', `${key} is in cache_entries`);
    return value as number;
  } finally {
    db.close();
  }
};

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SECRET = 'sk_live_engine-test-0815';

describe('script engine, default settings', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      identity_providers: [
        idp('cache', { backchannel: CACHE_SCRIPT }),
        idp('writer', { backchannel: CACHE_SCRIPT }),
        idp('reader', { backchannel: `// another script\n${CACHE_SCRIPT}` }),
        idp('props', {
          backchannel: `function execute() {
            LOG.info('the secret is {}', PROPERTIES.get('secret'));
            return { status: 2000, responsePayload: JSON.stringify({
              plain: PROPERTIES.get('plain'), secret: PROPERTIES.get('secret'),
              empty: PROPERTIES.get('empty'), missing: PROPERTIES.get('missing'),
              notAString: PROPERTIES.get(42) }) };
          }`,
        }),
        idp('uuid', {
          backchannel: `function execute() {
            var ids = [];
            for (var i = 0; i < 50; i++) ids.push(java.util.UUID.randomUUID().toString());
            return { status: 2000, responsePayload: JSON.stringify({ ids: ids,
              viaType: Java.type('java.util.UUID').randomUUID().toString(),
              viaPackages: Packages.java.util.UUID.randomUUID().toString(),
              concatenated: '' + java.util.UUID.randomUUID() }) };
          }`,
        }),
        idp('strings', {
          backchannel: `function execute(requestPayload) {
            return { status: 2000, responsePayload: JSON.stringify({
              equalsHello: requestPayload.equals('hello'),
              equalsOther: requestPayload.equals('other'),
              equalsNull: requestPayload.equals(null),
              ignoreCase: requestPayload.equalsIgnoreCase('HELLO'),
              ignoreCaseOther: requestPayload.equalsIgnoreCase('HELLO!'),
              isEmpty: requestPayload.isEmpty(),
              literal: 'a'.equals('a') && !'a'.equals('b') && ''.isEmpty() && !'x'.isEmpty() }) };
          }`,
        }),
        idp('java-lang', {
          backchannel: `function execute(p) {
            if (p === 'system') java.lang.System.exit(1);
            if (p === 'runtime') Java.type('java.lang.Runtime').getRuntime();
            if (p === 'packages') Packages.java.io.File;
            return { status: 2000 };
          }`,
        }),
        idp('log', { backchannel: LOG_SCRIPT }),
        idp('busy', { backchannel: BUSY_300_MS }),
        idp('busy-strict', { backchannel: BUSY_300_MS }, { limits: { cpu_time_ms: 100 } }),
        idp('async', {
          backchannel: `async function execute(p) {
            var a = await Promise.resolve(p);
            await null;
            CACHE.store('async-key', { v: a }, 60);
            var back = await Promise.resolve(CACHE.fetch('async-key'));
            return { status: 2000, responsePayload: JSON.stringify(back) };
          }`,
        }),
        idp('top-level-throws', {
          backchannel:
            'var ready = false;\nthrow new Error("bad init");\nfunction execute() { return { status: 2000 }; }',
        }),
        idp(
          'top-level-spins',
          { backchannel: 'for (;;) {}\nfunction execute() { return { status: 2000 }; }' },
          { limits: { cpu_time_ms: 100 } },
        ),
        idp('promise', { backchannel: 'function execute() { return Promise.resolve({ status: 2001 }); }' }),
        idp('async-throws', {
          backchannel: 'async function execute() { await null; throw new Error("async boom"); }',
        }),
      ],
      properties: [
        { id: 'plain', value: 'plain-value' },
        { id: 'secret', value: SECRET, sensitive: true },
        { id: 'empty', value: '' },
      ],
    });
  });
  after(() => r.close());

  describe('CACHE', () => {
    const store = (idpId: string, key: string, value: unknown, ttl?: unknown) =>
      call(r, idpId, ttl === undefined ? { op: 'store', key, value } : { op: 'store', key, value, ttl });
    const fetch = async (idpId: string, key: string) =>
      ok(await call(r, idpId, { op: 'fetch', key })) as { value: unknown; type: string };

    test('values round-trip with the same type: string, number, boolean, object, array, null', async () => {
      const cases: Array<[unknown, string]> = [
        ['hello', 'string'],
        ['42', 'string'],
        ['', 'string'],
        ['{"looks":"like JSON"}', 'string'],
        [42, 'number'],
        [-3.5, 'number'],
        [0, 'number'],
        [true, 'boolean'],
        [false, 'boolean'],
        [{ a: [1, 'x', null], b: { c: 'ä💡' } }, 'object'],
        [[1, 'two', { three: 3 }], 'array'],
        [[], 'array'],
        [null, 'null'],
      ];
      for (const [i, [value, type]] of cases.entries()) {
        ok(await store('cache', `type-${i}`, value));
        assert.deepEqual(
          await fetch('cache', `type-${i}`),
          { value, type },
          `case ${i}: ${JSON.stringify(value)}`,
        );
      }
    });

    test('a key never stored fetches as null', async () => {
      assert.deepEqual(await fetch('cache', 'never-stored'), { value: null, type: 'null' });
    });

    test('storing again replaces the value', async () => {
      ok(await store('cache', 'replace', 'one'));
      ok(await store('cache', 'replace', { two: 2 }));
      assert.deepEqual((await fetch('cache', 'replace')).value, { two: 2 });
    });

    test('an entry expires after its TTL: stored with ttl 1, fetched 1.3 s later → null', async () => {
      ok(await store('cache', 'short-lived', 'v', 1));
      assert.equal((await fetch('cache', 'short-lived')).value, 'v');
      await sleep(1300);
      assert.deepEqual(await fetch('cache', 'short-lived'), { value: null, type: 'null' });
    });

    test('the default TTL is 300 s; an explicit TTL is used as given', async () => {
      const before = Date.now();
      ok(await store('cache', 'default-ttl', 'v'));
      ok(await store('cache', 'explicit-ttl', 'v', 60));
      const after = Date.now();
      const defaultExpiry = expiresAt(r, 'default-ttl');
      assert.ok(
        defaultExpiry >= before + 300_000 && defaultExpiry <= after + 300_000,
        `expires_at ${defaultExpiry} is 300 s after the store (${before}..${after})`,
      );
      const explicitExpiry = expiresAt(r, 'explicit-ttl');
      assert.ok(
        explicitExpiry >= before + 60_000 && explicitExpiry <= after + 60_000,
        `expires_at ${explicitExpiry} is 60 s after the store`,
      );
    });

    test('the cache is shared across scripts: one IdP stores, another fetches and deletes', async () => {
      ok(await store('writer', 'shared', { from: 'writer' }));
      assert.deepEqual(await fetch('reader', 'shared'), { value: { from: 'writer' }, type: 'object' });
      assert.deepEqual(ok(await call(r, 'reader', { op: 'delete', key: 'shared' })), {
        value: true,
        type: 'boolean',
      });
      assert.deepEqual(await fetch('writer', 'shared'), { value: null, type: 'null' });
      assert.deepEqual(ok(await call(r, 'writer', { op: 'delete', key: 'shared' })), {
        value: false,
        type: 'boolean',
      });
    });

    test('a key up to 1 KiB (in UTF-8 bytes) is accepted; over it is a script error', async () => {
      ok(await call(r, 'cache', { op: 'store', keyRepeat: { s: 'k', n: 1024 }, value: 1 }));
      ok(await call(r, 'cache', { op: 'store', keyRepeat: { s: 'ä', n: 512 }, value: 1 }));
      fails(
        r,
        await call(r, 'cache', { op: 'store', keyRepeat: { s: 'k', n: 1025 }, value: 1 }),
        /CACHE\.store: the key is 1025 bytes; the limit is 1024/,
      );
      fails(
        r,
        await call(r, 'cache', { op: 'store', keyRepeat: { s: 'ä', n: 513 }, value: 1 }),
        /the key is 1026 bytes; the limit is 1024/,
      );
      fails(
        r,
        await call(r, 'cache', { op: 'fetch', keyRepeat: { s: 'k', n: 1025 } }),
        /CACHE\.fetch: the key is 1025 bytes/,
      );
      fails(
        r,
        await call(r, 'cache', { op: 'delete', keyRepeat: { s: 'k', n: 1025 } }),
        /CACHE\.delete: the key is 1025 bytes/,
      );
    });

    test('a value up to 64 KiB as JSON is accepted; over it is a script error', async () => {
      // A string of n characters is n + 2 bytes as JSON.
      ok(await call(r, 'cache', { op: 'store', key: 'big', valueRepeat: { s: 'x', n: 65_534 } }));
      assert.equal(((await fetch('cache', 'big')).value as string).length, 65_534);
      fails(
        r,
        await call(r, 'cache', { op: 'store', key: 'too-big', valueRepeat: { s: 'x', n: 65_535 } }),
        /CACHE\.store: the value is 65537 bytes as JSON; the limit is 65536/,
      );
      assert.equal((await fetch('cache', 'too-big')).value, null, 'nothing was stored');
    });

    test('ttlSeconds must be positive and at most the maximum (86400 s by default)', async () => {
      ok(await store('cache', 'max-ttl', 'v', 86_400));
      for (const ttl of [-1, 0, 'abc']) {
        fails(r, await store('cache', 'bad-ttl', 'v', ttl), /ttlSeconds must be a positive number/);
      }
      fails(r, await store('cache', 'bad-ttl', 'v', 86_401), /ttlSeconds must be between 0 and 86400/);
      assert.equal((await fetch('cache', 'bad-ttl')).value, null, 'nothing was stored');
    });

    test('a value that is not JSON-serialisable is a script error', async () => {
      fails(
        r,
        await call(r, 'cache', { op: 'store', key: 'fn', valueKind: 'function' }),
        /value must be a string or a JSON-serialisable value/,
      );
      fails(
        r,
        await call(r, 'cache', { op: 'store', key: 'circular', valueKind: 'circular' }),
        /CACHE\.store: value is not JSON-serialisable/,
      );
    });

    test('undefined is stored as null', async () => {
      ok(await store('cache', 'undef', 'before'));
      // The request has no "value", so the script stores undefined.
      ok(await call(r, 'cache', { op: 'store', key: 'undef' }));
      assert.deepEqual(await fetch('cache', 'undef'), { value: null, type: 'null' });
      assert.equal(expiresAt(r, 'undef') > Date.now(), true, 'an entry (null) is stored, not removed');
    });

    test('a key that is not a string is a script error', async () => {
      fails(r, await call(r, 'cache', { op: 'fetch', key: 42 }), /CACHE\.fetch: key must be a string/);
    });

    test('async execute functions can await CACHE calls', async () => {
      assert.deepEqual(ok(await call(r, 'async', 'from-async')), { v: 'from-async' });
    });
  });

  describe('PROPERTIES', () => {
    test('get returns a plain value, a sensitive value in clear, and null for a missing id', async () => {
      const res = await call(r, 'props', 'x');
      assert.deepEqual(ok(res), {
        plain: 'plain-value',
        secret: SECRET,
        empty: '',
        missing: null,
        notAString: null,
      });
      const [line] = scriptLines(r, res);
      assert.equal(line?.msg, 'the secret is ********', 'a logged sensitive value is masked');
      assert.ok(!r.logs.text().includes(SECRET), 'the sensitive value never reaches the log');
    });
  });

  describe('Nashorn compatibility', () => {
    test('java.util.UUID.randomUUID().toString() is a v4 UUID, unique across calls', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const out = ok(await call(r, 'uuid', 'x')) as Record<string, unknown> & { ids: string[] };
        const all = [...out.ids, out.viaType, out.viaPackages, out.concatenated] as string[];
        for (const id of all) {
          assert.match(id, UUID_V4);
          seen.add(id);
        }
      }
      assert.equal(seen.size, 2 * 53, 'no UUID repeats');
    });

    test('Java string methods: equals, equalsIgnoreCase, isEmpty', async () => {
      assert.deepEqual(ok(await call(r, 'strings', 'hello')), {
        equalsHello: true,
        equalsOther: false,
        equalsNull: false,
        ignoreCase: true,
        ignoreCaseOther: false,
        isEmpty: false,
        literal: true,
      });
      const empty = ok(await call(r, 'strings', '')) as Record<string, boolean>;
      assert.equal(empty.isEmpty, true);
      assert.equal(empty.equalsHello, false);
    });

    test('other java.* access fails with a clear script error', async () => {
      fails(r, await call(r, 'java-lang', 'system'), /java\.lang is not available in Registrar scripts/);
      fails(r, await call(r, 'java-lang', 'runtime'), /Java\.type\("java\.lang\.Runtime"\) is not available/);
      fails(r, await call(r, 'java-lang', 'packages'), /java\.io is not available in Registrar scripts/);
      ok(await call(r, 'java-lang', 'nothing'));
    });
  });

  describe('LOG', () => {
    test('{} placeholders, \\{} escapes, objects as JSON, a trailing Error adds its stack', async () => {
      const res = await call(r, 'log', 'format');
      ok(res);
      const messages = scriptLines(r, res).map((l) => String(l.msg));
      assert.equal(messages.length, 8, messages.join('\n'));
      assert.equal(messages[0], 'a=1 b=two');
      assert.equal(messages[1], 'escaped {} then x');
      assert.equal(messages[2], 'object {"a":[1,"x"],"b":null} array [1,2]');
      assert.equal(messages[3], 'fewer only {}');
      assert.equal(messages[4], 'more one');
      assert.match(messages[5] ?? '', /^failed: x\nError: boom\n\s+at execute \(log\/backchannel\.js:\d+/);
      assert.equal(messages[6], 'no args {}');
      assert.equal(messages[7], '{"not":"a string"}');
    });

    test('each level trace..error reaches the log tagged with idp, script kind and request id', async () => {
      const res = await call(r, 'log', 'levels');
      ok(res);
      const lines = scriptLines(r, res);
      assert.deepEqual(
        lines.map((l) => [l.level, l.msg]),
        [
          [10, 'trace-line'],
          [20, 'debug-line'],
          [30, 'info-line'],
          [40, 'warn-line'],
          [50, 'error-line'],
        ],
      );
      for (const line of lines) {
        assert.equal(line.idp, 'log');
        assert.equal(line.script_kind, 'backchannel');
        assert.equal(line.reqId, res.headers['x-request-id']);
      }
    });

    test('lines longer than max_line_chars (4096 by default) are truncated', async () => {
      const res = await call(r, 'log', 'long:5000');
      ok(res);
      assert.equal(scriptLines(r, res)[0]?.msg, `${'x'.repeat(4096)}... [truncated]`);
      const fits = await call(r, 'log', 'long:4096');
      assert.equal(scriptLines(r, fits)[0]?.msg, 'x'.repeat(4096));
    });

    test('lines past max_lines_per_execution (200 by default) are dropped with a warning', async () => {
      const res = await call(r, 'log', 'many:250');
      ok(res);
      const lines = scriptLines(r, res);
      assert.equal(lines.length, 200);
      assert.equal(lines[199]?.msg, 'line 199');
      const warning = r.logs.find((l) => l.reqId === res.headers['x-request-id'] && l.level === 40);
      assert.equal(warning?.msg, 'script log lines dropped past the per-execution cap: 50');
      // The cap is per execution: the next one starts afresh.
      const next = await call(r, 'log', 'many:3');
      assert.equal(scriptLines(r, next).length, 3);
    });
  });

  describe('limits and execution', () => {
    test('per-IdP limits override the engine defaults (cpu_time_ms 100 fails a 300 ms loop)', async () => {
      ok(await call(r, 'busy', 'x'));
      fails(r, await call(r, 'busy-strict', 'x'), /CPU-time limit of 100 ms/);
    });

    test('top-level code that throws fails each request with its message and line', async () => {
      for (let i = 0; i < 2; i++) {
        const line = fails(r, await call(r, 'top-level-throws', 'x'), /bad init/);
        assert.equal((line.failure as { line: number | null }).line, 2);
      }
    });

    test('top-level code runs under the CPU-time limit too', async () => {
      fails(r, await call(r, 'top-level-spins', 'x'), /CPU-time limit of 100 ms/);
    });

    test('async execute functions and returned promises work; async throws fail cleanly', async () => {
      assert.deepEqual(ok(await call(r, 'async', 'a')), { v: 'a' });
      const res = await call(r, 'promise', 'x');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 2001);
      fails(r, await call(r, 'async-throws', 'x'), /Error: async boom/);
    });
  });
});

describe('script engine, configured settings', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      engine: {
        cpu_time_ms: 100,
        sandbox_processes: 1,
        cache: { max_key_bytes: 16, max_value_bytes: 100, default_ttl_seconds: 7, max_ttl_seconds: 60 },
        log: { max_line_chars: 100, max_lines_per_execution: 5 },
      },
      identity_providers: [
        idp('cache', { backchannel: CACHE_SCRIPT }),
        idp('log', { backchannel: LOG_SCRIPT }),
        idp('counter', { backchannel: COUNTER }),
        idp('top-level-log', { backchannel: TOP_LEVEL_LOG }),
        idp('busy', { backchannel: BUSY_300_MS }),
        idp('busy-lenient', { backchannel: BUSY_300_MS }, { limits: { cpu_time_ms: 1000 } }),
      ],
    });
  });
  after(() => r.close());

  test('engine.cache.max_key_bytes and max_value_bytes set the size limits', async () => {
    ok(await call(r, 'cache', { op: 'store', keyRepeat: { s: 'k', n: 16 }, value: 1 }));
    fails(
      r,
      await call(r, 'cache', { op: 'store', keyRepeat: { s: 'k', n: 17 }, value: 1 }),
      /the key is 17 bytes; the limit is 16/,
    );
    ok(await call(r, 'cache', { op: 'store', key: 'v', valueRepeat: { s: 'x', n: 98 } }));
    fails(
      r,
      await call(r, 'cache', { op: 'store', key: 'v', valueRepeat: { s: 'x', n: 99 } }),
      /the value is 101 bytes as JSON; the limit is 100/,
    );
  });

  test('engine.cache.default_ttl_seconds and max_ttl_seconds set the TTLs', async () => {
    const before = Date.now();
    ok(await call(r, 'cache', { op: 'store', key: 'default', value: 1 }));
    const expiry = expiresAt(r, 'default');
    assert.ok(
      expiry >= before + 7000 && expiry <= Date.now() + 7000,
      `expires_at ${expiry} is 7 s after the store (${before})`,
    );
    ok(await call(r, 'cache', { op: 'store', key: 'max', value: 1, ttl: 60 }));
    fails(
      r,
      await call(r, 'cache', { op: 'store', key: 'max', value: 1, ttl: 61 }),
      /ttlSeconds must be between 0 and 60/,
    );
  });

  test('engine.log.max_line_chars truncates long lines', async () => {
    const res = await call(r, 'log', 'long:500');
    ok(res);
    assert.equal(scriptLines(r, res)[0]?.msg, `${'x'.repeat(100)}... [truncated]`);
  });

  test('engine.log.max_lines_per_execution drops further lines with a warning', async () => {
    const res = await call(r, 'log', 'many:8');
    ok(res);
    assert.deepEqual(
      scriptLines(r, res).map((l) => l.msg),
      ['line 0', 'line 1', 'line 2', 'line 3', 'line 4'],
    );
    const warning = r.logs.find((l) => l.reqId === res.headers['x-request-id'] && l.level === 40);
    assert.equal(warning?.msg, 'script log lines dropped past the per-execution cap: 3');
  });

  test('a script’s top-level code runs once per isolate: a top-level counter increases', async () => {
    const counts: unknown[] = [];
    for (let i = 0; i < 4; i++) counts.push(ok(await call(r, 'counter', 'x')));
    assert.deepEqual(counts, [1, 2, 3, 4]);
    // With one isolate, concurrent calls queue and still share the counter.
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => call(r, 'counter', 'x')));
    assert.deepEqual(concurrent.map(ok).sort(), [5, 6, 7, 8, 9]);
  });

  test('LOG lines written by top-level code reach the log of the execution that loaded the script', async () => {
    const res = await call(r, 'top-level-log', 'x');
    ok(res);
    assert.deepEqual(
      scriptLines(r, res).map((l) => l.msg),
      ['top-level code ran', 'execute ran'],
    );
  });

  test('the engine-wide cpu_time_ms applies unless the IdP overrides it', async () => {
    fails(r, await call(r, 'busy', 'x'), /CPU-time limit of 100 ms/);
    ok(await call(r, 'busy-lenient', 'x'));
  });
});

/** Live (non-zombie) child processes of this process running the sandbox entry; `normal`: only those at normal priority (not demoted). */
function sandboxChildren(options: { normal?: boolean } = {}): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const [state, ppid] = fields;
      if (Number(ppid) !== process.pid || state === 'Z') continue;
      // Field 19 of /proc/PID/stat is the nice value (the 17th after the command name).
      if (options.normal && Number(fields[16]) !== 0) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('sandbox/main')) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

describe('sandbox supervisor', () => {
  let r: TestRegistrar;
  let sandboxPids: number[];

  before(async () => {
    const existing = new Set(sandboxChildren());
    r = await startRegistrar({
      engine: { sandbox_processes: 1 },
      identity_providers: [
        idp('quick', {
          backchannel:
            'function execute() { return { status: 2000, responsePayload: JSON.stringify("ok") }; }',
        }),
        idp('slow', {
          backchannel: `function execute() {
            var end = Date.now() + 600;
            while (Date.now() < end) {}
            return { status: 2000, responsePayload: JSON.stringify("slow") };
          }`,
        }),
      ],
    });
    sandboxPids = sandboxChildren().filter((pid) => !existing.has(pid));
  });
  after(() => r.close());

  test('a sandbox process killed from outside fails only its execution and is replaced', async (t) => {
    assert.equal(sandboxPids.length, 1, `one sandbox process (found ${sandboxPids.join(', ')})`);
    const [victim] = sandboxPids as [number];
    ok(await call(r, 'quick', 'x'));

    const inFlight = call(r, 'slow', 'x');
    await sleep(150);
    process.kill(victim, 'SIGKILL');
    const res = await inFlight;
    t.diagnostic(`the request in flight during the kill answered ${res.statusCode}`);
    // While its replacement starts, the node stays ready: what arrives waits for it.
    const starting = await r.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(starting.statusCode, 200, `ready while the replacement starts: ${starting.body}`);
    if (res.statusCode === 500) {
      fails(r, res, /sandbox_crashed|sandbox process exited/);
    } else {
      assert.equal(res.statusCode, 200, res.body);
    }
    assert.ok(
      r.logs.find((l) => l.level === 50 && l.msg === 'sandbox process exited; starting another'),
      'the crash is logged',
    );

    // The next requests succeed again once the supervisor has started a new process.
    const deadline = Date.now() + 5000;
    let last: Response | undefined;
    while (Date.now() < deadline) {
      last = await call(r, 'quick', 'x');
      if (last.statusCode === 200) break;
      await sleep(100);
    }
    assert.equal(last?.statusCode, 200, `a request succeeds within 5 s of the kill: ${last?.body}`);
    for (let i = 0; i < 3; i++) assert.equal(ok(await call(r, 'quick', 'x')), 'ok');
    assert.equal(ok(await call(r, 'slow', 'x')), 'slow');

    assert.ok(!sandboxChildren().includes(victim), `the killed process ${victim} is gone`);
    // The 600 ms script ran past the demotion threshold: its process now runs at the lowest
    // priority, and a normal one replaced it.
    const now = sandboxChildren({ normal: true });
    assert.equal(now.length, 1, `one normal-priority sandbox process runs (found ${now.join(', ')})`);
    const ready = await r.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200, ready.body);
    assert.equal(ready.json().checks.sandbox, 'ok');
  });
});

describe('CACHE stores are committed when the script returns', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      identity_providers: [
        idp('cache', { backchannel: CACHE_SCRIPT }),
        idp('store-then-throw', {
          backchannel: 'function execute(p) { CACHE.store(p, "kept?"); throw new Error("after storing"); }',
        }),
        idp('logs-then-store', {
          backchannel:
            'function execute(p) { LOG.info("logged before the commit failed: {}", p); CACHE.store(p, 1); return { status: 2000 }; }',
        }),
        idp('store-then-5000', {
          backchannel: 'function execute(p) { CACHE.store(p, "kept"); return { status: 5000 }; }',
        }),
        idp('read-own-writes', {
          backchannel: `function execute(p) {
            CACHE.store(p, { n: 1 });
            var first = CACHE.fetch(p);
            CACHE.store(p, { n: 2 });
            var second = CACHE.fetch(p);
            var deleted = CACHE.delete(p);
            var afterDelete = CACHE.fetch(p);
            CACHE.store(p + "-last", "stays");
            return { status: 2000, responsePayload: JSON.stringify([first, second, deleted, afterDelete]) };
          }`,
        }),
      ],
    });
  });
  after(() => r.close());

  test('a script reads its own stores before they are committed', async () => {
    assert.deepEqual(ok(await call(r, 'read-own-writes', 'own')), [{ n: 1 }, { n: 2 }, true, null]);
    assert.equal(await r.deps.storage.cache.get('own'), null, 'the deleted key is not committed');
    assert.equal(await r.deps.storage.cache.get('own-last'), '"stays"', 'the last store is committed');
  });

  test('stores are committed before the response is sent', async () => {
    ok(await call(r, 'cache', { op: 'store', key: 'committed-first', value: 'v' }));
    assert.equal(await r.deps.storage.cache.get('committed-first'), '"v"');
  });

  test('an execution that fails leaves the CACHE as it was', async () => {
    fails(r, await call(r, 'store-then-throw', 'failed-store'), /after storing/);
    assert.equal(await r.deps.storage.cache.get('failed-store'), null);
  });

  test('an execution that returns a failure status still commits its stores', async () => {
    const res = await call(r, 'store-then-5000', 'status-5000');
    assert.equal(res.json().status, 5000);
    assert.equal(await r.deps.storage.cache.get('status-5000'), '"kept"');
  });

  test('of many concurrent deletes of one key, exactly one reports that it removed it', async () => {
    await r.deps.storage.cache.set('contested', '"x"', 60_000);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => call(r, 'cache', { op: 'delete', key: 'contested' })),
    );
    const removed = results.map((res) => (ok(res) as { value: boolean }).value).filter(Boolean);
    assert.equal(removed.length, 1);
  });

  test('when committing the stores fails, the script’s log lines are still written (and the request fails)', async () => {
    const { cache } = r.deps.storage;
    const setMany = cache.setMany;
    cache.setMany = async () => {
      throw new Error('disk full');
    };
    try {
      const res = await call(r, 'logs-then-store', 'lost-log');
      assert.equal(res.statusCode, 500);
    } finally {
      cache.setMany = setMany;
    }
    assert.ok(
      r.logs.find(
        (line) => line.msg === 'logged before the commit failed: lost-log' && line.idp === 'logs-then-store',
      ),
      'the script line reached the log',
    );
    assert.ok(r.logs.find((line) => line.msg === 'committing CACHE stores failed'));
    assert.ok(
      r.logs.find((line) => String(line.msg).startsWith('script failed (cache_unavailable)')),
      'the failure is logged with its kind',
    );
  });

  test('stores of concurrent executions are all committed', async () => {
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => call(r, 'cache', { op: 'store', key: `many-${i}`, value: i })),
    );
    for (let i = 0; i < 30; i++) assert.equal(await r.deps.storage.cache.get(`many-${i}`), String(i));
  });
});

describe('property changes reach running sandboxes', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      identity_providers: [
        idp('props', {
          backchannel:
            'function execute(p) { LOG.info("value {}", PROPERTIES.get(p)); return { status: 2000, responsePayload: String(PROPERTIES.get(p)) }; }',
        }),
      ],
      properties: [{ id: 'endpoint', value: 'https://old.example' }],
    });
  });
  after(() => r.close());

  test('setProperties gives every sandbox process the new values and masks new sensitive ones', async () => {
    assert.equal((await call(r, 'props', 'endpoint')).json().data, 'https://old.example');
    r.deps.engine.setProperties({
      values: { endpoint: 'https://new.example', token: 'tok-new-secret' },
      sensitive: ['tok-new-secret'],
    });
    // Every sandbox process (two in tests) answers with the new values.
    for (let i = 0; i < 6; i++) {
      assert.equal((await call(r, 'props', 'endpoint')).json().data, 'https://new.example');
    }
    const res = await call(r, 'props', 'token');
    assert.equal(res.json().data, 'tok-new-secret', 'the script sees the value');
    const logged = scriptLines(r, res).map((l) => String(l.msg));
    assert.deepEqual(logged, ['value ********'], 'the log does not');
  });
});
