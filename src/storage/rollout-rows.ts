import type { ScriptKind } from '../config/schema.js';
import type { Canary, RolloutCounts, RolloutRecord, RolloutState } from './types.js';

/** No executions yet. */
export const ZERO_COUNTS: RolloutCounts = { executions: 0, failures: 0, wall_ms: 0 };

/** A `script_rollouts` row as both backends read it (numbers may come as text or bigint). */
export interface RolloutRow {
  idp_id: string;
  kind: string;
  from_version: number;
  to_version: number;
  state: string;
  percent: number;
  margin_points: number;
  min_executions: number;
  promote_after: number | null;
  started_at: number | string;
  ended_at: number | string | null;
  reason: string | null;
  counts: string;
}

/** The record of a row. */
export function rolloutFromRow(row: RolloutRow): RolloutRecord {
  return {
    idp_id: row.idp_id,
    kind: row.kind as ScriptKind,
    from_version: Number(row.from_version),
    to_version: Number(row.to_version),
    state: row.state as RolloutState,
    percent: Number(row.percent),
    margin_points: Number(row.margin_points),
    min_executions: Number(row.min_executions),
    promote_after: row.promote_after === null ? null : Number(row.promote_after),
    started_at: Number(row.started_at),
    ended_at: row.ended_at === null ? null : Number(row.ended_at),
    reason: row.reason,
    counts: JSON.parse(row.counts),
  };
}

/** A running canary row joined with its new version's script, as the IdP record carries it. */
export interface CanaryRow {
  kind: string;
  from_version: number;
  percent: number;
  margin_points: number;
  min_executions: number;
  promote_after: number | null;
  started_at: number | string;
  version: number;
  source: string;
  sha256: string;
  filename: string;
}

/** The IdP record's `canaries` of its rows; undefined when none runs. */
export function canariesFromRows(
  rows: readonly CanaryRow[],
): Partial<Record<ScriptKind, Canary>> | undefined {
  if (rows.length === 0) return undefined;
  const canaries: Partial<Record<ScriptKind, Canary>> = {};
  for (const row of rows) {
    canaries[row.kind as ScriptKind] = {
      from_version: Number(row.from_version),
      percent: Number(row.percent),
      margin_points: Number(row.margin_points),
      min_executions: Number(row.min_executions),
      promote_after: row.promote_after === null ? null : Number(row.promote_after),
      started_at: Number(row.started_at),
      version: {
        version: Number(row.version),
        source: row.source,
        sha256: row.sha256,
        filename: row.filename,
      },
    };
  }
  return canaries;
}
