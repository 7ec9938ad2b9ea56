/**
 * ConfigStore conformance, the part for paged lists, create and delete, IdP writes,
 * script versions and freshness after a change. `configStoreConformance`
 * (storage-conformance.ts) calls {@link configStoreChangeCases} with its fixture, opened
 * fresh before every case; everything here is written against `ConfigStore` only.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';
import { SCRIPT_KINDS, type ScriptKind } from '../../src/config/schema.js';
import type {
  ApiClientRecord,
  ApplicationRecord,
  ConfigStore,
  IdentityProviderFields,
  IdentityProviderRecord,
  Page,
  PageRequest,
  PropertyRecord,
  ScriptSource,
} from '../../src/storage/types.js';

/** Lets a turn of the event loop pass: SQLite stores check for other connections' commits once per turn. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A freshly opened, empty config store. */
export interface ConfigFixture {
  store: ConfigStore;
  /**
   * Opens another store on the same database through its own connection, as another
   * Registrar process has; `close` closes it too. Without it, the cross-connection
   * cases are skipped.
   */
  openPeer?(): Promise<ConfigStore>;
  close(): Promise<void>;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export const fields = (id: string, extra: Partial<IdentityProviderFields> = {}): IdentityProviderFields => ({
  id,
  name: `IdP ${id}`,
  flow: 'one_step',
  enabled: true,
  limits: {},
  ...extra,
});

export const script = (source: string, filename = 'script.js'): ScriptSource => ({ source, filename });

/** Walks a keyset-paged list from the start, passing each page's `next` as the following `after`. */
async function walk<T>(list: (page: PageRequest) => Promise<Page<T>>, limit: number): Promise<Page<T>[]> {
  const pages: Page<T>[] = [];
  let after: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await list(after === undefined ? { limit } : { limit, after });
    pages.push(page);
    if (page.next === null) return pages;
    after = page.next;
  }
  assert.fail('paging did not reach a page with next null within 100 pages');
}

/** How the suite reaches one keyed kind of configuration record. */
interface KeyedKind<T> {
  name: string;
  /** The record stored under `key`; variant 2 differs from variant 1 in every other field. */
  record(key: string, variant?: 1 | 2): T;
  keyOf(record: T): string;
  get(store: ConfigStore, key: string): Promise<T | undefined>;
  list(store: ConfigStore, page: PageRequest): Promise<Page<T>>;
  upsert(store: ConfigStore, record: T): Promise<void>;
  create(store: ConfigStore, record: T): Promise<boolean>;
  delete(store: ConfigStore, key: string): Promise<boolean>;
}

const apiClients: KeyedKind<ApiClientRecord> = {
  name: 'API clients',
  record: (key, variant = 1) =>
    variant === 1
      ? { client_id: key, name: `Client ${key}`, secret_hash: 'scrypt$one', scopes: ['admin'] }
      : { client_id: key, name: null, secret_hash: 'scrypt$two', scopes: ['user_registration'] },
  keyOf: (client) => client.client_id,
  get: (store, key) => store.getApiClient(key),
  list: (store, page) => store.listApiClients(page),
  upsert: (store, client) => store.upsertApiClient(client),
  create: (store, client) => store.createApiClient(client),
  delete: (store, key) => store.deleteApiClient(key),
};

const applications: KeyedKind<ApplicationRecord> = {
  name: 'applications',
  record: (key, variant = 1) =>
    variant === 1
      ? {
          client_id: key,
          name: `App ${key}`,
          secret_hash: 'scrypt$one',
          identity_providers: ['qr', 'password'],
          scopes: ['openid', 'read'],
          default_scopes: ['openid'],
          access_token_ttl_seconds: 900,
          refresh_tokens: true,
        }
      : {
          client_id: key,
          name: null,
          secret_hash: 'scrypt$two',
          identity_providers: [],
          scopes: ['write'],
          default_scopes: [],
          access_token_ttl_seconds: 60,
          refresh_tokens: false,
        },
  keyOf: (application) => application.client_id,
  get: (store, key) => store.getApplication(key),
  list: (store, page) => store.listApplications(page),
  upsert: (store, application) => store.upsertApplication(application),
  create: (store, application) => store.createApplication(application),
  delete: (store, key) => store.deleteApplication(key),
};

const fieldsOf = ({ scripts: _scripts, ...idpFields }: IdentityProviderRecord): IdentityProviderFields =>
  idpFields;

/** IdPs without scripts, so a record round-trips as written (scripts have their own cases). */
const identityProviders: KeyedKind<IdentityProviderRecord> = {
  name: 'identity providers',
  record: (key, variant = 1) => ({
    ...(variant === 1
      ? fields(key)
      : fields(key, { name: null, flow: 'two_step', enabled: false, limits: { cpu_time_ms: 5 } })),
    scripts: {},
  }),
  keyOf: (idp) => idp.id,
  get: (store, key) => store.getIdentityProvider(key),
  list: (store, page) => store.listIdentityProviders(page),
  upsert: (store, idp) => store.upsertIdentityProvider(fieldsOf(idp), {}),
  create: (store, idp) => store.writeIdentityProvider('create', fieldsOf(idp), {}),
  delete: (store, key) => store.deleteIdentityProvider(key),
};

const properties: KeyedKind<PropertyRecord> = {
  name: 'properties',
  record: (key, variant = 1) =>
    variant === 1
      ? { id: key, value: `value ${key}`, sensitive: false }
      : { id: key, value: '', sensitive: true },
  keyOf: (property) => property.id,
  get: (store, key) => store.getProperty(key),
  list: (store, page) => store.pageProperties(page),
  upsert: (store, property) => store.upsertProperty(property),
  create: (store, property) => store.createProperty(property),
  delete: (store, key) => store.deleteProperty(key),
};

/** Five keys, stored in this (unsorted) order; plain lowercase ASCII sorts the same under any collation. */
const KEYS = ['delta', 'alpha', 'echo', 'charlie', 'bravo'];
const SORTED = [...KEYS].sort();

/** The cases for paged lists, create, delete, IdP writes, script versions and freshness. */
export function configStoreChangeCases(current: () => ConfigFixture): void {
  let store: ConfigStore;
  beforeEach(() => {
    store = current().store;
  });

  /** A second store on the same database, or undefined (and the case skipped) when the backend has none. */
  const openPeer = async (t: { skip(message?: string): void }) => {
    const open = current().openPeer;
    if (!open) {
      t.skip('the fixture cannot open a second store on the same database');
      return undefined;
    }
    return open();
  };

  const activeScript = async (idpId: string, kind: ScriptKind) => {
    const record = await store.getIdentityProvider(idpId);
    assert.ok(record, `IdP ${idpId} exists`);
    return record.scripts[kind];
  };
  const versionNumbers = async (idpId: string, kind: ScriptKind) =>
    (await store.listScriptVersions(idpId, kind, { limit: 100 })).items.map((info) => info.version);
  const activeVersions = async (idpId: string, kind: ScriptKind) =>
    (await store.listScriptVersions(idpId, kind, { limit: 100 })).items
      .filter((info) => info.active)
      .map((info) => info.version);

  function keyedCases<T>(kind: KeyedKind<T>): void {
    describe(kind.name, () => {
      const storeAll = async (keys = KEYS) => {
        for (const key of keys) await kind.upsert(store, kind.record(key));
      };
      const keysOf = (page: Page<T>) => page.items.map((item) => kind.keyOf(item));

      describe('paged list', () => {
        test('an empty store lists no items and next null', async () => {
          assert.deepEqual(await kind.list(store, { limit: 10 }), { items: [], next: null });
        });

        test('a limit above the count lists every record, whole, in key order, with next null', async () => {
          await storeAll();
          assert.deepEqual(await kind.list(store, { limit: 10 }), {
            items: SORTED.map((key) => kind.record(key)),
            next: null,
          });
        });

        test('a page holds at most limit records and names its last key as next', async () => {
          await storeAll();
          const page = await kind.list(store, { limit: 2 });
          assert.deepEqual(keysOf(page), ['alpha', 'bravo']);
          assert.equal(page.next, 'bravo');
        });

        test('passing next as after walks 5 records in pages of 2, 2 and 1, without duplicates or gaps', async () => {
          await storeAll();
          const pages = await walk((page) => kind.list(store, page), 2);
          assert.deepEqual(pages.map(keysOf), [['alpha', 'bravo'], ['charlie', 'delta'], ['echo']]);
          assert.deepEqual(
            pages.map((page) => page.next),
            ['bravo', 'delta', null],
          );
        });

        test('a limit equal to the count gives one page with next null', async () => {
          await storeAll();
          const page = await kind.list(store, { limit: KEYS.length });
          assert.deepEqual(keysOf(page), SORTED);
          assert.equal(page.next, null);
        });

        test('paging continues after a key that was deleted between pages', async () => {
          await storeAll();
          const first = await kind.list(store, { limit: 2 });
          assert.equal(first.next, 'bravo');
          assert.equal(await kind.delete(store, 'bravo'), true);
          const second = await kind.list(store, { limit: 2, after: 'bravo' });
          assert.deepEqual(keysOf(second), ['charlie', 'delta']);
        });
      });

      describe('create and delete', () => {
        test('create stores a new record and returns true', async () => {
          assert.equal(await kind.create(store, kind.record('alpha')), true);
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha'));
        });

        test('create returns false for an existing key and leaves the record unchanged', async () => {
          assert.equal(await kind.create(store, kind.record('alpha')), true);
          assert.equal(await kind.create(store, kind.record('alpha', 2)), false);
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha'));
          await kind.upsert(store, kind.record('bravo', 2));
          assert.equal(await kind.create(store, kind.record('bravo')), false, 'an upserted key exists too');
          assert.deepEqual(await kind.get(store, 'bravo'), kind.record('bravo', 2));
        });

        test('delete returns true, then false; the record reads as undefined and is not listed', async () => {
          await storeAll(['alpha', 'bravo']);
          assert.equal(await kind.delete(store, 'alpha'), true);
          assert.equal(await kind.delete(store, 'alpha'), false);
          assert.equal(await kind.get(store, 'alpha'), undefined);
          assert.deepEqual(keysOf(await kind.list(store, { limit: 10 })), ['bravo']);
          assert.deepEqual(await kind.get(store, 'bravo'), kind.record('bravo'), 'other records are kept');
        });

        test('deleting a key never stored returns false', async () => {
          assert.equal(await kind.delete(store, 'nobody'), false);
        });

        test('a deleted key can be created again', async () => {
          await kind.upsert(store, kind.record('alpha'));
          assert.equal(await kind.delete(store, 'alpha'), true);
          assert.equal(await kind.create(store, kind.record('alpha', 2)), true);
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha', 2));
        });
      });

      describe('freshness', () => {
        test('on one store, the read after each upsert, delete and create sees that change', async () => {
          assert.equal(await kind.get(store, 'alpha'), undefined);
          await kind.upsert(store, kind.record('alpha'));
          assert.deepEqual(
            await kind.get(store, 'alpha'),
            kind.record('alpha'),
            'an absent key, then stored',
          );
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha'));
          await kind.upsert(store, kind.record('alpha', 2));
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha', 2), 'upserted');
          await kind.delete(store, 'alpha');
          assert.equal(await kind.get(store, 'alpha'), undefined, 'deleted');
          await kind.create(store, kind.record('alpha'));
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha'), 'created');
        });

        test('a change through one store is seen by another store on the same database from the next event-loop turn', async (t) => {
          const peer = await openPeer(t);
          if (!peer) return;
          assert.equal(await kind.get(peer, 'alpha'), undefined);
          await kind.upsert(store, kind.record('alpha'));
          await nextTurn();
          assert.deepEqual(await kind.get(peer, 'alpha'), kind.record('alpha'), 'stored');
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha'));
          await kind.upsert(peer, kind.record('alpha', 2));
          await nextTurn();
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha', 2), 'upserted by the peer');
          await kind.delete(store, 'alpha');
          await nextTurn();
          assert.equal(await kind.get(peer, 'alpha'), undefined, 'deleted');
          await kind.create(peer, kind.record('alpha'));
          await nextTurn();
          assert.deepEqual(await kind.get(store, 'alpha'), kind.record('alpha'), 'created by the peer');
          assert.deepEqual(keysOf(await kind.list(store, { limit: 10 })), ['alpha'], 'listed');
        });
      });
    });
  }

  keyedCases(apiClients);
  keyedCases(applications);
  keyedCases(identityProviders);
  keyedCases(properties);

  describe('identity providers: lists with scripts, writes, deletes', () => {
    test('listed IdPs carry their active scripts, as getIdentityProvider returns them', async () => {
      await store.upsertIdentityProvider(fields('b'), { complete: script('b complete', 'b.js') });
      await store.upsertIdentityProvider(fields('a', { flow: 'two_step' }), {
        init: script('a init'),
        complete: script('a complete'),
      });
      await store.saveScript('a', 'complete', script('a complete 2'));
      const page = await store.listIdentityProviders({ limit: 10 });
      assert.deepEqual(page.items, [
        await store.getIdentityProvider('a'),
        await store.getIdentityProvider('b'),
      ]);
      assert.equal(page.items[0]?.scripts.complete?.version, 2);
      assert.equal(page.items[0]?.scripts.complete?.source, 'a complete 2');
      assert.equal(page.items[1]?.scripts.complete?.filename, 'b.js');
    });

    test('write create stores the fields and version 1 of each script given', async () => {
      const idp = fields('a', { flow: 'two_step', enabled: false, limits: { memory_mb: 16 } });
      assert.equal(
        await store.writeIdentityProvider('create', idp, {
          init: script('i', 'a/init.js'),
          complete: script('c', 'a/complete.js'),
        }),
        true,
      );
      assert.deepEqual(await store.getIdentityProvider('a'), {
        ...idp,
        scripts: {
          init: { version: 1, source: 'i', sha256: sha256('i'), filename: 'a/init.js' },
          complete: { version: 1, source: 'c', sha256: sha256('c'), filename: 'a/complete.js' },
        },
      });
    });

    test('write create with null for a kind stores the IdP without that kind', async () => {
      assert.equal(
        await store.writeIdentityProvider('create', fields('a'), { complete: script('c'), init: null }),
        true,
      );
      assert.deepEqual(Object.keys((await store.getIdentityProvider('a'))?.scripts ?? {}), ['complete']);
    });

    test('write create returns false for an existing id and changes neither fields nor scripts', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('c1') });
      const before = await store.getIdentityProvider('a');
      assert.equal(
        await store.writeIdentityProvider('create', fields('a', { name: 'other', enabled: false }), {
          complete: script('c2'),
          backchannel: script('b'),
        }),
        false,
      );
      assert.deepEqual(await store.getIdentityProvider('a'), before);
      assert.deepEqual(await versionNumbers('a', 'complete'), [1]);
      assert.deepEqual(await versionNumbers('a', 'backchannel'), []);
    });

    test('write update of an absent IdP returns false and creates nothing', async () => {
      assert.equal(
        await store.writeIdentityProvider('update', fields('a'), { complete: script('c') }),
        false,
      );
      assert.equal(await store.getIdentityProvider('a'), undefined);
      assert.deepEqual(await store.listIdentityProviders({ limit: 10 }), { items: [], next: null });
      assert.deepEqual(await versionNumbers('a', 'complete'), []);
    });

    test('write update replaces name, flow, enabled and limits and keeps the scripts', async () => {
      await store.writeIdentityProvider('create', fields('a'), { complete: script('c') });
      const changed = fields('a', {
        name: null,
        flow: 'two_step',
        enabled: false,
        limits: { cpu_time_ms: 9 },
      });
      assert.equal(await store.writeIdentityProvider('update', changed, {}), true);
      const record = await store.getIdentityProvider('a');
      assert.deepEqual(record && fieldsOf(record), changed);
      assert.equal(record?.scripts.complete?.source, 'c');
      assert.deepEqual(await versionNumbers('a', 'complete'), [1]);
    });

    test('write update with a new source saves and activates the next version', async () => {
      await store.writeIdentityProvider('create', fields('a'), { complete: script('c1') });
      assert.equal(
        await store.writeIdentityProvider('update', fields('a'), { complete: script('c2', 'c2.js') }),
        true,
      );
      assert.deepEqual(await activeScript('a', 'complete'), {
        version: 2,
        source: 'c2',
        sha256: sha256('c2'),
        filename: 'c2.js',
      });
      assert.deepEqual(await versionNumbers('a', 'complete'), [2, 1]);
    });

    test('write update with the active source creates no version', async () => {
      await store.writeIdentityProvider('create', fields('a'), { complete: script('c') });
      assert.equal(await store.writeIdentityProvider('update', fields('a'), { complete: script('c') }), true);
      assert.equal((await activeScript('a', 'complete'))?.version, 1);
      assert.deepEqual(await versionNumbers('a', 'complete'), [1]);
    });

    test('write update with null deactivates the kind and keeps its versions', async () => {
      await store.writeIdentityProvider('create', fields('a'), {
        complete: script('c'),
        backchannel: script('b'),
      });
      assert.equal(await store.writeIdentityProvider('update', fields('a'), { backchannel: null }), true);
      assert.deepEqual(Object.keys((await store.getIdentityProvider('a'))?.scripts ?? {}), ['complete']);
      const versions = await store.listScriptVersions('a', 'backchannel', { limit: 10 });
      assert.deepEqual(
        versions.items.map((info) => [info.version, info.active]),
        [[1, false]],
      );
      assert.equal((await store.getScriptVersion('a', 'backchannel', 1))?.source, 'b');
      assert.equal(
        await store.writeIdentityProvider('update', fields('a'), { backchannel: script('b2') }),
        true,
        'a source after null',
      );
      assert.equal((await activeScript('a', 'backchannel'))?.version, 2, 'numbering continues');
    });

    test('write update leaves kinds not named as they are', async () => {
      await store.writeIdentityProvider('create', fields('a', { flow: 'two_step' }), {
        init: script('i'),
        complete: script('c'),
        backchannel: script('b'),
      });
      await store.saveScript('a', 'init', script('i2'));
      const before = await store.getIdentityProvider('a');
      assert.equal(await store.writeIdentityProvider('update', fields('a', { flow: 'two_step' }), {}), true);
      assert.deepEqual(await store.getIdentityProvider('a'), before, 'nothing named');
      await store.writeIdentityProvider('update', fields('a', { flow: 'two_step' }), {
        complete: script('c2'),
      });
      const after = await store.getIdentityProvider('a');
      assert.equal(after?.scripts.complete?.version, 2);
      assert.deepEqual(after?.scripts.init, before?.scripts.init);
      assert.deepEqual(after?.scripts.backchannel, before?.scripts.backchannel);
      assert.deepEqual(await versionNumbers('a', 'init'), [2, 1]);
      assert.deepEqual(await versionNumbers('a', 'backchannel'), [1]);
    });

    test('deleting an IdP removes its versions: none is listed, readable or activatable, and saves fail', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('c1'), backchannel: script('b') });
      await store.saveScript('a', 'complete', script('c2'));
      assert.equal(await store.deleteIdentityProvider('a'), true);
      for (const kind of SCRIPT_KINDS) {
        assert.deepEqual(
          await store.listScriptVersions('a', kind, { limit: 10 }),
          { items: [], next: null },
          kind,
        );
      }
      assert.equal(await store.getScriptVersion('a', 'complete', 1), undefined);
      assert.equal(await store.activateScriptVersion('a', 'complete', 1), false);
      assert.equal(await store.saveScript('a', 'complete', script('c3')), undefined);
      assert.equal(await store.getIdentityProvider('a'), undefined, 'neither activation nor save revived it');
    });

    test('an IdP created again under a deleted id starts its versions at 1', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('c1') });
      await store.saveScript('a', 'complete', script('c2'));
      await store.saveScript('a', 'complete', script('c3'));
      await store.deleteIdentityProvider('a');
      assert.equal(
        await store.writeIdentityProvider('create', fields('a'), { complete: script('c2') }),
        true,
      );
      assert.equal((await activeScript('a', 'complete'))?.version, 1);
      assert.deepEqual(await versionNumbers('a', 'complete'), [1]);
      assert.equal((await store.getScriptVersion('a', 'complete', 1))?.source, 'c2', 'not the old version 1');
      assert.equal(await store.getScriptVersion('a', 'complete', 3), undefined);
    });

    test('deleting one IdP leaves another IdP and its versions alone', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('same') });
      await store.upsertIdentityProvider(fields('b'), { complete: script('same') });
      await store.saveScript('b', 'complete', script('b2'));
      const before = await store.getIdentityProvider('b');
      await store.deleteIdentityProvider('a');
      assert.deepEqual(await store.getIdentityProvider('b'), before);
      assert.deepEqual(await versionNumbers('b', 'complete'), [2, 1]);
    });
  });

  describe('saving scripts', () => {
    test('saveScript on an unknown IdP is undefined and creates nothing', async () => {
      assert.equal(await store.saveScript('nope', 'complete', script('c')), undefined);
      assert.equal(await store.getIdentityProvider('nope'), undefined);
      assert.deepEqual(await versionNumbers('nope', 'complete'), []);
    });

    test('the first save creates version 1 and activates it', async () => {
      await store.upsertIdentityProvider(fields('a'), {});
      const saved = await store.saveScript('a', 'complete', script('c1', 'a/complete.js'));
      const version = { version: 1, source: 'c1', sha256: sha256('c1'), filename: 'a/complete.js' };
      assert.deepEqual(saved, { version, created: true });
      assert.deepEqual(await activeScript('a', 'complete'), version);
    });

    test('saving the active source again creates nothing and returns the active version', async () => {
      await store.upsertIdentityProvider(fields('a'), {});
      const first = await store.saveScript('a', 'complete', script('c1'));
      const again = await store.saveScript('a', 'complete', script('c1'));
      assert.deepEqual(again, { version: first?.version, created: false });
      assert.deepEqual(await versionNumbers('a', 'complete'), [1]);
    });

    test('saving the active source under another filename changes nothing', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('c1', 'old.js') });
      const saved = await store.saveScript('a', 'complete', script('c1', 'new.js'));
      assert.equal(saved?.created, false);
      assert.equal(saved?.version.filename, 'old.js');
      assert.equal((await activeScript('a', 'complete'))?.filename, 'old.js');
      assert.deepEqual(await versionNumbers('a', 'complete'), [1]);
    });

    test('a new source creates version 2 and activates it', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('c1') });
      const saved = await store.saveScript('a', 'complete', script('c2', 'two.js'));
      const version = { version: 2, source: 'c2', sha256: sha256('c2'), filename: 'two.js' };
      assert.deepEqual(saved, { version, created: true });
      assert.deepEqual(await activeScript('a', 'complete'), version);
      assert.deepEqual(await activeVersions('a', 'complete'), [2]);
    });

    test('saving with activate: false stores a new version and leaves the active one', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('c1') });
      const saved = await store.saveScript('a', 'complete', script('c2', 'two.js'), { activate: false });
      const version = { version: 2, source: 'c2', sha256: sha256('c2'), filename: 'two.js' };
      assert.deepEqual(saved, { version, created: true });
      assert.equal((await activeScript('a', 'complete'))?.source, 'c1');
      assert.deepEqual(await versionNumbers('a', 'complete'), [2, 1]);
      assert.deepEqual(await activeVersions('a', 'complete'), [1]);
      const again = await store.saveScript('a', 'complete', script('c1'), { activate: false });
      assert.equal(again?.created, false);
      assert.equal(again?.version.version, 1);
    });

    test('a source only an older, inactive version has is saved as a new version', async () => {
      await store.upsertIdentityProvider(fields('a'), {});
      await store.saveScript('a', 'complete', script('A'));
      await store.saveScript('a', 'complete', script('B'));
      const saved = await store.saveScript('a', 'complete', script('A'));
      assert.equal(saved?.created, true);
      assert.equal(saved?.version.version, 3);
      assert.deepEqual(await versionNumbers('a', 'complete'), [3, 2, 1]);
    });

    test('a save changes only its own IdP and kind', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('c'), backchannel: script('b') });
      await store.upsertIdentityProvider(fields('b'), { complete: script('c') });
      assert.equal((await store.saveScript('a', 'complete', script('c2')))?.version.version, 2);
      assert.equal((await store.saveScript('b', 'init', script('i')))?.version.version, 1);
      assert.equal((await activeScript('a', 'backchannel'))?.version, 1);
      assert.equal((await activeScript('b', 'complete'))?.version, 1);
      assert.deepEqual(await versionNumbers('a', 'init'), []);
    });

    test('concurrent saves with different sources each get a distinct version number', async () => {
      await store.upsertIdentityProvider(fields('a'), {});
      const sources = Array.from({ length: 10 }, (_, i) => `// source ${i} ${randomUUID()}`);
      const saved = await Promise.all(
        sources.map((source) => store.saveScript('a', 'complete', script(source))),
      );
      assert.ok(
        saved.every((result) => result?.created === true),
        'every save created a version',
      );
      const numbers = saved.map((result) => result?.version.version ?? 0).sort((x, y) => x - y);
      assert.deepEqual(
        numbers,
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      for (const [i, result] of saved.entries()) {
        const version = result?.version.version ?? 0;
        assert.equal(
          (await store.getScriptVersion('a', 'complete', version))?.source,
          sources[i],
          `save ${i}`,
        );
      }
      assert.equal((await store.listScriptVersions('a', 'complete', { limit: 100 })).items.length, 10);
      assert.equal((await activeVersions('a', 'complete')).length, 1, 'exactly one version is active');
    });

    test('concurrent saves of one source create exactly one version', async () => {
      await store.upsertIdentityProvider(fields('a'), {});
      const saved = await Promise.all(
        Array.from({ length: 10 }, () => store.saveScript('a', 'complete', script('same'))),
      );
      assert.equal(saved.filter((result) => result?.created).length, 1);
      assert.deepEqual(
        saved.map((result) => result?.version.version),
        Array.from({ length: 10 }, () => 1),
      );
      assert.deepEqual(await versionNumbers('a', 'complete'), [1]);
    });
  });

  describe('listing and reading script versions', () => {
    /** IdP `a` with `count` versions of `complete` (sources v1..vN, files f1..fN), the newest active. */
    const withVersions = async (count: number) => {
      await store.upsertIdentityProvider(fields('a'), {});
      for (let i = 1; i <= count; i++) await store.saveScript('a', 'complete', script(`v${i}`, `f${i}.js`));
    };

    test('versions are listed newest first with sha256 and filename, only the active one flagged', async () => {
      await withVersions(3);
      const page = await store.listScriptVersions('a', 'complete', { limit: 10 });
      assert.equal(page.next, null);
      assert.deepEqual(
        page.items.map((info) => ({
          version: info.version,
          sha256: info.sha256,
          filename: info.filename,
          active: info.active,
        })),
        [3, 2, 1].map((n) => ({
          version: n,
          sha256: sha256(`v${n}`),
          filename: `f${n}.js`,
          active: n === 3,
        })),
      );
      for (const info of page.items) {
        assert.ok(
          Number.isFinite(info.created_at),
          `version ${info.version} has created_at ${info.created_at}`,
        );
      }
    });

    test('passing next (a version number) as after walks 5 versions in pages of 2, 2 and 1', async () => {
      await withVersions(5);
      const pages = await walk((page) => store.listScriptVersions('a', 'complete', page), 2);
      assert.deepEqual(
        pages.map((page) => page.items.map((info) => info.version)),
        [[5, 4], [3, 2], [1]],
      );
      assert.deepEqual(
        pages.map((page) => page.next),
        ['4', '2', null],
      );
    });

    test('a limit equal to the number of versions gives one page with next null', async () => {
      await withVersions(3);
      const page = await store.listScriptVersions('a', 'complete', { limit: 3 });
      assert.deepEqual(
        page.items.map((info) => info.version),
        [3, 2, 1],
      );
      assert.equal(page.next, null);
    });

    test('an unknown IdP, or a kind never saved, lists no versions', async () => {
      await withVersions(2);
      assert.deepEqual(await store.listScriptVersions('nope', 'complete', { limit: 10 }), {
        items: [],
        next: null,
      });
      assert.deepEqual(await store.listScriptVersions('a', 'init', { limit: 10 }), { items: [], next: null });
    });

    test('getScriptVersion returns a version’s source with its listed info', async () => {
      await withVersions(2);
      const listed = (await store.listScriptVersions('a', 'complete', { limit: 10 })).items;
      for (const info of listed) {
        assert.deepEqual(
          await store.getScriptVersion('a', 'complete', info.version),
          { ...info, source: `v${info.version}` },
          `version ${info.version}`,
        );
      }
      assert.equal((await store.getScriptVersion('a', 'complete', 1))?.active, false);
      assert.equal((await store.getScriptVersion('a', 'complete', 2))?.active, true);
    });

    test('getScriptVersion is undefined for an unknown version, kind or IdP', async () => {
      await withVersions(2);
      assert.equal(await store.getScriptVersion('a', 'complete', 0), undefined);
      assert.equal(await store.getScriptVersion('a', 'complete', 3), undefined);
      assert.equal(await store.getScriptVersion('a', 'backchannel', 1), undefined);
      assert.equal(await store.getScriptVersion('nope', 'complete', 1), undefined);
    });
  });

  describe('activating a script version', () => {
    /** IdP `a` with versions 1 (`A`) and 2 (`B`) of `complete`, 2 active. */
    const withTwoVersions = async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('A', 'a.js') });
      await store.saveScript('a', 'complete', script('B', 'b.js'));
    };

    test('activating an older version is a rollback: the IdP runs that version’s source', async () => {
      await withTwoVersions();
      assert.equal(await store.activateScriptVersion('a', 'complete', 1), true);
      assert.deepEqual(await activeScript('a', 'complete'), {
        version: 1,
        source: 'A',
        sha256: sha256('A'),
        filename: 'a.js',
      });
      assert.deepEqual(await activeVersions('a', 'complete'), [1]);
      assert.deepEqual(await versionNumbers('a', 'complete'), [2, 1], 'the newer version is kept');
      assert.equal(await store.activateScriptVersion('a', 'complete', 2), true, 'and forward again');
      assert.equal((await activeScript('a', 'complete'))?.source, 'B');
    });

    test('activating an unknown version returns false and changes nothing', async () => {
      await withTwoVersions();
      const before = await store.getIdentityProvider('a');
      assert.equal(await store.activateScriptVersion('a', 'complete', 3), false);
      assert.equal(await store.activateScriptVersion('a', 'complete', 0), false);
      assert.equal(await store.activateScriptVersion('a', 'init', 1), false);
      assert.equal(await store.activateScriptVersion('nope', 'complete', 1), false);
      assert.deepEqual(await store.getIdentityProvider('a'), before);
      assert.deepEqual(await activeVersions('a', 'complete'), [2]);
      assert.equal(await store.getIdentityProvider('nope'), undefined);
    });

    test('activating the active version returns true and changes nothing', async () => {
      await withTwoVersions();
      const before = await store.getIdentityProvider('a');
      assert.equal(await store.activateScriptVersion('a', 'complete', 2), true);
      assert.deepEqual(await store.getIdentityProvider('a'), before);
    });

    test('a save after a rollback takes the next number, never reusing one', async () => {
      await withTwoVersions();
      await store.activateScriptVersion('a', 'complete', 1);
      const saved = await store.saveScript('a', 'complete', script('C'));
      assert.deepEqual([saved?.created, saved?.version.version], [true, 3]);
      assert.equal((await store.getScriptVersion('a', 'complete', 2))?.source, 'B', 'version 2 is unchanged');
    });

    test('after a rollback, saving the rolled-back source makes a new version; the active one, none', async () => {
      await withTwoVersions();
      await store.activateScriptVersion('a', 'complete', 1);
      const same = await store.saveScript('a', 'complete', script('A'));
      assert.deepEqual([same?.created, same?.version.version], [false, 1]);
      const newer = await store.saveScript('a', 'complete', script('B'));
      assert.deepEqual([newer?.created, newer?.version.version], [true, 3]);
    });

    test('activating a version of a deactivated kind makes the kind active again', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('c'), backchannel: script('b') });
      await store.writeIdentityProvider('update', fields('a'), { backchannel: null });
      assert.equal(await activeScript('a', 'backchannel'), undefined);
      assert.equal(await store.activateScriptVersion('a', 'backchannel', 1), true);
      assert.equal((await activeScript('a', 'backchannel'))?.source, 'b');
    });
  });

  describe('script changes are seen by the next read', () => {
    test('on one store, the read after each script change sees it', async () => {
      await store.upsertIdentityProvider(fields('a'), { complete: script('A') });
      assert.equal((await activeScript('a', 'complete'))?.source, 'A');
      await store.saveScript('a', 'complete', script('B'));
      assert.equal((await activeScript('a', 'complete'))?.source, 'B', 'saved');
      await store.activateScriptVersion('a', 'complete', 1);
      assert.equal((await activeScript('a', 'complete'))?.source, 'A', 'rolled back');
      await store.writeIdentityProvider('update', fields('a', { enabled: false }), { complete: null });
      const record = await store.getIdentityProvider('a');
      assert.deepEqual([record?.enabled, record?.scripts.complete], [false, undefined], 'written');
      await store.deleteIdentityProvider('a');
      assert.equal(await store.getIdentityProvider('a'), undefined, 'deleted');
      await store.writeIdentityProvider('create', fields('a'), { complete: script('C') });
      assert.equal((await activeScript('a', 'complete'))?.source, 'C', 'created');
    });

    test('a script change through one store is seen by another store on the same database from the next event-loop turn', async (t) => {
      const peer = await openPeer(t);
      if (!peer) return;
      const peerSource = async () => (await peer.getIdentityProvider('a'))?.scripts.complete?.source;
      await store.upsertIdentityProvider(fields('a'), { complete: script('A') });
      await nextTurn();
      assert.equal(await peerSource(), 'A');
      await store.saveScript('a', 'complete', script('B'));
      await nextTurn();
      assert.equal(await peerSource(), 'B', 'saved');
      await store.activateScriptVersion('a', 'complete', 1);
      await nextTurn();
      assert.equal(await peerSource(), 'A', 'rolled back');
      await peer.saveScript('a', 'complete', script('C'));
      await nextTurn();
      assert.equal((await activeScript('a', 'complete'))?.version, 3, 'saved by the peer');
      await store.writeIdentityProvider('update', fields('a'), { complete: null });
      await nextTurn();
      assert.equal(await peerSource(), undefined, 'deactivated');
      await store.deleteIdentityProvider('a');
      await nextTurn();
      assert.equal(await peer.getIdentityProvider('a'), undefined, 'deleted');
      assert.deepEqual(await peer.listScriptVersions('a', 'complete', { limit: 10 }), {
        items: [],
        next: null,
      });
    });
  });
}
