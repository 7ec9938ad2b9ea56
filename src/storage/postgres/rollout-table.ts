import type { Pool } from 'pg';
import type { ScriptKind } from '../../config/schema.js';
import {
  COUNT_COLUMNS,
  countsFromRow,
  countValues,
  type RolloutRow,
  rolloutFromRow,
} from '../rollout-rows.js';
import type {
  NewRollout,
  NewShadow,
  RolloutCountPair,
  RolloutEnd,
  RolloutRecord,
  RolloutRefusal,
} from '../types.js';
import { inTransaction } from './database.js';

const COLUMNS = COUNT_COLUMNS.split(', ');
/** Adds parameters $first… to the six count columns, in their order. */
const added = (first: number) => COLUMNS.map((c, i) => `${c} = ${c} + $${first + i}`).join(', ');

const SQL = {
  putShadow: `INSERT INTO script_shadows (idp_id, kind, version, percent, started_at)
    SELECT $1, $2, $3, $4, $5 WHERE EXISTS
      (SELECT 1 FROM script_versions WHERE idp_id = $1 AND kind = $2 AND version = $3)
    ON CONFLICT (idp_id, kind) DO UPDATE SET version = excluded.version, percent = excluded.percent,
      started_at = excluded.started_at`,
  stopShadow: 'DELETE FROM script_shadows WHERE idp_id = $1 AND kind = $2',
  get: 'SELECT * FROM script_rollouts WHERE idp_id = $1 AND kind = $2',
  // Locks the IdP row, so starts, ends and script changes of one IdP run one after another.
  lock: 'SELECT 1 FROM identity_providers WHERE id = $1 FOR UPDATE',
  version: 'SELECT 1 FROM script_versions WHERE idp_id = $1 AND kind = $2 AND version = $3',
  active: 'SELECT version FROM active_scripts WHERE idp_id = $1 AND kind = $2',
  put: `INSERT INTO script_rollouts (idp_id, kind, from_version, to_version, state, percent, margin_points,
      min_executions, promote_after, started_at)
    VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9)
    ON CONFLICT (idp_id, kind) DO UPDATE SET from_version = excluded.from_version,
      to_version = excluded.to_version, state = 'running', percent = excluded.percent,
      margin_points = excluded.margin_points, min_executions = excluded.min_executions,
      promote_after = excluded.promote_after, started_at = excluded.started_at, ended_at = NULL,
      reason = NULL, ${COLUMNS.map((c) => `${c} = 0`).join(', ')}
    RETURNING *`,
  end: `UPDATE script_rollouts SET state = $4, ended_at = $5, reason = $6, ${added(7)}
    WHERE idp_id = $1 AND kind = $2 AND to_version = $3 AND state = 'running' RETURNING *`,
  activate: `INSERT INTO active_scripts (idp_id, kind, version) VALUES ($1, $2, $3)
    ON CONFLICT (idp_id, kind) DO UPDATE SET version = excluded.version`,
  add: `UPDATE script_rollouts SET ${added(4)}
    WHERE idp_id = $1 AND kind = $2 AND to_version = $3 AND state = 'running' RETURNING ${COUNT_COLUMNS}`,
} as const;

/** The running canaries of an IdP, as JSON, for the IdP statement (`i` is the IdP row). */
export const POSTGRES_CANARIES = `COALESCE((
      SELECT json_agg(json_build_object('kind', r.kind, 'from_version', r.from_version, 'percent', r.percent,
        'margin_points', r.margin_points, 'min_executions', r.min_executions, 'promote_after', r.promote_after,
        'started_at', r.started_at, 'version', v.version, 'source', v.source, 'sha256', v.sha256,
        'filename', v.filename) ORDER BY r.kind)
      FROM script_rollouts r JOIN script_versions v
        ON v.idp_id = r.idp_id AND v.kind = r.kind AND v.version = r.to_version
      WHERE r.idp_id = i.id AND r.state = 'running'
    ), '[]'::json) AS canaries`;

/** The shadows of an IdP, as JSON, for the IdP statement (`i` is the IdP row). */
export const POSTGRES_SHADOWS = `COALESCE((
      SELECT json_agg(json_build_object('kind', s.kind, 'percent', s.percent, 'started_at', s.started_at,
        'version', v.version, 'source', v.source, 'sha256', v.sha256, 'filename', v.filename) ORDER BY s.kind)
      FROM script_shadows s JOIN script_versions v
        ON v.idp_id = s.idp_id AND v.kind = s.kind AND v.version = s.version
      WHERE s.idp_id = i.id
    ), '[]'::json) AS shadows`;

/** Canaries in PostgreSQL: one row per IdP and kind; changes lock the IdP row first. */
export class PostgresRolloutTable {
  constructor(private readonly pool: Pool) {}

  async start(idpId: string, kind: ScriptKind, rollout: NewRollout): Promise<RolloutRecord | RolloutRefusal> {
    return inTransaction(this.pool, async (client) => {
      if ((await client.query(SQL.lock, [idpId])).rowCount !== 1) return 'no_idp';
      if ((await client.query(SQL.version, [idpId, kind, rollout.to_version])).rowCount !== 1)
        return 'no_version';
      const active = (await client.query<{ version: number }>(SQL.active, [idpId, kind])).rows[0]?.version;
      if (active === undefined) return 'no_active';
      if (active === rollout.to_version) return 'already_active';
      const current = (await client.query<RolloutRow>(SQL.get, [idpId, kind])).rows[0];
      if (current?.state === 'running') return 'running';
      const { rows } = await client.query<RolloutRow>(SQL.put, [
        idpId,
        kind,
        active,
        rollout.to_version,
        rollout.percent,
        rollout.margin_points,
        rollout.min_executions,
        rollout.promote_after,
        rollout.started_at,
      ]);
      const row = rows[0];
      if (!row) throw new Error('a started canary is stored');
      return rolloutFromRow(row);
    });
  }

  async read(idpId: string, kind: ScriptKind): Promise<RolloutRecord | undefined> {
    const row = (await this.pool.query<RolloutRow>(SQL.get, [idpId, kind])).rows[0];
    return row && rolloutFromRow(row);
  }

  async end(idpId: string, kind: ScriptKind, end: RolloutEnd): Promise<RolloutRecord | undefined> {
    return inTransaction(this.pool, async (client) => {
      if ((await client.query(SQL.lock, [idpId])).rowCount !== 1) return undefined;
      const { rows } = await client.query<RolloutRow>(SQL.end, [
        idpId,
        kind,
        end.to_version,
        end.state,
        end.at,
        end.reason,
        ...countValues(end.delta),
      ]);
      const row = rows[0];
      if (!row) return undefined;
      if (end.state === 'promoted') await client.query(SQL.activate, [idpId, kind, end.to_version]);
      return rolloutFromRow(row);
    });
  }

  async add(
    idpId: string,
    kind: ScriptKind,
    toVersion: number,
    delta: RolloutCountPair,
  ): Promise<RolloutCountPair | undefined> {
    const { rows } = await this.pool.query<RolloutRow>(SQL.add, [
      idpId,
      kind,
      toVersion,
      ...countValues(delta),
    ]);
    return rows[0] && countsFromRow(rows[0]);
  }

  async startShadow(idpId: string, kind: ScriptKind, shadow: NewShadow): Promise<boolean> {
    const values = [idpId, kind, shadow.version, shadow.percent, shadow.started_at];
    return (await this.pool.query(SQL.putShadow, values)).rowCount === 1;
  }

  async stopShadow(idpId: string, kind: ScriptKind): Promise<boolean> {
    return (await this.pool.query(SQL.stopShadow, [idpId, kind])).rowCount === 1;
  }
}
