import type { Pool } from 'pg';
import type { ScriptKind } from '../../config/schema.js';
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
import { IdentityProviderTable } from './identity-provider-table.js';
import { KeyedTable } from './keyed-table.js';
import { PostgresRolloutTable } from './rollout-table.js';

const json = (value: unknown) => JSON.stringify(value);
const text = (value: unknown) => String(value);
const nullableText = (value: unknown) => (value === null ? null : String(value));

/**
 * Configuration in PostgreSQL; each method is one statement or one transaction, and
 * every read queries the database. (`openStorage` wraps it in `withReadMemo`, which
 * reuses request-path lookups for `storage.postgres.read_cache_ms`.)
 */
export class PostgresConfigStore implements ConfigStore, RolloutStore {
  private readonly clients: KeyedTable<ApiClientRecord>;
  private readonly applications: KeyedTable<ApplicationRecord>;
  private readonly properties: KeyedTable<PropertyRecord>;
  private readonly idps: IdentityProviderTable;
  private readonly rollouts: PostgresRolloutTable;

  constructor(private readonly pool: Pool) {
    this.clients = new KeyedTable(pool, {
      table: 'api_clients',
      key: 'client_id',
      columns: ['client_id', 'name', 'secret_hash', 'scopes'],
      encode: (c) => [c.client_id, c.name, c.secret_hash, json(c.scopes)],
      decode: (row) => ({
        client_id: text(row.client_id),
        name: nullableText(row.name),
        secret_hash: text(row.secret_hash),
        scopes: row.scopes as ApiClientRecord['scopes'],
      }),
    });
    this.applications = new KeyedTable(pool, {
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
      encode: (a) => [
        a.client_id,
        a.name,
        a.secret_hash,
        json(a.identity_providers),
        json(a.scopes),
        json(a.default_scopes),
        a.access_token_ttl_seconds,
        a.refresh_tokens,
      ],
      decode: (row) => ({
        client_id: text(row.client_id),
        name: nullableText(row.name),
        secret_hash: text(row.secret_hash),
        identity_providers: row.identity_providers as string[],
        scopes: row.scopes as string[],
        default_scopes: row.default_scopes as string[],
        access_token_ttl_seconds: Number(row.access_token_ttl_seconds),
        refresh_tokens: row.refresh_tokens === true,
      }),
    });
    this.properties = new KeyedTable(pool, {
      table: 'properties',
      key: 'id',
      columns: ['id', 'value', 'sensitive'],
      encode: (p) => [p.id, p.value, p.sensitive],
      decode: (row) => ({ id: text(row.id), value: text(row.value), sensitive: row.sensitive === true }),
    });
    this.idps = new IdentityProviderTable(pool);
    this.rollouts = new PostgresRolloutTable(pool);
  }

  async getApiClient(clientId: string): Promise<ApiClientRecord | undefined> {
    return this.clients.get(clientId);
  }
  async listApiClients(page: PageRequest): Promise<Page<ApiClientRecord>> {
    return this.clients.page(page);
  }
  async createApiClient(client: ApiClientRecord): Promise<boolean> {
    return this.clients.insert(client);
  }
  async upsertApiClient(client: ApiClientRecord): Promise<void> {
    await this.clients.upsert(client);
  }
  async deleteApiClient(clientId: string): Promise<boolean> {
    return this.clients.delete(clientId);
  }

  async getApplication(clientId: string): Promise<ApplicationRecord | undefined> {
    return this.applications.get(clientId);
  }
  async listApplications(page: PageRequest): Promise<Page<ApplicationRecord>> {
    return this.applications.page(page);
  }
  async createApplication(application: ApplicationRecord): Promise<boolean> {
    return this.applications.insert(application);
  }
  async upsertApplication(application: ApplicationRecord): Promise<void> {
    await this.applications.upsert(application);
  }
  async deleteApplication(clientId: string): Promise<boolean> {
    return this.applications.delete(clientId);
  }

  async getIdentityProvider(id: string): Promise<IdentityProviderRecord | undefined> {
    return this.idps.get(id);
  }
  async listIdentityProviders(page: PageRequest): Promise<Page<IdentityProviderRecord>> {
    return this.idps.page(page);
  }
  async upsertIdentityProvider(
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource>>,
  ): Promise<void> {
    await this.idps.upsert(idp, scripts);
  }
  async writeIdentityProvider(
    mode: 'create' | 'update',
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource | null>>,
  ): Promise<boolean> {
    return this.idps.write(mode, idp, scripts);
  }
  async deleteIdentityProvider(id: string): Promise<boolean> {
    return this.idps.delete(id);
  }
  async saveScript(
    idpId: string,
    kind: ScriptKind,
    script: ScriptSource,
    options: { activate?: boolean } = {},
  ): Promise<SavedScript | undefined> {
    return this.idps.saveScript(idpId, kind, script, options.activate ?? true);
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
    return this.idps.activate(idpId, kind, version);
  }

  async startRollout(
    idpId: string,
    kind: ScriptKind,
    rollout: NewRollout,
  ): Promise<RolloutRecord | RolloutRefusal> {
    return this.rollouts.start(idpId, kind, rollout);
  }
  async getRollout(idpId: string, kind: ScriptKind): Promise<RolloutRecord | undefined> {
    return this.rollouts.read(idpId, kind);
  }
  async endRollout(idpId: string, kind: ScriptKind, end: RolloutEnd): Promise<RolloutRecord | undefined> {
    return this.rollouts.end(idpId, kind, end);
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
    return this.rollouts.startShadow(idpId, kind, shadow);
  }
  async stopShadow(idpId: string, kind: ScriptKind): Promise<boolean> {
    return this.rollouts.stopShadow(idpId, kind);
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
    return this.properties.insert(property);
  }
  async upsertProperty(property: PropertyRecord): Promise<void> {
    await this.properties.upsert(property);
  }
  async deleteProperty(id: string): Promise<boolean> {
    return this.properties.delete(id);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }
}
