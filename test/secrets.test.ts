import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { applyConfig, readProperties } from '../src/config/apply.js';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging.js';
import { CredentialCache } from '../src/security/credential-cache.js';
import { seal, unseal } from '../src/security/sealed-box.js';
import { hashCost, hashSecret, verifySecret } from '../src/security/secret-hash.js';
import { loadSecretKey, parseSecretKey } from '../src/security/secret-key.js';
import { openStorage } from '../src/storage/open.js';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const SENSITIVE_VALUE = 'sk_live_sensitive-4711-do-not-store-plainly';
const OTHER_SENSITIVE_VALUE = 'another-sensitive-value-0815';
const PLAIN_VALUE = 'https://plain.example.com/api';
const OTHER_CLIENT = { client_id: 'crm', client_secret: 'crm-Secret-9f3a1c!' } as const;
const ECHO = 'function execute(p) { return { status: 2000, responsePayload: p }; }';

const dbPath = (r: TestRegistrar) => join(r.dataDir, 'registrar.db');

/** Every byte SQLite keeps for the database: the main file and, when present, its WAL. */
function databaseBytes(r: TestRegistrar): Buffer {
  const parts = [readFileSync(dbPath(r))];
  if (existsSync(`${dbPath(r)}-wal`)) parts.push(readFileSync(`${dbPath(r)}-wal`));
  return Buffer.concat(parts);
}

function readonlyDb(r: TestRegistrar): Database.Database {
  return new Database(dbPath(r), { readonly: true, fileMustExist: true });
}

describe('secrets at rest (SQLite)', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...OTHER_CLIENT, scopes: ['admin'] },
      ],
      identity_providers: [idp('echo', { backchannel: ECHO })],
      properties: [
        { id: 'api_key', value: SENSITIVE_VALUE, sensitive: true },
        { id: 'other_key', value: OTHER_SENSITIVE_VALUE, sensitive: true },
        { id: 'api_url', value: PLAIN_VALUE },
      ],
    });
  });
  after(() => r.close());

  test('client secrets are stored only as scrypt hashes', async () => {
    const db = readonlyDb(r);
    try {
      const rows = db
        .prepare('SELECT client_id, secret_hash FROM api_clients ORDER BY client_id')
        .all() as Array<{
        client_id: string;
        secret_hash: string;
      }>;
      assert.deepEqual(
        rows.map((row) => row.client_id),
        ['crm', 'portal'],
      );
      for (const row of rows) {
        assert.ok(row.secret_hash.startsWith('scrypt$'), `${row.client_id}: ${row.secret_hash}`);
        assert.equal(hashCost(row.secret_hash), 10, 'stored with the configured cost');
      }
      const byId = Object.fromEntries(rows.map((row) => [row.client_id, row.secret_hash]));
      assert.equal(await verifySecret(PORTAL.client_secret, byId.portal ?? ''), true);
      assert.equal(await verifySecret(OTHER_CLIENT.client_secret, byId.crm ?? ''), true);
      assert.equal(await verifySecret(PORTAL.client_secret, byId.crm ?? ''), false);
    } finally {
      db.close();
    }
  });

  test('no plain secret or sensitive value appears anywhere in the database files', async () => {
    // Use the server first, so anything it might write lands in the files too.
    const res = await backchannel(r.app, 'echo', 'x');
    assert.equal(res.statusCode, 200, res.body);
    const bytes = databaseBytes(r);
    assert.ok(bytes.length > 0, 'the database file has content');
    for (const secret of [
      PORTAL.client_secret,
      OTHER_CLIENT.client_secret,
      SENSITIVE_VALUE,
      OTHER_SENSITIVE_VALUE,
    ]) {
      assert.ok(!bytes.includes(Buffer.from(secret, 'utf8')), `"${secret}" is not in the database files`);
    }
    // The check itself works: non-sensitive data is there in plain text.
    assert.ok(bytes.includes(Buffer.from(PLAIN_VALUE, 'utf8')), 'the plain property value is found');
    assert.ok(bytes.includes(Buffer.from(OTHER_CLIENT.client_id, 'utf8')), 'client ids are found');
  });

  test('a sensitive property is sealed (v1:…), unseals with the secret key, and only for its own id', () => {
    const db = readonlyDb(r);
    let stored: string;
    try {
      const row = db.prepare('SELECT value, sensitive FROM properties WHERE id = ?').get('api_key') as {
        value: string;
        sensitive: number;
      };
      assert.equal(row.sensitive, 1);
      stored = row.value;
    } finally {
      db.close();
    }
    assert.notEqual(stored, SENSITIVE_VALUE);
    assert.ok(!stored.includes(SENSITIVE_VALUE), 'the plain value is not embedded');
    assert.ok(stored.startsWith('v1:'), stored);
    assert.equal(stored.split(':').length, 4, 'v1:<iv>:<tag>:<ciphertext>');
    assert.equal(unseal(r.secretKey, stored, 'property:api_key'), SENSITIVE_VALUE);
    assert.throws(() => unseal(randomBytes(32), stored, 'property:api_key'), 'a wrong key fails');
    assert.throws(() => unseal(r.secretKey, stored, 'property:other_key'), 'another property id fails (AAD)');
  });

  test('a non-sensitive property is stored plainly', () => {
    const db = readonlyDb(r);
    try {
      const row = db.prepare('SELECT value, sensitive FROM properties WHERE id = ?').get('api_url') as {
        value: string;
        sensitive: number;
      };
      assert.deepEqual(row, { value: PLAIN_VALUE, sensitive: 0 });
    } finally {
      db.close();
    }
  });

  test('readProperties decrypts with the right key and refuses a wrong one', async () => {
    const snapshot = await readProperties(r.deps.storage.config, r.secretKey);
    assert.deepEqual(snapshot.values, {
      api_key: SENSITIVE_VALUE,
      other_key: OTHER_SENSITIVE_VALUE,
      api_url: PLAIN_VALUE,
    });
    assert.deepEqual([...snapshot.sensitive].sort(), [OTHER_SENSITIVE_VALUE, SENSITIVE_VALUE].sort());
    await assert.rejects(readProperties(r.deps.storage.config, randomBytes(32)));
  });

  test('a sealed value copied to another property row does not unseal there (AAD binds it to its id)', async () => {
    const writable = new Database(dbPath(r));
    try {
      const get = writable.prepare('SELECT value FROM properties WHERE id = ?');
      const original = (get.get('other_key') as { value: string }).value;
      const moved = (get.get('api_key') as { value: string }).value;
      const update = writable.prepare('UPDATE properties SET value = ? WHERE id = ?');
      update.run(moved, 'other_key');
      try {
        await assert.rejects(
          readProperties(r.deps.storage.config, r.secretKey),
          'the moved value is refused',
        );
      } finally {
        update.run(original, 'other_key');
      }
      const snapshot = await readProperties(r.deps.storage.config, r.secretKey);
      assert.equal(snapshot.values.other_key, OTHER_SENSITIVE_VALUE);
    } finally {
      writable.close();
    }
  });
});

describe('applying the config again', () => {
  let dir: string;
  const logger = createLogger('silent');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'registrar-apply-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const config = (secret: string, logN: number, value: string) =>
    parseConfig(
      {
        server: { scrypt_log_n: logN },
        api_clients: [{ client_id: 'c', client_secret: secret, scopes: ['user_registration'] }],
        properties: [{ id: 'k', value, sensitive: true }],
      },
      { baseDir: dir, dataDir: dir },
    );

  test('keeps a matching hash, re-hashes on a new secret or cost, re-seals a changed value', async () => {
    const key = randomBytes(32);
    const storage = await openStorage({
      storage: { url: `sqlite:${join(dir, 'a.db')}` },
      cache: { url: `sqlite:${join(dir, 'a.db')}` },
    });
    try {
      const hashOf = async () => (await storage.config.getApiClient('c'))?.secret_hash ?? '';
      await applyConfig(config('first', 10, 'v1'), storage.config, key, logger);
      const first = await hashOf();
      assert.ok(await verifySecret('first', first), 'the first hash verifies');

      await applyConfig(config('first', 10, 'v1'), storage.config, key, logger);
      assert.equal(await hashOf(), first, 'an unchanged secret keeps its hash');

      await applyConfig(config('second', 10, 'v1'), storage.config, key, logger);
      const second = await hashOf();
      assert.notEqual(second, first);
      assert.equal(await verifySecret('second', second), true);
      assert.equal(await verifySecret('first', second), false);

      await applyConfig(config('second', 11, 'v2'), storage.config, key, logger);
      const third = await hashOf();
      assert.equal(hashCost(third), 11, 'a changed cost re-hashes');
      assert.equal(await verifySecret('second', third), true);
      assert.equal((await readProperties(storage.config, key)).values.k, 'v2');
    } finally {
      await storage.close();
    }
  });
});

describe('secret hashing (scrypt)', () => {
  test('round trip, rejection of other secrets, self-describing format', async () => {
    const hash = await hashSecret('correct horse', 10);
    assert.match(hash, /^scrypt\$10\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    assert.equal(await verifySecret('correct horse', hash), true);
    // (Not 'correct horse\0': scrypt's inner HMAC zero-pads short keys, so trailing NUL bytes are
    // equivalent by construction. That is a property of scrypt, harmless, not tested here.)
    for (const wrong of ['correct horse ', 'Correct horse', '', 'correct hors', 'correct\0horse']) {
      assert.equal(await verifySecret(wrong, hash), false, JSON.stringify(wrong));
    }
  });

  test('salted: the same secret hashes differently each time, and both verify', async () => {
    const a = await hashSecret('same', 10);
    const b = await hashSecret('same', 10);
    assert.notEqual(a, b);
    assert.equal(await verifySecret('same', a), true);
    assert.equal(await verifySecret('same', b), true);
  });

  test('unicode secrets', async () => {
    const hash = await hashSecret('pässwört 💡', 10);
    assert.equal(await verifySecret('pässwört 💡', hash), true);
    assert.equal(await verifySecret('passwort 💡', hash), false);
  });

  test('malformed or foreign hashes never verify', async () => {
    const good = await hashSecret('s', 10);
    const parts = good.split('$');
    const malformed = [
      '',
      's',
      'plain:s',
      `bcrypt$${parts.slice(1).join('$')}`,
      parts.slice(0, 5).join('$'),
      `${parts.slice(0, 5).join('$')}$`,
      `${parts.slice(0, 5).join('$')}$${Buffer.alloc(16).toString('base64')}`,
    ];
    for (const hash of malformed) {
      assert.equal(await verifySecret('s', hash), false, hash);
    }
  });

  test('a tampered hash does not verify', async () => {
    const hash = await hashSecret('s', 10);
    const parts = hash.split('$');
    const digest = Buffer.from(parts[5] ?? '', 'base64');
    digest[0] = (digest[0] ?? 0) ^ 1;
    parts[5] = digest.toString('base64');
    assert.equal(await verifySecret('s', parts.join('$')), false);
  });

  test('hashCost reads the cost exponent', async () => {
    assert.equal(hashCost(await hashSecret('s', 10)), 10);
    assert.equal(hashCost(await hashSecret('s', 12)), 12);
    assert.equal(hashCost('bcrypt$10$x'), undefined);
    assert.equal(hashCost(''), undefined);
  });
});

describe('sealed box (AES-256-GCM)', () => {
  const key = randomBytes(32);

  test('round trip, fresh IV each time, empty and unicode values', () => {
    for (const plain of ['secret', '', 'ä💡\n\0', 'x'.repeat(70_000)]) {
      const a = seal(key, plain, 'aad');
      const b = seal(key, plain, 'aad');
      assert.notEqual(a, b, 'a fresh IV per seal');
      assert.ok(a.startsWith('v1:'), a.slice(0, 10));
      assert.equal(unseal(key, a, 'aad'), plain);
      assert.equal(unseal(key, b, 'aad'), plain);
    }
  });

  test('detects tampering with the ciphertext, tag or IV, a wrong key or wrong associated data', () => {
    const sealed = seal(key, 'the value', 'property:x');
    const [prefix, iv, tag, ciphertext] = sealed.split(':') as [string, string, string, string];
    const flip = (b64: string, index = 0) => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[index] = (bytes[index] ?? 0) ^ 0x01;
      return bytes.toString('base64');
    };
    const tampered = [
      [prefix, iv, tag, flip(ciphertext)],
      [prefix, iv, tag, flip(ciphertext, 8)],
      [prefix, iv, flip(tag), ciphertext],
      [prefix, flip(iv), tag, ciphertext],
      [prefix, iv, tag, Buffer.from(ciphertext, 'base64').subarray(1).toString('base64')],
      [prefix, iv, tag, `${ciphertext}AAAA`],
    ];
    for (const parts of tampered) {
      assert.throws(() => unseal(key, parts.join(':'), 'property:x'), `tampered: ${parts.join(':')}`);
    }
    assert.throws(() => unseal(randomBytes(32), sealed, 'property:x'), 'wrong key');
    assert.throws(() => unseal(key, sealed, 'property:y'), 'wrong associated data');
    assert.throws(() => unseal(key, sealed, ''), 'missing associated data');
    assert.equal(unseal(key, sealed, 'property:x'), 'the value');
  });

  test('refuses values that are not sealed', () => {
    for (const value of ['plain text', '', 'v2:a:b:c', 'v1:', 'v1::tag:ct', 'v1:iv::ct']) {
      assert.throws(() => unseal(key, value, 'aad'), JSON.stringify(value));
    }
  });
});

describe('secret key', () => {
  const raw = randomBytes(32);

  test('parseSecretKey accepts 32 bytes as base64 or 64 hex characters (surrounding whitespace ignored)', () => {
    assert.deepEqual(parseSecretKey(raw.toString('base64')), raw);
    assert.deepEqual(parseSecretKey(raw.toString('hex')), raw);
    assert.deepEqual(parseSecretKey(raw.toString('hex').toUpperCase()), raw);
    assert.deepEqual(parseSecretKey(` ${raw.toString('base64')}\n`), raw);
    assert.deepEqual(parseSecretKey(`${raw.toString('hex')}\n`), raw);
  });

  test('parseSecretKey rejects other lengths and non-keys', () => {
    const bad = [
      '',
      'not a key',
      randomBytes(16).toString('base64'),
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      randomBytes(64).toString('base64'),
      raw.toString('hex').slice(0, 63),
      `${raw.toString('hex')}0`,
      randomBytes(16).toString('hex'),
    ];
    for (const value of bad) {
      assert.throws(
        () => parseSecretKey(value),
        /REGISTRAR_SECRET_KEY must be 32 bytes/,
        JSON.stringify(value),
      );
    }
  });

  describe('loadSecretKey', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'registrar-key-test-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('on shared storage, refuses to start without REGISTRAR_SECRET_KEY (no node-local key)', () => {
      const dataDir = join(dir, 'shared');
      assert.throws(
        () => loadSecretKey(undefined, dataDir, () => {}, true),
        /REGISTRAR_SECRET_KEY must be set when storage is shared/,
      );
      assert.ok(!existsSync(join(dataDir, 'secret.key')), 'no key file was generated');
      const key = randomBytes(32).toString('base64');
      assert.equal(loadSecretKey(key, dataDir, () => {}, true).toString('base64'), key);
    });

    test('generates a 0600 key file once, with a warning, and reuses it', () => {
      const dataDir = join(dir, 'not-yet', 'there');
      const warnings: string[] = [];
      const first = loadSecretKey(undefined, dataDir, (m) => warnings.push(m));
      assert.equal(first.length, 32);
      const path = join(dataDir, 'secret.key');
      assert.ok(existsSync(path), 'the key file exists');
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]?.includes(path), `the warning names the file: ${warnings[0]}`);
      assert.ok(warnings[0]?.includes('REGISTRAR_SECRET_KEY'), 'the warning names the variable');
      assert.ok(!warnings[0]?.includes(first.toString('base64')), 'the warning does not contain the key');
      assert.deepEqual(parseSecretKey(readFileSync(path, 'utf8')), first);

      const second = loadSecretKey(undefined, dataDir, (m) => warnings.push(m));
      assert.deepEqual(second, first, 'the same key the second time');
      assert.equal(warnings.length, 1, 'no second warning');

      const emptyEnv = loadSecretKey('', dataDir, (m) => warnings.push(m));
      assert.deepEqual(emptyEnv, first, 'an empty variable counts as unset');
    });

    test('prefers the environment value and then touches no file', () => {
      const dataDir = join(dir, 'env');
      const warnings: string[] = [];
      assert.deepEqual(
        loadSecretKey(raw.toString('hex'), dataDir, (m) => warnings.push(m)),
        raw,
      );
      assert.equal(existsSync(join(dataDir, 'secret.key')), false);
      assert.deepEqual(warnings, []);

      // Even when a key file exists, the variable wins.
      const fileKey = loadSecretKey(undefined, dataDir, () => {});
      assert.notDeepEqual(fileKey, raw);
      assert.deepEqual(
        loadSecretKey(raw.toString('base64'), dataDir, () => {}),
        raw,
      );
    });

    test('an invalid environment value is an error, not a silent fallback', () => {
      assert.throws(() => loadSecretKey('too-short', join(dir, 'bad-env'), () => {}), /32 bytes/);
      assert.equal(existsSync(join(dir, 'bad-env', 'secret.key')), false);
    });

    test('a corrupt key file is an error and is not overwritten', () => {
      const dataDir = join(dir, 'corrupt');
      loadSecretKey(undefined, dataDir, () => {});
      const path = join(dataDir, 'secret.key');
      writeFileSync(path, 'garbage\n');
      assert.throws(() => loadSecretKey(undefined, dataDir, () => {}), /32 bytes/);
      assert.equal(readFileSync(path, 'utf8'), 'garbage\n');
    });
  });
});

describe('CredentialCache', () => {
  /** A fake clock and a counting slow verifier: `hashes` maps a stored hash to its secret. */
  function setup(ttlMs = 60_000) {
    const clock = { now: 1_000_000 };
    const hashes: Record<string, string> = { h1: 's1', h2: 's2', hx: 'sx' };
    const calls: Array<[string, string]> = [];
    const slowVerify = async (secret: string, hash: string) => {
      calls.push([secret, hash]);
      return hashes[hash] === secret;
    };
    const cache = new CredentialCache(ttlMs, () => clock.now, slowVerify);
    return { cache, clock, calls };
  }

  test('pays the slow hash once for repeated successes', async () => {
    const { cache, calls } = setup();
    for (let i = 0; i < 5; i++) assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 1);
  });

  test('pays it again a TTL after its last use (each use extends it)', async () => {
    const { cache, clock, calls } = setup(60_000);
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    clock.now += 59_999;
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 1, 'still cached just before the TTL');
    clock.now += 59_999;
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 1, 'the use before extended it');
    clock.now += 60_000;
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 2, 'verified again a TTL after the last use');
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 2, 'and cached again after that');
  });

  test('a changed stored hash (rotated secret): the old secret fails at once, the new one is verified', async () => {
    const { cache, calls } = setup();
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 1);
    assert.equal(await cache.verify('c', 's1', 'h2'), false, 'the old secret against the new hash');
    assert.equal(calls.length, 2);
    assert.equal(await cache.verify('c', 's2', 'h2'), true);
    assert.equal(await cache.verify('c', 's2', 'h2'), true);
    assert.equal(calls.length, 3);
    assert.equal(await cache.verify('c', 's1', 'h2'), false, 'still failing after the new secret was cached');
  });

  test('never caches failures', async () => {
    const { cache, calls } = setup();
    for (let i = 0; i < 3; i++) assert.equal(await cache.verify('c', 'wrong', 'h1'), false);
    assert.equal(calls.length, 3);
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 4);
    assert.equal(await cache.verify('c', 'wrong', 'h1'), false, 'a wrong secret after a cached success');
    assert.equal(calls.length, 5, 'is verified slowly, not matched from the cache');
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 5, 'and did not evict the good entry');
  });

  test('entries are per client: one client’s success does not vouch for another', async () => {
    const { cache, calls } = setup();
    assert.equal(await cache.verify('a', 's1', 'h1'), true);
    assert.equal(await cache.verify('b', 's1', 'h1'), true);
    assert.equal(calls.length, 2);
    assert.equal(await cache.verify('b', 's1', 'hx'), false);
    assert.equal(await cache.verify('a', 's1', 'h1'), true);
    assert.equal(calls.length, 3);
  });

  test('forget() drops an entry', async () => {
    const { cache, calls } = setup();
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(await cache.verify('d', 's2', 'h2'), true);
    cache.forget('c');
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 3, 'c was verified slowly again');
    assert.equal(await cache.verify('d', 's2', 'h2'), true);
    assert.equal(calls.length, 3, 'd was not forgotten');
    cache.forget('unknown');
  });

  test('concurrent checks of one client and secret share one slow hash, also when the entry expires', async () => {
    const { cache, clock, calls } = setup(60_000);
    const many = () => Promise.all(Array.from({ length: 50 }, () => cache.verify('c', 's1', 'h1')));
    assert.deepEqual(new Set(await many()), new Set([true]));
    assert.equal(calls.length, 1, 'fifty requests at start pay one scrypt');
    clock.now += 60_000;
    assert.deepEqual(new Set(await many()), new Set([true]));
    assert.equal(calls.length, 2, 'fifty requests when the entry expires pay one more');
    // Different secrets, or another stored hash, never share a verification.
    const mixed = await Promise.all([
      cache.verify('c', 'wrong', 'h1'),
      cache.verify('c', 's1', 'h2'),
      cache.verify('c', 'wrong', 'h1'),
    ]);
    assert.deepEqual(mixed, [false, false, false]);
    assert.equal(calls.length, 4, 'the two identical wrong attempts shared one; the other hash had its own');
  });

  test('a TTL of 0 disables caching', async () => {
    const { cache, calls } = setup(0);
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(await cache.verify('c', 's1', 'h1'), true);
    assert.equal(calls.length, 2);
  });

  test('with the real scrypt verifier', async () => {
    const hash = await hashSecret('real', 10);
    const cache = new CredentialCache(60_000);
    assert.equal(await cache.verify('c', 'real', hash), true);
    assert.equal(await cache.verify('c', 'real', hash), true);
    assert.equal(await cache.verify('c', 'fake', hash), false);
  });
});

describe('credential cache through HTTP', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...OTHER_CLIENT, scopes: ['user_registration'] },
      ],
      identity_providers: [idp('echo', { backchannel: ECHO })],
    });
  });
  after(() => r.close());

  const call = (id: string, secret: string) =>
    r.app.inject({
      method: 'POST',
      url: '/oauth/api/v3/custom-registration/echo/backchannel',
      headers: { authorization: basic(id, secret), 'content-type': 'application/json' },
      payload: '{"data":"x"}',
    });

  test('a secret changed in the database takes effect on the very next request', async () => {
    const first = await call(PORTAL.client_id, PORTAL.client_secret);
    assert.equal(first.statusCode, 200, first.body);
    const cached = await call(PORTAL.client_id, PORTAL.client_secret);
    assert.equal(cached.statusCode, 200, cached.body);

    const writable = new Database(dbPath(r));
    try {
      writable
        .prepare('UPDATE api_clients SET secret_hash = ? WHERE client_id = ?')
        .run(await hashSecret('rotated-secret', 10), PORTAL.client_id);
    } finally {
      writable.close();
    }

    const old = await call(PORTAL.client_id, PORTAL.client_secret);
    assert.equal(old.statusCode, 400, old.body);
    assert.equal(old.json().error, 'invalid_client');
    const rotated = await call(PORTAL.client_id, 'rotated-secret');
    assert.equal(rotated.statusCode, 200, rotated.body);
    const oldAgain = await call(PORTAL.client_id, PORTAL.client_secret);
    assert.equal(oldAgain.statusCode, 400, 'the old secret keeps failing');
  });

  test('a client deleted from the database is refused on the next request', async () => {
    assert.equal((await call(OTHER_CLIENT.client_id, OTHER_CLIENT.client_secret)).statusCode, 200);
    const writable = new Database(dbPath(r));
    try {
      writable.prepare('DELETE FROM api_clients WHERE client_id = ?').run(OTHER_CLIENT.client_id);
    } finally {
      writable.close();
    }
    const res = await call(OTHER_CLIENT.client_id, OTHER_CLIENT.client_secret);
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error, 'invalid_client');
  });
});

describe('application secrets at rest', () => {
  let r: TestRegistrar;
  const APP_SECRET = 'mobile-app-secret-9f3b';

  before(async () => {
    r = await startRegistrar({
      identity_providers: [idp('qr', { backchannel: 'function execute() { return { status: 2000 }; }' })],
      applications: [
        { client_id: 'mobile', client_secret: APP_SECRET, identity_providers: ['qr'], scopes: ['openid'] },
      ],
    });
  });
  after(() => r.close());

  test('an application secret is stored only as a scrypt hash that verifies', async () => {
    const db = new Database(dbPath(r), { readonly: true });
    try {
      const hash = db
        .prepare("SELECT secret_hash FROM applications WHERE client_id = 'mobile'")
        .pluck()
        .get();
      assert.equal(typeof hash, 'string');
      assert.ok(String(hash).startsWith('scrypt$'), String(hash));
      assert.equal(await verifySecret(APP_SECRET, String(hash)), true);
    } finally {
      db.close();
    }
    for (const file of [dbPath(r), `${dbPath(r)}-wal`]) {
      if (existsSync(file))
        assert.ok(!readFileSync(file).includes(APP_SECRET), `${file} has no plain secret`);
    }
  });

  test('restarting with the same secret keeps the stored hash (no re-hash on every start)', async () => {
    const before = await r.deps.storage.config.getApplication('mobile');
    await applyConfig(r.config, r.deps.storage.config, r.secretKey, createLogger('silent'));
    const after = await r.deps.storage.config.getApplication('mobile');
    assert.equal(after?.secret_hash, before?.secret_hash);
  });
});
