import { createHash } from 'node:crypto';
import { SCRIPT_KINDS, type ScriptKind } from '../../config/schema.js';
import type {
  ApiClientRecord,
  ApplicationRecord,
  ConfigStore,
  IdentityProviderFields,
  IdentityProviderRecord,
  PropertyRecord,
  ScriptVersion,
} from '../types.js';
import type { SqliteDatabase } from './database.js';

interface ApiClientRow {
  client_id: string;
  name: string | null;
  secret_hash: string;
  scopes: string;
}

interface ApplicationRow {
  client_id: string;
  name: string | null;
  secret_hash: string;
  identity_providers: string;
  scopes: string;
  default_scopes: string;
  access_token_ttl_seconds: number;
  refresh_tokens: number;
}

interface IdpRow {
  id: string;
  name: string | null;
  flow: 'one_step' | 'two_step';
  enabled: number;
  limits: string;
}

interface ActiveScriptRow extends ScriptVersion {
  kind: ScriptKind;
}

/**
 * Configuration in SQLite; each method is one statement or one transaction.
 *
 * Reads are memoised (frozen records) until the database changes: this connection's
 * own writes clear the memo, and `PRAGMA data_version` (checked on every read; it
 * costs no I/O) reveals commits by any other connection or process, so a lookup on
 * the request path runs no query when nothing changed.
 */
export class SqliteConfigStore implements ConfigStore {
  private readonly statements;
  private memoVersion = -1;
  private readonly clientMemo = new Map<string, ApiClientRecord | undefined>();
  private readonly applicationMemo = new Map<string, ApplicationRecord | undefined>();
  private readonly idpMemo = new Map<string, IdentityProviderRecord | undefined>();

  constructor(private readonly db: SqliteDatabase) {
    this.statements = {
      getClient: db.prepare<[string], ApiClientRow>(
        'SELECT client_id, name, secret_hash, scopes FROM api_clients WHERE client_id = ?',
      ),
      upsertClient: db.prepare<[string, string | null, string, string, number]>(
        `INSERT INTO api_clients (client_id, name, secret_hash, scopes, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash,
           scopes = excluded.scopes, updated_at = excluded.updated_at`,
      ),
      getApplication: db.prepare<[string], ApplicationRow>(
        `SELECT client_id, name, secret_hash, identity_providers, scopes, default_scopes,
           access_token_ttl_seconds, refresh_tokens
         FROM applications WHERE client_id = ?`,
      ),
      upsertApplication: db.prepare<
        [string, string | null, string, string, string, string, number, number, number]
      >(
        `INSERT INTO applications (client_id, name, secret_hash, identity_providers, scopes, default_scopes,
           access_token_ttl_seconds, refresh_tokens, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash,
           identity_providers = excluded.identity_providers, scopes = excluded.scopes,
           default_scopes = excluded.default_scopes, access_token_ttl_seconds = excluded.access_token_ttl_seconds,
           refresh_tokens = excluded.refresh_tokens, updated_at = excluded.updated_at`,
      ),
      getIdp: db.prepare<[string], IdpRow>(
        'SELECT id, name, flow, enabled, limits FROM identity_providers WHERE id = ?',
      ),
      getActiveScripts: db.prepare<[string], ActiveScriptRow>(
        `SELECT a.kind, v.version, v.source, v.sha256, v.filename
         FROM active_scripts a JOIN script_versions v USING (idp_id, kind, version)
         WHERE a.idp_id = ?`,
      ),
      upsertIdp: db.prepare<[string, string | null, string, number, string, number]>(
        `INSERT INTO identity_providers (id, name, flow, enabled, limits, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, flow = excluded.flow, enabled = excluded.enabled,
           limits = excluded.limits, updated_at = excluded.updated_at`,
      ),
      nextVersion: db
        .prepare<[string, string], number>(
          'SELECT COALESCE(MAX(version), 0) + 1 FROM script_versions WHERE idp_id = ? AND kind = ?',
        )
        .pluck(),
      insertVersion: db.prepare<[string, string, number, string, string, string, number]>(
        `INSERT INTO script_versions (idp_id, kind, version, source, sha256, filename, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      activate: db.prepare<[string, string, number]>(
        `INSERT INTO active_scripts (idp_id, kind, version) VALUES (?, ?, ?)
         ON CONFLICT (idp_id, kind) DO UPDATE SET version = excluded.version`,
      ),
      deactivate: db.prepare<[string, string]>('DELETE FROM active_scripts WHERE idp_id = ? AND kind = ?'),
      listProperties: db.prepare<[], { id: string; value: string; sensitive: number }>(
        'SELECT id, value, sensitive FROM properties ORDER BY id',
      ),
      upsertProperty: db.prepare<[string, string, number, number]>(
        `INSERT INTO properties (id, value, sensitive, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET value = excluded.value, sensitive = excluded.sensitive,
           updated_at = excluded.updated_at`,
      ),
      ping: db.prepare('SELECT 1'),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    };
  }

  /** Drops memoised reads when another connection (or process) committed since they were made. */
  private checkMemo(): void {
    const version = this.statements.dataVersion.get() ?? 0;
    if (version !== this.memoVersion) this.forget(version);
  }

  private forget(version = this.memoVersion): void {
    this.memoVersion = version;
    this.clientMemo.clear();
    this.applicationMemo.clear();
    this.idpMemo.clear();
  }

  async getApiClient(clientId: string): Promise<ApiClientRecord | undefined> {
    this.checkMemo();
    if (this.clientMemo.has(clientId)) return this.clientMemo.get(clientId);
    const row = this.statements.getClient.get(clientId);
    const client = row && deepFreeze({ ...row, scopes: JSON.parse(row.scopes) });
    this.clientMemo.set(clientId, client);
    return client;
  }

  async upsertApiClient(client: ApiClientRecord): Promise<void> {
    this.statements.upsertClient.run(
      client.client_id,
      client.name,
      client.secret_hash,
      JSON.stringify(client.scopes),
      Date.now(),
    );
    this.forget();
  }

  async getApplication(clientId: string): Promise<ApplicationRecord | undefined> {
    this.checkMemo();
    if (this.applicationMemo.has(clientId)) return this.applicationMemo.get(clientId);
    const row = this.statements.getApplication.get(clientId);
    const application =
      row &&
      deepFreeze({
        ...row,
        identity_providers: JSON.parse(row.identity_providers) as string[],
        scopes: JSON.parse(row.scopes) as string[],
        default_scopes: JSON.parse(row.default_scopes) as string[],
        refresh_tokens: row.refresh_tokens === 1,
      });
    this.applicationMemo.set(clientId, application);
    return application;
  }

  async upsertApplication(application: ApplicationRecord): Promise<void> {
    this.statements.upsertApplication.run(
      application.client_id,
      application.name,
      application.secret_hash,
      JSON.stringify(application.identity_providers),
      JSON.stringify(application.scopes),
      JSON.stringify(application.default_scopes),
      application.access_token_ttl_seconds,
      application.refresh_tokens ? 1 : 0,
      Date.now(),
    );
    this.forget();
  }

  async getIdentityProvider(id: string): Promise<IdentityProviderRecord | undefined> {
    this.checkMemo();
    if (this.idpMemo.has(id)) return this.idpMemo.get(id);
    const idp = this.readIdentityProvider(id);
    this.idpMemo.set(id, idp);
    return idp;
  }

  private readIdentityProvider(id: string): IdentityProviderRecord | undefined {
    const row = this.statements.getIdp.get(id);
    if (!row) return undefined;
    const scripts: IdentityProviderRecord['scripts'] = {};
    for (const { kind, ...version } of this.statements.getActiveScripts.all(id)) scripts[kind] = version;
    return deepFreeze({ ...row, enabled: row.enabled === 1, limits: JSON.parse(row.limits), scripts });
  }

  async upsertIdentityProvider(
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, { source: string; filename: string }>>,
  ): Promise<void> {
    const s = this.statements;
    this.db
      .transaction(() => {
        const now = Date.now();
        s.upsertIdp.run(idp.id, idp.name, idp.flow, idp.enabled ? 1 : 0, JSON.stringify(idp.limits), now);
        const active = new Map(s.getActiveScripts.all(idp.id).map((row) => [row.kind, row.sha256]));
        for (const kind of SCRIPT_KINDS) {
          const script = scripts[kind];
          if (!script) {
            s.deactivate.run(idp.id, kind);
            continue;
          }
          const sha256 = createHash('sha256').update(script.source).digest('hex');
          if (active.get(kind) === sha256) continue;
          const version = s.nextVersion.get(idp.id, kind) ?? 1;
          s.insertVersion.run(idp.id, kind, version, script.source, sha256, script.filename, now);
          s.activate.run(idp.id, kind, version);
        }
      })
      .immediate();
    this.forget();
  }

  async listProperties(): Promise<PropertyRecord[]> {
    return this.statements.listProperties.all().map((row) => ({ ...row, sensitive: row.sensitive === 1 }));
  }

  async upsertProperty(property: PropertyRecord): Promise<void> {
    this.statements.upsertProperty.run(property.id, property.value, property.sensitive ? 1 : 0, Date.now());
    this.forget();
  }

  async ping(): Promise<void> {
    this.statements.ping.get();
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
