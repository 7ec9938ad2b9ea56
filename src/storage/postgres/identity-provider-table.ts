import { createHash } from 'node:crypto';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import {
  type IdpLimits,
  type RateLimitRule,
  type RecordPolicy,
  SCRIPT_KINDS,
  type ScriptKind,
} from '../../config/schema.js';
import { pageOf } from '../paging.js';
import { type CanaryRow, canariesFromRows, type ShadowRow, shadowsFromRows } from '../rollout-rows.js';
import type {
  IdentityProviderFields,
  IdentityProviderRecord,
  IdpEgress,
  Page,
  PageRequest,
  SavedScript,
  ScriptSource,
  ScriptVersion,
  ScriptVersionInfo,
} from '../types.js';
import { inTransaction } from './database.js';
import { POSTGRES_CANARIES, POSTGRES_SHADOWS } from './rollout-table.js';

interface IdpRow {
  id: string;
  name: string | null;
  flow: 'one_step' | 'two_step';
  enabled: boolean;
  limits: IdpLimits;
  http: IdpEgress | null;
  rate_limits: RateLimitRule[] | null;
  record: RecordPolicy | null;
  /** The active scripts, aggregated as JSON in the same statement. */
  scripts: Array<ScriptVersion & { kind: ScriptKind }>;
  /** The running canaries, aggregated as JSON in the same statement. */
  canaries: CanaryRow[];
  /** The shadows, aggregated as JSON in the same statement. */
  shadows: ShadowRow[];
}

type VersionRow = ScriptVersionInfo & { source?: string };

const sha256 = (source: string) => createHash('sha256').update(source).digest('hex');

/**
 * An IdP row with its active scripts, read by one statement (so from one snapshot: a
 * concurrent commit never shows half a change).
 */
const SELECT_IDP = `
  SELECT i.id, i.name, i.flow, i.enabled, i.limits, i.http, i.rate_limits, i.record,
    COALESCE((
      SELECT json_agg(json_build_object('kind', a.kind, 'version', v.version, 'source', v.source,
                                        'sha256', v.sha256, 'filename', v.filename) ORDER BY a.kind)
      FROM active_scripts a JOIN script_versions v USING (idp_id, kind, version)
      WHERE a.idp_id = i.id
    ), '[]'::json) AS scripts,
    ${POSTGRES_CANARIES},
    ${POSTGRES_SHADOWS}
  FROM identity_providers i`;

const VERSION_INFO = `
  SELECT v.version, v.sha256, v.filename, v.created_at,
    EXISTS (SELECT 1 FROM active_scripts a
            WHERE a.idp_id = v.idp_id AND a.kind = v.kind AND a.version = v.version) AS active`;

const SQL = {
  get: `${SELECT_IDP} WHERE i.id = $1`,
  first: `${SELECT_IDP} ORDER BY i.id COLLATE "C" LIMIT $1`,
  after: `${SELECT_IDP} WHERE i.id COLLATE "C" > $1 ORDER BY i.id COLLATE "C" LIMIT $2`,
  insert: `INSERT INTO identity_providers (id, name, flow, enabled, limits, http, updated_at, rate_limits, record)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
  upsert: `INSERT INTO identity_providers (id, name, flow, enabled, limits, http, updated_at, rate_limits, record)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, flow = excluded.flow, enabled = excluded.enabled,
      limits = excluded.limits, http = excluded.http, updated_at = excluded.updated_at,
      rate_limits = excluded.rate_limits, record = excluded.record`,
  update: `UPDATE identity_providers SET name = $2, flow = $3, enabled = $4, limits = $5, http = $6,
    updated_at = $7, rate_limits = $8, record = $9 WHERE id = $1`,
  // Versions and activations go with the IdP (ON DELETE CASCADE).
  delete: 'DELETE FROM identity_providers WHERE id = $1',
  lock: 'SELECT 1 FROM identity_providers WHERE id = $1 FOR UPDATE',
  activeScript: `SELECT v.version, v.source, v.sha256, v.filename
    FROM active_scripts a JOIN script_versions v USING (idp_id, kind, version)
    WHERE a.idp_id = $1 AND a.kind = $2`,
  // The caller holds the IdP's row lock, so MAX(version) + 1 is not taken by anyone else.
  saveVersion: `WITH saved AS (
      INSERT INTO script_versions (idp_id, kind, version, source, sha256, filename, created_at)
      SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5, $6
      FROM script_versions WHERE idp_id = $1 AND kind = $2
      RETURNING version)
    INSERT INTO active_scripts (idp_id, kind, version) SELECT $1, $2, version FROM saved
    ON CONFLICT (idp_id, kind) DO UPDATE SET version = excluded.version
    RETURNING version`,
  // A version stored without activating it (its stored tests failed); the caller holds the row lock.
  storeVersion: `INSERT INTO script_versions (idp_id, kind, version, source, sha256, filename, created_at)
    SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5, $6
    FROM script_versions WHERE idp_id = $1 AND kind = $2
    RETURNING version`,
  deactivate: 'DELETE FROM active_scripts WHERE idp_id = $1 AND kind = $2',
  // Locking the IdP row serialises with saves and deletes: a deleted IdP activates nothing.
  activate: `WITH idp AS (SELECT id FROM identity_providers WHERE id = $1 FOR UPDATE)
    INSERT INTO active_scripts (idp_id, kind, version)
    SELECT v.idp_id, v.kind, v.version FROM script_versions v JOIN idp ON v.idp_id = idp.id
    WHERE v.kind = $2 AND v.version = $3
    ON CONFLICT (idp_id, kind) DO UPDATE SET version = excluded.version`,
  versionsFirst: `${VERSION_INFO} FROM script_versions v WHERE v.idp_id = $1 AND v.kind = $2
    ORDER BY v.version DESC LIMIT $3`,
  versionsBefore: `${VERSION_INFO} FROM script_versions v WHERE v.idp_id = $1 AND v.kind = $2 AND v.version < $3
    ORDER BY v.version DESC LIMIT $4`,
  version: `${VERSION_INFO}, v.source FROM script_versions v
    WHERE v.idp_id = $1 AND v.kind = $2 AND v.version = $3`,
} as const;

type Statement = keyof typeof SQL;
type Queryable = Pick<Pool | PoolClient, 'query'>;

/** A named (so prepared once per connection) statement. */
function query<R extends object>(on: Queryable, statement: Statement, values: unknown[]) {
  const config: QueryConfig = { name: `identity_providers_${statement}`, text: SQL[statement], values };
  return on.query<R>(config);
}

/**
 * Identity providers and their immutable script versions in PostgreSQL. Every write
 * is one transaction that first locks the IdP's row, so concurrent writes to one IdP
 * run one after another and each save gets its own version number.
 */
export class IdentityProviderTable {
  constructor(private readonly pool: Pool) {}

  async get(id: string): Promise<IdentityProviderRecord | undefined> {
    const { rows } = await query<IdpRow>(this.pool, 'get', [id]);
    return rows[0] && toRecord(rows[0]);
  }

  async page({ limit, after }: PageRequest): Promise<Page<IdentityProviderRecord>> {
    const { rows } =
      after === undefined
        ? await query<IdpRow>(this.pool, 'first', [limit + 1])
        : await query<IdpRow>(this.pool, 'after', [after, limit + 1]);
    return pageOf(rows.map(toRecord), limit, (idp) => idp.id);
  }

  async upsert(
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource>>,
  ): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      // The upsert leaves the row locked until commit.
      await query(client, 'upsert', fieldParams(idp));
      for (const kind of SCRIPT_KINDS) await setScript(client, idp.id, kind, scripts[kind] ?? null);
    });
  }

  async write(
    mode: 'create' | 'update',
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource | null>>,
  ): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const { rowCount } = await query(client, mode === 'create' ? 'insert' : 'update', fieldParams(idp));
      if (rowCount !== 1) return false;
      for (const kind of SCRIPT_KINDS) {
        const script = scripts[kind];
        if (script !== undefined) await setScript(client, idp.id, kind, script);
      }
      return true;
    });
  }

  async delete(id: string): Promise<boolean> {
    return (await query(this.pool, 'delete', [id])).rowCount === 1;
  }

  async saveScript(
    idpId: string,
    kind: ScriptKind,
    script: ScriptSource,
    activate = true,
  ): Promise<SavedScript | undefined> {
    return inTransaction(this.pool, async (client) => {
      if ((await query(client, 'lock', [idpId])).rowCount !== 1) return undefined;
      return setScript(client, idpId, kind, script, activate);
    });
  }

  async versions(
    idpId: string,
    kind: ScriptKind,
    { limit, after }: PageRequest,
  ): Promise<Page<ScriptVersionInfo>> {
    const before = after === undefined ? undefined : Number(after);
    const { rows } =
      before === undefined || !Number.isInteger(before)
        ? await query<VersionRow>(this.pool, 'versionsFirst', [idpId, kind, limit + 1])
        : await query<VersionRow>(this.pool, 'versionsBefore', [idpId, kind, toInt4(before), limit + 1]);
    return pageOf(rows, limit, (info) => String(info.version));
  }

  async version(
    idpId: string,
    kind: ScriptKind,
    version: number,
  ): Promise<(ScriptVersion & ScriptVersionInfo) | undefined> {
    if (!isInt4(version)) return undefined;
    const { rows } = await query<ScriptVersion & ScriptVersionInfo>(this.pool, 'version', [
      idpId,
      kind,
      version,
    ]);
    return rows[0];
  }

  async activate(idpId: string, kind: ScriptKind, version: number): Promise<boolean> {
    if (!isInt4(version)) return false;
    return (await query(this.pool, 'activate', [idpId, kind, version])).rowCount === 1;
  }
}

/**
 * Saves `script` as a new active version (or, with `activate` false, an inactive one)
 * unless it is the active source, or deactivates the kind (null). The caller holds the
 * IdP's row lock.
 */
async function setScript(
  client: PoolClient,
  idpId: string,
  kind: ScriptKind,
  script: ScriptSource | null,
  activate = true,
): Promise<SavedScript | undefined> {
  if (script === null) {
    await query(client, 'deactivate', [idpId, kind]);
    return undefined;
  }
  const hash = sha256(script.source);
  const { rows } = await query<ScriptVersion>(client, 'activeScript', [idpId, kind]);
  const active = rows[0];
  if (active?.sha256 === hash) return { version: active, created: false };
  const saved = await query<{ version: number }>(client, activate ? 'saveVersion' : 'storeVersion', [
    idpId,
    kind,
    script.source,
    hash,
    script.filename,
    Date.now(),
  ]);
  const version = saved.rows[0]?.version;
  if (version === undefined) throw new Error('a saved script version is active');
  return {
    version: { version, source: script.source, sha256: hash, filename: script.filename },
    created: true,
  };
}

const INT4_MAX = 2 ** 31 - 1;
/** Whether `n` fits the INTEGER column `version` (no other version can exist). */
const isInt4 = (n: number) => Number.isInteger(n) && n >= -INT4_MAX - 1 && n <= INT4_MAX;
/** `n` clamped into INTEGER range: a page boundary beyond it means the same as the range's end. */
const toInt4 = (n: number) => Math.min(Math.max(n, -INT4_MAX - 1), INT4_MAX);

function fieldParams(idp: IdentityProviderFields): unknown[] {
  const http =
    idp.http && (idp.http.allow?.length || idp.http.allow_addresses?.length) ? idp.http : undefined;
  return [
    idp.id,
    idp.name,
    idp.flow,
    idp.enabled,
    JSON.stringify(idp.limits),
    http ? JSON.stringify(http) : null,
    Date.now(),
    idp.rate_limits?.length ? JSON.stringify(idp.rate_limits) : null,
    idp.record ? JSON.stringify(idp.record) : null,
  ];
}

function toRecord({
  scripts: active,
  http,
  rate_limits,
  record: recordPolicy,
  canaries: running,
  shadows: shadowRows,
  ...fields
}: IdpRow): IdentityProviderRecord {
  const scripts: IdentityProviderRecord['scripts'] = {};
  for (const { kind, ...version } of active) scripts[kind] = version;
  const record: IdentityProviderRecord = { ...fields, scripts };
  if (http !== null) record.http = http;
  if (rate_limits !== null) record.rate_limits = rate_limits;
  if (recordPolicy !== null) record.record = recordPolicy;
  const canaries = canariesFromRows(running);
  if (canaries) record.canaries = canaries;
  const shadows = shadowsFromRows(shadowRows);
  if (shadows) record.shadows = shadows;
  return record;
}
