import type { Pool } from 'pg';
import { pageOf } from '../paging.js';
import { RECORDING_COLUMNS, type RecordingRow, recordingFromRow } from '../recording-rows.js';
import type {
  NewRecording,
  Recording,
  RecordingQuery,
  RecordingRetention,
  RecordingStore,
} from '../types.js';
import { inTransaction } from './database.js';

/** The optional filters of a query, in a fixed order. */
const FILTERS = [
  ['kind', 'kind = '],
  ['outcome', 'outcome = '],
  ['version', 'version = '],
  ['since', 'at >= '],
  ['after', 'id < '],
] as const;

const SQL = {
  append: `INSERT INTO script_recordings (idp_id, kind, version, outcome, at, request_id, execution)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
  get: `SELECT ${RECORDING_COLUMNS} FROM script_recordings WHERE id = $1 AND idp_id = $2`,
  purgeOld: 'DELETE FROM script_recordings WHERE idp_id = $1 AND at < $2',
  // The newest `keep` stay: everything up to the id just past them goes.
  purgeBeyond: `DELETE FROM script_recordings WHERE idp_id = $1 AND id <= (
    SELECT id FROM script_recordings WHERE idp_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)`,
} as const;

/**
 * Recorded script executions in PostgreSQL. Ids come from an identity column: they grow
 * in the order rows are inserted and are never reused; a purge is one transaction.
 */
export class PostgresRecordingStore implements RecordingStore {
  constructor(private readonly pool: Pool) {}

  async append(recording: NewRecording): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>({
      name: 'recording_append',
      text: SQL.append,
      values: [
        recording.idp_id,
        recording.kind,
        recording.version,
        recording.outcome,
        recording.at,
        recording.request_id,
        JSON.stringify(recording.execution),
      ],
    });
    return Number(rows[0]?.id);
  }

  async list(query: RecordingQuery): Promise<{ items: Recording[]; next: string | null }> {
    const clauses = ['idp_id = $1'];
    const values: Array<string | number> = [query.idpId];
    const names: string[] = [];
    for (const [name, clause] of FILTERS) {
      const value = query[name];
      if (value === undefined) continue;
      values.push(value);
      clauses.push(`${clause}$${values.length}`);
      names.push(name);
    }
    values.push(query.limit + 1);
    const { rows } = await this.pool.query<RecordingRow>({
      name: `recording_list_${names.join('_') || 'all'}`,
      text: `SELECT ${RECORDING_COLUMNS} FROM script_recordings WHERE ${clauses.join(' AND ')}
        ORDER BY id DESC LIMIT $${values.length}`,
      values,
    });
    return pageOf(rows.map(recordingFromRow), query.limit, (recording) => String(recording.id));
  }

  async get(idpId: string, id: number): Promise<Recording | undefined> {
    const { rows } = await this.pool.query<RecordingRow>({
      name: 'recording_get',
      text: SQL.get,
      values: [id, idpId],
    });
    return rows[0] ? recordingFromRow(rows[0]) : undefined;
  }

  async purge({ idpId, since, keep }: RecordingRetention): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      const old = await client.query(SQL.purgeOld, [idpId, since]);
      const beyond = await client.query(SQL.purgeBeyond, [idpId, keep]);
      return (old.rowCount ?? 0) + (beyond.rowCount ?? 0);
    });
  }
}
