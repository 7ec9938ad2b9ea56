/**
 * Conformance suites for the storage interfaces (STYLE.md points 6-7): every backend
 * (SQLite now, PostgreSQL and Redis later) runs these same cases, written against
 * `CacheStore` and `ConfigStore` only. A backend that cannot pass a case skips it and
 * says why.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SCRIPT_KINDS, type ScriptKind } from '../../src/config/schema.js';
import type { CacheStore, ConfigStore } from '../../src/storage/types.js';
import { type ConfigFixture, configStoreChangeCases, fields, script, sha256 } from './config-conformance.js';

export type { ConfigFixture } from './config-conformance.js';

/** A freshly opened, empty cache store. */
export interface CacheFixture {
  store: CacheStore;
  /**
   * Moves the clock the store reads forward by `ms` milliseconds. Without it, the
   * suite waits in real time with short TTLs and skips the cases that need an exact
   * clock (expiry boundaries).
   */
  now?: (ms: number) => void;
  /** Closes the store and removes whatever `open` created. */
  close(): Promise<void>;
}

export interface CacheConformanceOptions {
  /**
   * Set (to the reason) when the backend expires entries on its own (Redis), so
   * `purgeExpired` may find nothing left to count.
   */
  nativeExpiry?: string;
}

/** The CacheStore contract: expiry, replacement, atomic take, purge. */
export function cacheStoreConformance(
  name: string,
  open: () => Promise<CacheFixture>,
  options: CacheConformanceOptions = {},
): void {
  describe(`CacheStore conformance: ${name}`, () => {
    let fixture: CacheFixture;
    let cache: CacheStore;
    /** One "unit" of time: 1 s on an injected clock, 60 ms when the suite must really wait. */
    let unit: number;
    const elapse = async (ms: number) => {
      if (fixture.now) fixture.now(ms);
      else await sleep(ms);
    };

    beforeEach(async () => {
      fixture = await open();
      cache = fixture.store;
      unit = fixture.now ? 1000 : 60;
    });
    afterEach(async () => {
      await fixture.close();
    });

    const needsClock = (t: { skip(message?: string): void }) => {
      if (fixture.now) return false;
      t.skip('needs an injectable clock to hit the expiry boundary exactly');
      return true;
    };

    test('a key never set is absent for get, take and delete', async () => {
      assert.equal(await cache.get('missing'), null);
      assert.equal(await cache.take('missing'), null);
      assert.equal(await cache.delete('missing'), false);
    });

    test('get returns exactly the value set, any text included', async () => {
      const values = [
        '',
        'plain',
        '{"a":[1,"x",null],"b":{"c":true}}',
        '"a JSON string"',
        'ä ß 💡 \u0000 \n\t end',
        'x'.repeat(64 * 1024),
      ];
      for (const [i, value] of values.entries()) await cache.set(`k${i}`, value, 60 * unit);
      for (const [i, value] of values.entries()) assert.equal(await cache.get(`k${i}`), value, `value ${i}`);
    });

    test('get does not consume: a value can be read many times', async () => {
      await cache.set('k', 'v', 60 * unit);
      assert.equal(await cache.get('k'), 'v');
      assert.equal(await cache.get('k'), 'v');
    });

    test('keys are exact: case, whitespace and unicode distinguish entries', async () => {
      const keys = ['key', 'Key', 'key ', ' key', 'kéy', 'ke\u0301y', 'k/e:y', 'x'.repeat(1024)];
      for (const key of keys) await cache.set(key, `v:${key}`, 60 * unit);
      for (const key of keys) assert.equal(await cache.get(key), `v:${key}`, `key ${JSON.stringify(key)}`);
      assert.equal(await cache.get('KEY'), null);
    });

    test('an entry is live until its TTL has passed', async () => {
      await cache.set('k', 'v', 2 * unit);
      await elapse(unit);
      assert.equal(await cache.get('k'), 'v');
    });

    test('expiry boundary: live 1 ms before the TTL ends, gone when it ends', async (t) => {
      if (needsClock(t)) return;
      await cache.set('k', 'v', 1000);
      await elapse(999);
      assert.equal(await cache.get('k'), 'v');
      await elapse(1);
      assert.equal(await cache.get('k'), null);
    });

    test('an expired entry is never returned by get, take or delete', async () => {
      await cache.set('a', 'v', unit);
      await cache.set('b', 'v', unit);
      await cache.set('c', 'v', unit);
      await elapse(2 * unit);
      assert.equal(await cache.get('a'), null);
      assert.equal(await cache.take('b'), null);
      assert.equal(await cache.delete('c'), false, 'deleting an expired entry reports no live entry removed');
      // Still not returned after those calls, and not revived by reading it.
      assert.equal(await cache.get('a'), null);
      assert.equal(await cache.get('b'), null);
      assert.equal(await cache.take('a'), null);
    });

    test('set replaces value and expiry', async () => {
      await cache.set('longer', 'old', unit);
      await cache.set('longer', 'new', 10 * unit);
      assert.equal(await cache.get('longer'), 'new');
      await cache.set('shorter', 'old', 10 * unit);
      await cache.set('shorter', 'new', unit);
      await elapse(3 * unit);
      assert.equal(await cache.get('longer'), 'new', 'the longer, later TTL applies');
      assert.equal(await cache.get('shorter'), null, 'the shorter, later TTL applies');
    });

    test('setMany stores every entry with its own TTL, a later entry for a key winning', async () => {
      await cache.setMany([
        ['m1', 'one', unit],
        ['m2', 'two', 10 * unit],
        ['m1', 'uno', 10 * unit],
      ]);
      assert.equal(await cache.get('m1'), 'uno');
      assert.equal(await cache.get('m2'), 'two');
      await elapse(3 * unit);
      assert.equal(await cache.get('m1'), 'uno', 'the later entry brought its longer TTL');
      await cache.setMany([]);
    });

    test('set revives an expired key with the new value and TTL', async () => {
      await cache.set('k', 'old', unit);
      await elapse(2 * unit);
      await cache.set('k', 'new', 10 * unit);
      assert.equal(await cache.get('k'), 'new');
    });

    test('delete removes a live entry and reports it once', async () => {
      await cache.set('k', 'v', 60 * unit);
      await cache.set('other', 'w', 60 * unit);
      assert.equal(await cache.delete('k'), true);
      assert.equal(await cache.get('k'), null);
      assert.equal(await cache.take('k'), null);
      assert.equal(await cache.delete('k'), false);
      assert.equal(await cache.get('other'), 'w', 'other keys are untouched');
    });

    test('take returns the live value and removes it', async () => {
      await cache.set('k', 'v', 60 * unit);
      assert.equal(await cache.take('k'), 'v');
      assert.equal(await cache.take('k'), null);
      assert.equal(await cache.get('k'), null);
      assert.equal(await cache.delete('k'), false);
      await cache.set('k', 'again', 60 * unit);
      assert.equal(await cache.take('k'), 'again', 'a key can be set again after it was taken');
    });

    test('take returns the value once: of 100 concurrent takers exactly one wins', async () => {
      await cache.set('once', 'the-value', 60 * unit);
      const results = await Promise.all(Array.from({ length: 100 }, () => cache.take('once')));
      const winners = results.filter((value) => value !== null);
      assert.deepEqual(winners, ['the-value']);
      assert.equal(await cache.get('once'), null);
    });

    test('concurrent takes of many keys each hand out every value exactly once', async () => {
      const keys = Array.from({ length: 20 }, (_, i) => `key-${i}`);
      await Promise.all(keys.map((key) => cache.set(key, `value-${key}`, 60 * unit)));
      const takes = await Promise.all(
        keys.flatMap((key) => [cache.take(key), cache.take(key), cache.take(key)]),
      );
      const won = takes.filter((value): value is string => value !== null).sort();
      assert.deepEqual(won, keys.map((key) => `value-${key}`).sort());
    });

    test('concurrent deletes of one entry: exactly one reports removing it', async () => {
      await cache.set('k', 'v', 60 * unit);
      const results = await Promise.all(Array.from({ length: 20 }, () => cache.delete('k')));
      assert.equal(results.filter(Boolean).length, 1);
    });

    test('purgeExpired removes only expired entries', async () => {
      await cache.set('short-1', 'v', unit);
      await cache.set('short-2', 'v', unit);
      await cache.set('long', 'kept', 60 * unit);
      await elapse(3 * unit);
      const purged = await cache.purgeExpired();
      if (options.nativeExpiry) {
        assert.ok(purged >= 0 && purged <= 2, `purged ${purged} (${options.nativeExpiry})`);
      } else {
        assert.equal(purged, 2);
      }
      assert.equal(await cache.get('long'), 'kept');
      assert.equal(await cache.purgeExpired(), 0, 'nothing is left to purge');
      assert.equal(await cache.get('long'), 'kept');
      assert.equal(await cache.get('short-1'), null);
    });

    test('purgeExpired on an empty store removes nothing', async () => {
      assert.equal(await cache.purgeExpired(), 0);
    });

    test('ping resolves', async () => {
      await cache.ping();
    });
  });
}

/**
 * The ConfigStore contract: API clients, applications, versioned IdP scripts,
 * properties. The cases for paged lists, create and delete, IdP writes, script versions
 * and freshness are in config-conformance.ts.
 */
export function configStoreConformance(name: string, open: () => Promise<ConfigFixture>): void {
  describe(`ConfigStore conformance: ${name}`, () => {
    let fixture: ConfigFixture;
    let store: ConfigStore;

    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.close();
    });

    const active = async (idpId: string, kind: ScriptKind) => {
      const record = await store.getIdentityProvider(idpId);
      assert.ok(record, `IdP ${idpId} exists`);
      return record.scripts[kind];
    };

    describe('applications', () => {
      const application = {
        client_id: 'mobile-app',
        name: 'Mobile app',
        secret_hash: 'scrypt$15$8$1$salt$hash',
        identity_providers: ['qr', 'password'],
        scopes: ['openid', 'profile', 'read'],
        default_scopes: ['openid'],
        access_token_ttl_seconds: 900,
        refresh_tokens: true,
      };

      test('an unknown application is undefined', async () => {
        assert.equal(await store.getApplication('nobody'), undefined);
      });

      test('an application round-trips with every field, lists in order', async () => {
        await store.upsertApplication(application);
        assert.deepEqual(await store.getApplication('mobile-app'), application);
      });

      test('an upsert replaces every field', async () => {
        await store.upsertApplication(application);
        const changed = {
          ...application,
          name: null,
          secret_hash: 'scrypt$15$8$1$salt$other',
          identity_providers: [],
          scopes: ['read'],
          default_scopes: [],
          access_token_ttl_seconds: 60,
          refresh_tokens: false,
        };
        await store.upsertApplication(changed);
        assert.deepEqual(await store.getApplication('mobile-app'), changed);
      });

      test('applications and API clients are separate namespaces', async () => {
        await store.upsertApplication(application);
        assert.equal(await store.getApiClient('mobile-app'), undefined);
      });
    });

    describe('API clients', () => {
      test('an unknown client is undefined', async () => {
        assert.equal(await store.getApiClient('nobody'), undefined);
      });

      test('a client round-trips with name, secret hash and scopes in order', async () => {
        const client = {
          client_id: 'portal',
          name: 'Portal ä',
          secret_hash: 'scrypt$15$abc$def',
          scopes: ['user_registration', 'admin'] as const,
        };
        await store.upsertApiClient({ ...client, scopes: [...client.scopes] });
        assert.deepEqual(await store.getApiClient('portal'), { ...client, scopes: [...client.scopes] });
      });

      test('upserting a client again replaces name, hash and scopes', async () => {
        await store.upsertApiClient({ client_id: 'c', name: 'old', secret_hash: 'h1', scopes: ['admin'] });
        await store.upsertApiClient({ client_id: 'c', name: null, secret_hash: 'h2', scopes: [] });
        assert.deepEqual(await store.getApiClient('c'), {
          client_id: 'c',
          name: null,
          secret_hash: 'h2',
          scopes: [],
        });
      });

      test('client ids are exact (case-sensitive)', async () => {
        await store.upsertApiClient({ client_id: 'Portal', name: null, secret_hash: 'h', scopes: [] });
        assert.equal(await store.getApiClient('portal'), undefined);
      });
    });

    describe('identity providers and script versions', () => {
      test('an unknown IdP is undefined', async () => {
        assert.equal(await store.getIdentityProvider('nope'), undefined);
      });

      test('an IdP round-trips its fields and gets version 1 of each script given', async () => {
        const complete = 'function execute() { return { status: 2000 }; } // ä';
        const init = 'function execute() { return { status: 2001 }; }';
        await store.upsertIdentityProvider(
          fields('a', { flow: 'two_step', enabled: false, limits: { cpu_time_ms: 50, memory_mb: 16 } }),
          { complete: script(complete, 'a/complete.js'), init: script(init, 'a/init.js') },
        );
        assert.deepEqual(await store.getIdentityProvider('a'), {
          id: 'a',
          name: 'IdP a',
          flow: 'two_step',
          enabled: false,
          limits: { cpu_time_ms: 50, memory_mb: 16 },
          scripts: {
            complete: { version: 1, source: complete, sha256: sha256(complete), filename: 'a/complete.js' },
            init: { version: 1, source: init, sha256: sha256(init), filename: 'a/init.js' },
          },
        });
      });

      test('rate_limits round-trip through upsert and write, and go when emptied', async () => {
        const rules = [
          { endpoint: 'backchannel' as const, per: 'client' as const, limit: 30, window_seconds: 60 },
          { endpoint: 'complete' as const, per: 'address' as const, limit: 5, window_seconds: 1 },
        ];
        await store.upsertIdentityProvider(fields('rl', { rate_limits: rules }), { complete: script('c') });
        assert.deepEqual((await store.getIdentityProvider('rl'))?.rate_limits, rules);
        await store.writeIdentityProvider('update', fields('rl', { rate_limits: rules.slice(1) }), {});
        assert.deepEqual((await store.getIdentityProvider('rl'))?.rate_limits, rules.slice(1));
        await store.writeIdentityProvider('update', fields('rl', { rate_limits: [] }), {});
        assert.equal((await store.getIdentityProvider('rl'))?.rate_limits, undefined);
        assert.ok(
          await store.writeIdentityProvider('create', fields('rl2', { rate_limits: rules }), {
            complete: script('c'),
          }),
        );
        assert.deepEqual((await store.getIdentityProvider('rl2'))?.rate_limits, rules);
      });

      test('upserting an IdP with a changed script creates and activates a new version', async () => {
        await store.upsertIdentityProvider(fields('a'), { complete: script('v1 source') });
        await store.upsertIdentityProvider(fields('a'), { complete: script('v2 source', 'new.js') });
        assert.deepEqual(await active('a', 'complete'), {
          version: 2,
          source: 'v2 source',
          sha256: sha256('v2 source'),
          filename: 'new.js',
        });
      });

      test('an unchanged script creates no new version', async () => {
        await store.upsertIdentityProvider(fields('a'), { complete: script('same') });
        await store.upsertIdentityProvider(fields('a', { name: 'renamed' }), { complete: script('same') });
        await store.upsertIdentityProvider(fields('a'), { complete: script('same') });
        const scriptVersion = await active('a', 'complete');
        assert.equal(scriptVersion?.version, 1);
        assert.equal(scriptVersion?.source, 'same');
      });

      test('going back to an earlier source creates a new version, it does not renumber', async () => {
        await store.upsertIdentityProvider(fields('a'), { complete: script('A') });
        await store.upsertIdentityProvider(fields('a'), { complete: script('B') });
        await store.upsertIdentityProvider(fields('a'), { complete: script('A') });
        const scriptVersion = await active('a', 'complete');
        assert.equal(scriptVersion?.version, 3);
        assert.equal(scriptVersion?.source, 'A');
      });

      test('a whitespace-only change is a change', async () => {
        await store.upsertIdentityProvider(fields('a'), { complete: script('x') });
        await store.upsertIdentityProvider(fields('a'), { complete: script('x\n') });
        assert.equal((await active('a', 'complete'))?.version, 2);
      });

      test('versions are counted per kind', async () => {
        await store.upsertIdentityProvider(fields('a'), {
          complete: script('c1'),
          backchannel: script('b1'),
        });
        await store.upsertIdentityProvider(fields('a'), {
          complete: script('c2'),
          backchannel: script('b1'),
        });
        assert.equal((await active('a', 'complete'))?.version, 2);
        assert.equal((await active('a', 'backchannel'))?.version, 1);
      });

      test('a kind not given is deactivated', async () => {
        await store.upsertIdentityProvider(fields('a'), {
          complete: script('c'),
          backchannel: script('b'),
          init: script('i'),
        });
        await store.upsertIdentityProvider(fields('a'), { complete: script('c') });
        const record = await store.getIdentityProvider('a');
        assert.deepEqual(Object.keys(record?.scripts ?? {}), ['complete']);
      });

      test('a deactivated kind keeps its versions: adding it back continues the numbering', async () => {
        await store.upsertIdentityProvider(fields('a'), { complete: script('c'), backchannel: script('b') });
        await store.upsertIdentityProvider(fields('a'), { complete: script('c') });
        await store.upsertIdentityProvider(fields('a'), { complete: script('c'), backchannel: script('b') });
        const scriptVersion = await active('a', 'backchannel');
        assert.ok(
          scriptVersion !== undefined && scriptVersion.version > 1,
          `version ${scriptVersion?.version} is not reused`,
        );
        assert.equal(scriptVersion?.source, 'b');
      });

      test('upserting again replaces name, flow, enabled and limits', async () => {
        await store.upsertIdentityProvider(
          fields('a', { name: 'old', flow: 'two_step', enabled: true, limits: { cpu_time_ms: 5 } }),
          { complete: script('c'), init: script('i') },
        );
        await store.upsertIdentityProvider(fields('a', { name: null, flow: 'one_step', enabled: false }), {
          complete: script('c'),
        });
        const record = await store.getIdentityProvider('a');
        assert.equal(record?.name, null);
        assert.equal(record?.flow, 'one_step');
        assert.equal(record?.enabled, false);
        assert.deepEqual(record?.limits, {});
      });

      test('IdPs are independent: one IdP’s upsert leaves another’s scripts alone', async () => {
        await store.upsertIdentityProvider(fields('a'), {
          complete: script('shared'),
          backchannel: script('b'),
        });
        await store.upsertIdentityProvider(fields('b'), { complete: script('shared') });
        await store.upsertIdentityProvider(fields('b'), { complete: script('changed') });
        const a = await store.getIdentityProvider('a');
        assert.equal(a?.scripts.complete?.version, 1);
        assert.equal(a?.scripts.complete?.source, 'shared');
        assert.equal(a?.scripts.backchannel?.source, 'b');
        const b = await store.getIdentityProvider('b');
        assert.equal(b?.scripts.complete?.version, 2);
        assert.equal(b?.scripts.backchannel, undefined, 'a kind only another IdP has is not active here');
      });

      test('the same source has the same sha256 in every IdP', async () => {
        await store.upsertIdentityProvider(fields('a'), { complete: script('same') });
        await store.upsertIdentityProvider(fields('b'), { complete: script('same') });
        assert.equal((await active('a', 'complete'))?.sha256, (await active('b', 'complete'))?.sha256);
      });

      test('every script kind can be stored and read back', async () => {
        const given = Object.fromEntries(
          SCRIPT_KINDS.map((kind) => [kind, script(`// ${kind}`, `${kind}.js`)]),
        );
        await store.upsertIdentityProvider(fields('a', { flow: 'two_step' }), given);
        const record = await store.getIdentityProvider('a');
        for (const kind of SCRIPT_KINDS) assert.equal(record?.scripts[kind]?.source, `// ${kind}`, kind);
      });

      test('concurrent upserts with different sources each get their own version', async () => {
        const sources = Array.from({ length: 10 }, (_, i) => `// source ${i} ${randomUUID()}`);
        await Promise.all(
          sources.map((source) => store.upsertIdentityProvider(fields('a'), { complete: script(source) })),
        );
        const scriptVersion = await active('a', 'complete');
        assert.equal(scriptVersion?.version, 10);
        assert.ok(sources.includes(scriptVersion?.source ?? ''), 'the active source is one of those given');
      });
    });

    describe('properties', () => {
      test('no properties at first', async () => {
        assert.deepEqual(await store.listProperties(), []);
      });

      test('properties round-trip with the sensitive flag', async () => {
        await store.upsertProperty({ id: 'plain', value: 'hello ä', sensitive: false });
        await store.upsertProperty({ id: 'secret', value: 'sealed:abc', sensitive: true });
        await store.upsertProperty({ id: 'empty', value: '', sensitive: false });
        const listed = (await store.listProperties()).sort((a, b) => a.id.localeCompare(b.id));
        assert.deepEqual(listed, [
          { id: 'empty', value: '', sensitive: false },
          { id: 'plain', value: 'hello ä', sensitive: false },
          { id: 'secret', value: 'sealed:abc', sensitive: true },
        ]);
      });

      test('upserting a property again replaces its value and flag', async () => {
        await store.upsertProperty({ id: 'p', value: 'one', sensitive: true });
        await store.upsertProperty({ id: 'p', value: 'two', sensitive: false });
        assert.deepEqual(await store.listProperties(), [{ id: 'p', value: 'two', sensitive: false }]);
      });
    });

    test('ping resolves', async () => {
      await store.ping();
    });

    configStoreChangeCases(() => fixture);
  });
}
