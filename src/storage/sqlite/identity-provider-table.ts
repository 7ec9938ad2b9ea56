import { createHash } from 'node:crypto';
import { SCRIPT_KINDS, type ScriptKind } from '../../config/schema.js';
import { pageOf } from '../paging.js';
import { canariesFromRows, type ShadowRow, shadowsFromRows } from '../rollout-rows.js';
import type {
  IdentityProviderFields,
  IdentityProviderRecord,
  Page,
  PageRequest,
  SavedScript,
  ScriptSource,
  ScriptVersion,
  ScriptVersionInfo,
} from '../types.js';
import type { SqliteDatabase } from './database.js';
import { type CanaryRow, SQLITE_CANARIES, SQLITE_SHADOWS } from './rollout-table.js';

interface IdpRow {
  id: string;
  name: string | null;
  flow: 'one_step' | 'two_step';
  enabled: number;
  limits: string;
  http: string | null;
  rate_limits: string | null;
  record: string | null;
}

type FieldParams = [
  string,
  string | null,
  string,
  number,
  string,
  string | null,
  number,
  string | null,
  string | null,
];

interface ActiveScriptRow extends ScriptVersion {
  kind: ScriptKind;
}

interface VersionRow {
  version: number;
  sha256: string;
  filename: string;
  created_at: number;
  active: number;
}

const sha256 = (source: string) => createHash('sha256').update(source).digest('hex');

/**
 * Identity providers and their immutable script versions in SQLite. Every write runs
 * in one immediate transaction, so concurrent saves each get their own version number.
 */
export class IdentityProviderTable {
  private readonly s;

  constructor(private readonly db: SqliteDatabase) {
    this.s = {
      get: db.prepare<[string], IdpRow>(
        'SELECT id, name, flow, enabled, limits, http, rate_limits, record FROM identity_providers WHERE id = ?',
      ),
      first: db.prepare<[number], IdpRow>(
        'SELECT id, name, flow, enabled, limits, http, rate_limits, record FROM identity_providers ORDER BY id LIMIT ?',
      ),
      after: db.prepare<[string, number], IdpRow>(
        'SELECT id, name, flow, enabled, limits, http, rate_limits, record FROM identity_providers WHERE id > ? ORDER BY id LIMIT ?',
      ),
      activeScripts: db.prepare<[string], ActiveScriptRow>(
        `SELECT a.kind, v.version, v.source, v.sha256, v.filename
         FROM active_scripts a JOIN script_versions v USING (idp_id, kind, version)
         WHERE a.idp_id = ?`,
      ),
      canaries: db.prepare<[string], CanaryRow>(SQLITE_CANARIES),
      shadows: db.prepare<[string], ShadowRow>(SQLITE_SHADOWS),
      insert: db.prepare<FieldParams>(
        `INSERT INTO identity_providers (id, name, flow, enabled, limits, http, updated_at, rate_limits, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      ),
      upsert: db.prepare<FieldParams>(
        `INSERT INTO identity_providers (id, name, flow, enabled, limits, http, updated_at, rate_limits, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, flow = excluded.flow, enabled = excluded.enabled,
           limits = excluded.limits, http = excluded.http, updated_at = excluded.updated_at,
           rate_limits = excluded.rate_limits, record = excluded.record`,
      ),
      update: db.prepare<
        [string | null, string, number, string, string | null, number, string | null, string | null, string]
      >(
        'UPDATE identity_providers SET name = ?, flow = ?, enabled = ?, limits = ?, http = ?, updated_at = ?, rate_limits = ?, record = ? WHERE id = ?',
      ),
      delete: db.prepare<[string]>('DELETE FROM identity_providers WHERE id = ?'),
      deleteVersions: db.prepare<[string]>('DELETE FROM script_versions WHERE idp_id = ?'),
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
      versionsFirst: db.prepare<[string, string, string, string, number], VersionRow>(
        `SELECT v.version, v.sha256, v.filename, v.created_at,
           EXISTS (SELECT 1 FROM active_scripts a WHERE a.idp_id = ? AND a.kind = ? AND a.version = v.version) AS active
         FROM script_versions v WHERE v.idp_id = ? AND v.kind = ? ORDER BY v.version DESC LIMIT ?`,
      ),
      versionsBefore: db.prepare<[string, string, string, string, number, number], VersionRow>(
        `SELECT v.version, v.sha256, v.filename, v.created_at,
           EXISTS (SELECT 1 FROM active_scripts a WHERE a.idp_id = ? AND a.kind = ? AND a.version = v.version) AS active
         FROM script_versions v WHERE v.idp_id = ? AND v.kind = ? AND v.version < ?
         ORDER BY v.version DESC LIMIT ?`,
      ),
      version: db.prepare<[string, string, string, string, number], VersionRow & { source: string }>(
        `SELECT v.version, v.source, v.sha256, v.filename, v.created_at,
           EXISTS (SELECT 1 FROM active_scripts a WHERE a.idp_id = ? AND a.kind = ? AND a.version = v.version) AS active
         FROM script_versions v WHERE v.idp_id = ? AND v.kind = ? AND v.version = ?`,
      ),
    };
  }

  get(id: string): IdentityProviderRecord | undefined {
    return this.snapshot(() => {
      const row = this.s.get.get(id);
      return row && this.withScripts(row);
    });
  }

  page({ limit, after }: PageRequest): Page<IdentityProviderRecord> {
    return this.snapshot(() => {
      const rows = after === undefined ? this.s.first.all(limit + 1) : this.s.after.all(after, limit + 1);
      return pageOf(
        rows.map((row) => this.withScripts(row)),
        limit,
        (idp) => idp.id,
      );
    });
  }

  upsert(idp: IdentityProviderFields, scripts: Partial<Record<ScriptKind, ScriptSource>>): void {
    this.db
      .transaction(() => {
        this.s.upsert.run(...this.fieldParams(idp));
        for (const kind of SCRIPT_KINDS) this.setScript(idp.id, kind, scripts[kind] ?? null);
      })
      .immediate();
  }

  write(
    mode: 'create' | 'update',
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource | null>>,
  ): boolean {
    return this.db
      .transaction(() => {
        const params = this.fieldParams(idp);
        const [id, name, flow, enabled, limits, http, now, rateLimits, record] = params;
        const changes =
          mode === 'create'
            ? this.s.insert.run(...params).changes
            : this.s.update.run(name, flow, enabled, limits, http, now, rateLimits, record, id).changes;
        if (changes !== 1) return false;
        for (const kind of SCRIPT_KINDS) {
          const script = scripts[kind];
          if (script !== undefined) this.setScript(idp.id, kind, script);
        }
        return true;
      })
      .immediate();
  }

  delete(id: string): boolean {
    return this.db
      .transaction(() => {
        // active_scripts rows go with the IdP (ON DELETE CASCADE), then the versions.
        const removed = this.s.delete.run(id).changes === 1;
        this.s.deleteVersions.run(id);
        return removed;
      })
      .immediate();
  }

  saveScript(
    idpId: string,
    kind: ScriptKind,
    script: ScriptSource,
    activate = true,
  ): SavedScript | undefined {
    return this.db
      .transaction(() => {
        if (!this.s.get.get(idpId)) return undefined;
        if (!activate) return this.storeInactive(idpId, kind, script);
        const created = this.setScript(idpId, kind, script);
        const active = this.s.activeScripts.all(idpId).find((row) => row.kind === kind);
        if (!active) throw new Error('a saved script is active');
        const { kind: _kind, ...version } = active;
        return { version, created };
      })
      .immediate();
  }

  versions(idpId: string, kind: ScriptKind, { limit, after }: PageRequest): Page<ScriptVersionInfo> {
    const before = after === undefined ? undefined : Number(after);
    const rows =
      before === undefined || !Number.isInteger(before)
        ? this.s.versionsFirst.all(idpId, kind, idpId, kind, limit + 1)
        : this.s.versionsBefore.all(idpId, kind, idpId, kind, before, limit + 1);
    return pageOf(
      rows.map((row) => ({ ...row, active: row.active === 1 })),
      limit,
      (info) => String(info.version),
    );
  }

  version(idpId: string, kind: ScriptKind, version: number): (ScriptVersion & ScriptVersionInfo) | undefined {
    const row = this.s.version.get(idpId, kind, idpId, kind, version);
    return row && { ...row, active: row.active === 1 };
  }

  activate(idpId: string, kind: ScriptKind, version: number): boolean {
    return this.db
      .transaction(() => {
        if (!this.s.version.get(idpId, kind, idpId, kind, version)) return false;
        this.s.activate.run(idpId, kind, version);
        return true;
      })
      .immediate();
  }

  /** Saves `script` as a new active version unless it is the active source, or deactivates the kind (null); true when a version was created. */
  private setScript(idpId: string, kind: ScriptKind, script: ScriptSource | null): boolean {
    if (script === null) {
      this.s.deactivate.run(idpId, kind);
      return false;
    }
    const hash = sha256(script.source);
    const active = this.s.activeScripts.all(idpId).find((row) => row.kind === kind);
    if (active?.sha256 === hash) return false;
    const version = this.s.nextVersion.get(idpId, kind) ?? 1;
    this.s.insertVersion.run(idpId, kind, version, script.source, hash, script.filename, Date.now());
    this.s.activate.run(idpId, kind, version);
    return true;
  }

  /** Stores `script` as a new version without activating it, unless it is the active source. */
  private storeInactive(idpId: string, kind: ScriptKind, script: ScriptSource): SavedScript {
    const hash = sha256(script.source);
    const active = this.s.activeScripts.all(idpId).find((row) => row.kind === kind);
    if (active?.sha256 === hash) {
      const { kind: _kind, ...version } = active;
      return { version, created: false };
    }
    const version = this.s.nextVersion.get(idpId, kind) ?? 1;
    this.s.insertVersion.run(idpId, kind, version, script.source, hash, script.filename, Date.now());
    return {
      version: { version, source: script.source, sha256: hash, filename: script.filename },
      created: true,
    };
  }

  /**
   * Runs reads that take more than one statement (an IdP row, then its scripts) in one
   * deferred transaction, so they all see the same commit: without it, a commit by
   * another connection between them gives a record that never existed.
   */
  private snapshot<T>(read: () => T): T {
    return this.db.transaction(read)();
  }

  private fieldParams(idp: IdentityProviderFields): FieldParams {
    const http =
      idp.http && (idp.http.allow?.length || idp.http.allow_addresses?.length) ? idp.http : undefined;
    return [
      idp.id,
      idp.name,
      idp.flow,
      idp.enabled ? 1 : 0,
      JSON.stringify(idp.limits),
      http ? JSON.stringify(http) : null,
      Date.now(),
      idp.rate_limits?.length ? JSON.stringify(idp.rate_limits) : null,
      idp.record ? JSON.stringify(idp.record) : null,
    ];
  }

  private withScripts(row: IdpRow): IdentityProviderRecord {
    const scripts: IdentityProviderRecord['scripts'] = {};
    for (const { kind, ...version } of this.s.activeScripts.all(row.id)) scripts[kind] = version;
    const { http, rate_limits, record: recordPolicy, ...fields } = row;
    const record: IdentityProviderRecord = {
      ...fields,
      enabled: row.enabled === 1,
      limits: JSON.parse(row.limits),
      scripts,
    };
    if (http !== null) record.http = JSON.parse(http);
    if (rate_limits !== null) record.rate_limits = JSON.parse(rate_limits);
    if (recordPolicy !== null) record.record = JSON.parse(recordPolicy);
    const canaries = canariesFromRows(this.s.canaries.all(row.id));
    if (canaries) record.canaries = canaries;
    const shadows = shadowsFromRows(this.s.shadows.all(row.id));
    if (shadows) record.shadows = shadows;
    return record;
  }
}
