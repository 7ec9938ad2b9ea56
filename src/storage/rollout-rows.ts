import type { ScriptKind } from '../config/schema.js';
import type {
  Canary,
  RolloutCountPair,
  RolloutCounts,
  RolloutRecord,
  RolloutState,
  Shadow,
} from './types.js';

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
  from_executions: number | string;
  from_failures: number | string;
  from_wall_ms: number | string;
  to_executions: number | string;
  to_failures: number | string;
  to_wall_ms: number | string;
}

/** The count columns of a row, as a pair. */
export function countsFromRow(
  row: Pick<RolloutRow, `${'from' | 'to'}_${'executions' | 'failures' | 'wall_ms'}`>,
): RolloutCountPair {
  return {
    from: {
      executions: Number(row.from_executions),
      failures: Number(row.from_failures),
      wall_ms: Number(row.from_wall_ms),
    },
    to: {
      executions: Number(row.to_executions),
      failures: Number(row.to_failures),
      wall_ms: Number(row.to_wall_ms),
    },
  };
}

/** The six count values of a pair, in column order (from_executions … to_wall_ms). */
export const countValues = ({ from, to }: RolloutCountPair): number[] => [
  from.executions,
  from.failures,
  from.wall_ms,
  to.executions,
  to.failures,
  to.wall_ms,
];

/** The six count columns, as read back. */
export const COUNT_COLUMNS =
  'from_executions, from_failures, from_wall_ms, to_executions, to_failures, to_wall_ms';

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
    counts: countsFromRow(row),
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

/** A shadow row joined with its version's script, as the IdP record carries it. */
export interface ShadowRow {
  kind: string;
  percent: number;
  started_at: number | string;
  version: number;
  source: string;
  sha256: string;
  filename: string;
}

/** The IdP record's `shadows` of its rows; undefined when none runs. */
export function shadowsFromRows(rows: readonly ShadowRow[]): Partial<Record<ScriptKind, Shadow>> | undefined {
  if (rows.length === 0) return undefined;
  const shadows: Partial<Record<ScriptKind, Shadow>> = {};
  for (const row of rows) {
    shadows[row.kind as ScriptKind] = {
      percent: Number(row.percent),
      started_at: Number(row.started_at),
      version: {
        version: Number(row.version),
        source: row.source,
        sha256: row.sha256,
        filename: row.filename,
      },
    };
  }
  return shadows;
}
