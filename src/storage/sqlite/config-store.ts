import type { ScriptKind } from '../../config/schema.js';
import { deepFreeze } from '../../deep-freeze.js';
import type {
  ApiClientRecord,
  ApplicationRecord,
  ConfigStore,
  IdentityProviderFields,
  IdentityProviderRecord,
  NewRollout,
  NewShadow,
  Page,
  PageRequest,
  PropertyRecord,
  RolloutCountPair,
  RolloutEnd,
  RolloutRecord,
  RolloutRefusal,
  RolloutStore,
  SavedScript,
  ScriptSource,
  ScriptVersion,
  ScriptVersionInfo,
} from '../types.js';
import type { SqliteDatabase } from './database.js';
import { IdentityProviderTable } from './identity-provider-table.js';
import { KeyedTable } from './keyed-table.js';
import { RolloutTable } from './rollout-table.js';

/** Memoised lookups kept per kind before the memo starts over. */
const MAX_MEMO_ENTRIES = 10_000;

const json = (value: unknown) => JSON.stringify(value);
const parse = <T>(value: unknown) => JSON.parse(String(value)) as T;

/**
 * Configuration in SQLite; each method is one statement or one transaction.
 *
 * Reads on the request path are memoised (frozen records) until the database
 * changes: this connection's own writes clear the memo, and `PRAGMA data_version`
 * (checked on every read; it costs no I/O) reveals commits by any other connection or
 * process, so a lookup runs no query when nothing changed.
 */
export class SqliteConfigStore implements ConfigStore, RolloutStore {
  private readonly clients: KeyedTable<ApiClientRecord>;
  private readonly applications: KeyedTable<ApplicationRecord>;
  private readonly properties: KeyedTable<PropertyRecord>;
  private readonly idps: IdentityProviderTable;
  private readonly rollouts: RolloutTable;
  private readonly ping_;
  private readonly dataVersion;
  private memoVersion = -1;
  private readonly clientMemo = new Map<string, ApiClientRecord | undefined>();
  private readonly applicationMemo = new Map<string, ApplicationRecord | undefined>();
  private readonly idpMemo = new Map<string, IdentityProviderRecord | undefined>();

  constructor(db: SqliteDatabase) {
    this.clients = new KeyedTable(db, {
      table: 'api_clients',
      key: 'client_id',
      columns: ['client_id', 'name', 'secret_hash', 'scopes'],
      encode: (c) => ({ ...c, scopes: json(c.scopes) }),
      decode: (row) => ({
        client_id: String(row.client_id),
        name: row.name === null ? null : String(row.name),
        secret_hash: String(row.secret_hash),
        scopes: parse(row.scopes),
      }),
    });
    this.applications = new KeyedTable(db, {
      table: 'applications',
      key: 'client_id',
      columns: [
        'client_id',
        'name',
        'secret_hash',
        'identity_providers',
        'scopes',
        'default_scopes',
        'access_token_ttl_seconds',
        'refresh_tokens',
      ],
      encode: (a) => ({
        ...a,
        identity_providers: json(a.identity_providers),
        scopes: json(a.scopes),
        default_scopes: json(a.default_scopes),
        refresh_tokens: a.refresh_tokens ? 1 : 0,
      }),
      decode: (row) => ({
        client_id: String(row.client_id),
        name: row.name === null ? null : String(row.name),
        secret_hash: String(row.secret_hash),
        identity_providers: parse(row.identity_providers),
        scopes: parse(row.scopes),
        default_scopes: parse(row.default_scopes),
        access_token_ttl_seconds: Number(row.access_token_ttl_seconds),
        refresh_tokens: row.refresh_tokens === 1,
      }),
    });
    this.properties = new KeyedTable(db, {
      table: 'properties',
      key: 'id',
      columns: ['id', 'value', 'sensitive'],
      encode: (p) => ({ ...p, sensitive: p.sensitive ? 1 : 0 }),
      decode: (row) => ({ id: String(row.id), value: String(row.value), sensitive: row.sensitive === 1 }),
    });
    this.idps = new IdentityProviderTable(db);
    this.rollouts = new RolloutTable(db);
    this.ping_ = db.prepare('SELECT 1');
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  }

  /**
   * Drops memoised reads when another connection (or process) committed since they were
   * made. Checked once per event-loop turn (the check is a read transaction: tens of
   * microseconds, paid per request before): a commit elsewhere is seen by every read that
   * starts in a later turn. This store's own writes clear the memo at once.
   */
  private checkMemo(): void {
    if (this.memoChecked) return;
    this.memoChecked = true;
    setImmediate(this.uncheck);
    const version = this.dataVersion.get() ?? 0;
    if (version !== this.memoVersion) this.forget(version);
  }

  private memoChecked = false;
  private readonly uncheck = (): void => {
    this.memoChecked = false;
  };

  private forget(version = this.memoVersion): void {
    this.memoVersion = version;
    this.clientMemo.clear();
    this.applicationMemo.clear();
    this.idpMemo.clear();
  }

  /** Runs a write and clears the memo, so the next read sees it. */
  private write<R>(change: () => R): R {
    try {
      return change();
    } finally {
      this.forget();
    }
  }

  private memoised<T>(memo: Map<string, T | undefined>, key: string, read: () => T | undefined) {
    this.checkMemo();
    if (memo.has(key)) return memo.get(key);
    const value = read();
    const frozen = value && deepFreeze(value);
    // Lookups come with ids straight from callers (unknown client ids too): bound the memo.
    if (memo.size >= MAX_MEMO_ENTRIES) memo.clear();
    memo.set(key, frozen);
    return frozen;
  }

  async getApiClient(clientId: string): Promise<ApiClientRecord | undefined> {
    return this.memoised(this.clientMemo, clientId, () => this.clients.get(clientId));
  }
  async listApiClients(page: PageRequest): Promise<Page<ApiClientRecord>> {
    return this.clients.page(page);
  }
  async createApiClient(client: ApiClientRecord): Promise<boolean> {
    return this.write(() => this.clients.insert(client));
  }
  async upsertApiClient(client: ApiClientRecord): Promise<void> {
    this.write(() => this.clients.upsert(client));
  }
  async deleteApiClient(clientId: string): Promise<boolean> {
    return this.write(() => this.clients.delete(clientId));
  }

  async getApplication(clientId: string): Promise<ApplicationRecord | undefined> {
    return this.memoised(this.applicationMemo, clientId, () => this.applications.get(clientId));
  }
  async listApplications(page: PageRequest): Promise<Page<ApplicationRecord>> {
    return this.applications.page(page);
  }
  async createApplication(application: ApplicationRecord): Promise<boolean> {
    return this.write(() => this.applications.insert(application));
  }
  async upsertApplication(application: ApplicationRecord): Promise<void> {
    this.write(() => this.applications.upsert(application));
  }
  async deleteApplication(clientId: string): Promise<boolean> {
    return this.write(() => this.applications.delete(clientId));
  }

  async getIdentityProvider(id: string): Promise<IdentityProviderRecord | undefined> {
    return this.memoised(this.idpMemo, id, () => this.idps.get(id));
  }
  async listIdentityProviders(page: PageRequest): Promise<Page<IdentityProviderRecord>> {
    return this.idps.page(page);
  }
  async upsertIdentityProvider(
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource>>,
  ): Promise<void> {
    this.write(() => this.idps.upsert(idp, scripts));
  }
  async writeIdentityProvider(
    mode: 'create' | 'update',
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource | null>>,
  ): Promise<boolean> {
    return this.write(() => this.idps.write(mode, idp, scripts));
  }
  async deleteIdentityProvider(id: string): Promise<boolean> {
    return this.write(() => this.idps.delete(id));
  }
  async saveScript(
    idpId: string,
    kind: ScriptKind,
    script: ScriptSource,
    options: { activate?: boolean } = {},
  ): Promise<SavedScript | undefined> {
    return this.write(() => this.idps.saveScript(idpId, kind, script, options.activate ?? true));
  }
  async listScriptVersions(
    idpId: string,
    kind: ScriptKind,
    page: PageRequest,
  ): Promise<Page<ScriptVersionInfo>> {
    return this.idps.versions(idpId, kind, page);
  }
  async getScriptVersion(
    idpId: string,
    kind: ScriptKind,
    version: number,
  ): Promise<(ScriptVersion & ScriptVersionInfo) | undefined> {
    return this.idps.version(idpId, kind, version);
  }
  async activateScriptVersion(idpId: string, kind: ScriptKind, version: number): Promise<boolean> {
    return this.write(() => this.idps.activate(idpId, kind, version));
  }

  async startRollout(
    idpId: string,
    kind: ScriptKind,
    rollout: NewRollout,
  ): Promise<RolloutRecord | RolloutRefusal> {
    return this.write(() => this.rollouts.start(idpId, kind, rollout));
  }
  async getRollout(idpId: string, kind: ScriptKind): Promise<RolloutRecord | undefined> {
    return this.rollouts.read(idpId, kind);
  }
  async endRollout(idpId: string, kind: ScriptKind, end: RolloutEnd): Promise<RolloutRecord | undefined> {
    return this.write(() => this.rollouts.end(idpId, kind, end));
  }
  /** Counts are not part of the memoised IdP record, so adding them keeps the memo. */
  async addRolloutCounts(
    idpId: string,
    kind: ScriptKind,
    toVersion: number,
    delta: RolloutCountPair,
  ): Promise<RolloutCountPair | undefined> {
    return this.rollouts.add(idpId, kind, toVersion, delta);
  }

  async startShadow(idpId: string, kind: ScriptKind, shadow: NewShadow): Promise<boolean> {
    return this.write(() => this.rollouts.startShadow(idpId, kind, shadow));
  }
  async stopShadow(idpId: string, kind: ScriptKind): Promise<boolean> {
    return this.write(() => this.rollouts.stopShadow(idpId, kind));
  }

  async getProperty(id: string): Promise<PropertyRecord | undefined> {
    return this.properties.get(id);
  }
  async listProperties(): Promise<PropertyRecord[]> {
    return this.properties.all();
  }
  async pageProperties(page: PageRequest): Promise<Page<PropertyRecord>> {
    return this.properties.page(page);
  }
  async createProperty(property: PropertyRecord): Promise<boolean> {
    return this.write(() => this.properties.insert(property));
  }
  async upsertProperty(property: PropertyRecord): Promise<void> {
    this.write(() => this.properties.upsert(property));
  }
  async deleteProperty(id: string): Promise<boolean> {
    return this.write(() => this.properties.delete(id));
  }

  async ping(): Promise<void> {
    this.ping_.get();
  }
}
