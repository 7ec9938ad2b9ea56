import type { ScriptKind } from '../../config/schema.js';
import {
  type CanaryRow,
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
import type { SqliteDatabase } from './database.js';

/** The running canaries of an IdP with their new versions' scripts (for the IdP record). */
export const SQLITE_CANARIES = `SELECT r.kind, r.from_version, r.percent, r.margin_points, r.min_executions,
    r.promote_after, r.started_at, v.version, v.source, v.sha256, v.filename
  FROM script_rollouts r JOIN script_versions v
    ON v.idp_id = r.idp_id AND v.kind = r.kind AND v.version = r.to_version
  WHERE r.idp_id = ? AND r.state = 'running'`;

export type { CanaryRow };

/** The shadows of an IdP with their versions' scripts (for the IdP record). */
export const SQLITE_SHADOWS = `SELECT s.kind, s.percent, s.started_at, v.version, v.source, v.sha256, v.filename
  FROM script_shadows s JOIN script_versions v
    ON v.idp_id = s.idp_id AND v.kind = s.kind AND v.version = s.version
  WHERE s.idp_id = ?`;

const COLUMNS = COUNT_COLUMNS.split(', ');
/** Sets every count column to 0. */
const ZEROED = COLUMNS.map((c) => `${c} = 0`).join(', ');
/** Adds six parameters to the count columns, in their order. */
const ADDED = COLUMNS.map((c) => `${c} = ${c} + ?`).join(', ');

/** Canaries in SQLite: one row per IdP and kind; every change is one immediate transaction. */
export class RolloutTable {
  private readonly s;

  constructor(private readonly db: SqliteDatabase) {
    this.s = {
      get: db.prepare<[string, string], RolloutRow>(
        'SELECT * FROM script_rollouts WHERE idp_id = ? AND kind = ?',
      ),
      idp: db.prepare<[string], number>('SELECT 1 FROM identity_providers WHERE id = ?').pluck(),
      version: db
        .prepare<[string, string, number], number>(
          'SELECT 1 FROM script_versions WHERE idp_id = ? AND kind = ? AND version = ?',
        )
        .pluck(),
      active: db
        .prepare<[string, string], number>('SELECT version FROM active_scripts WHERE idp_id = ? AND kind = ?')
        .pluck(),
      put: db.prepare(
        `INSERT INTO script_rollouts (idp_id, kind, from_version, to_version, state, percent, margin_points,
           min_executions, promote_after, started_at)
         VALUES (@idp_id, @kind, @from_version, @to_version, 'running', @percent, @margin_points,
           @min_executions, @promote_after, @started_at)
         ON CONFLICT (idp_id, kind) DO UPDATE SET from_version = excluded.from_version,
           to_version = excluded.to_version, state = 'running', percent = excluded.percent,
           margin_points = excluded.margin_points, min_executions = excluded.min_executions,
           promote_after = excluded.promote_after, started_at = excluded.started_at, ended_at = NULL,
           reason = NULL, ${ZEROED}`,
      ),
      end: db.prepare<[string, number, string, ...number[], string, string, number]>(
        `UPDATE script_rollouts SET state = ?, ended_at = ?, reason = ?, ${ADDED}
         WHERE idp_id = ? AND kind = ? AND to_version = ? AND state = 'running'`,
      ),
      activate: db.prepare<[string, string, number]>(
        `INSERT INTO active_scripts (idp_id, kind, version) VALUES (?, ?, ?)
         ON CONFLICT (idp_id, kind) DO UPDATE SET version = excluded.version`,
      ),
      putShadow: db.prepare<[string, string, number, number, number]>(
        `INSERT INTO script_shadows (idp_id, kind, version, percent, started_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (idp_id, kind) DO UPDATE SET version = excluded.version, percent = excluded.percent,
           started_at = excluded.started_at`,
      ),
      stopShadow: db.prepare<[string, string]>('DELETE FROM script_shadows WHERE idp_id = ? AND kind = ?'),
      add: db.prepare<[...number[], string, string, number], RolloutRow>(
        `UPDATE script_rollouts SET ${ADDED}
         WHERE idp_id = ? AND kind = ? AND to_version = ? AND state = 'running' RETURNING ${COUNT_COLUMNS}`,
      ),
    };
  }

  start(idpId: string, kind: ScriptKind, rollout: NewRollout): RolloutRecord | RolloutRefusal {
    return this.db
      .transaction((): RolloutRecord | RolloutRefusal => {
        if (this.s.idp.get(idpId) === undefined) return 'no_idp';
        if (this.s.version.get(idpId, kind, rollout.to_version) === undefined) return 'no_version';
        const active = this.s.active.get(idpId, kind);
        if (active === undefined) return 'no_active';
        if (active === rollout.to_version) return 'already_active';
        if (this.s.get.get(idpId, kind)?.state === 'running') return 'running';
        this.s.put.run({
          idp_id: idpId,
          kind,
          from_version: active,
          ...rollout,
        });
        return this.read(idpId, kind) as RolloutRecord;
      })
      .immediate();
  }

  read(idpId: string, kind: ScriptKind): RolloutRecord | undefined {
    const row = this.s.get.get(idpId, kind);
    return row && rolloutFromRow(row);
  }

  end(idpId: string, kind: ScriptKind, end: RolloutEnd): RolloutRecord | undefined {
    return this.db
      .transaction(() => {
        const changed = this.s.end.run(
          end.state,
          end.at,
          end.reason,
          ...countValues(end.delta),
          idpId,
          kind,
          end.to_version,
        ).changes;
        if (changed !== 1) return undefined;
        if (end.state === 'promoted') this.s.activate.run(idpId, kind, end.to_version);
        return this.read(idpId, kind);
      })
      .immediate();
  }

  add(
    idpId: string,
    kind: ScriptKind,
    toVersion: number,
    delta: RolloutCountPair,
  ): RolloutCountPair | undefined {
    const row = this.s.add.get(...countValues(delta), idpId, kind, toVersion);
    return row && countsFromRow(row);
  }

  startShadow(idpId: string, kind: ScriptKind, shadow: NewShadow): boolean {
    return this.db
      .transaction(() => {
        if (this.s.version.get(idpId, kind, shadow.version) === undefined) return false;
        this.s.putShadow.run(idpId, kind, shadow.version, shadow.percent, shadow.started_at);
        return true;
      })
      .immediate();
  }

  stopShadow(idpId: string, kind: ScriptKind): boolean {
    return this.s.stopShadow.run(idpId, kind).changes === 1;
  }
}
