import { pageOf } from '../paging.js';
import { RECORDING_COLUMNS, type RecordingRow, recordingFromRow } from '../recording-rows.js';
import type {
  NewRecording,
  Recording,
  RecordingQuery,
  RecordingRetention,
  RecordingStore,
} from '../types.js';
import type { SqliteDatabase } from './database.js';

/** The optional filters of a query, in a fixed order: each combination gets one prepared statement. */
const FILTERS = [
  ['kind', 'kind = @kind'],
  ['outcome', 'outcome = @outcome'],
  ['version', 'version = @version'],
  ['since', 'at >= @since'],
  ['after', 'id < @after'],
] as const;

/**
 * Recorded script executions in SQLite. Ids come from an AUTOINCREMENT key, so they only
 * grow and a purged id is never handed out again; a purge is one transaction.
 */
export class SqliteRecordingStore implements RecordingStore {
  private readonly insert;
  private readonly one;
  private readonly lists = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  private readonly purgeTx;

  constructor(private readonly db: SqliteDatabase) {
    this.insert = db.prepare(
      `INSERT INTO script_recordings (idp_id, kind, version, outcome, at, request_id, execution)
       VALUES (@idp_id, @kind, @version, @outcome, @at, @request_id, @execution)`,
    );
    this.one = db.prepare<[number, string], RecordingRow>(
      `SELECT ${RECORDING_COLUMNS} FROM script_recordings WHERE id = ? AND idp_id = ?`,
    );
    const olderThan = db.prepare<[string, number]>(
      'DELETE FROM script_recordings WHERE idp_id = ? AND at < ?',
    );
    // The newest `keep` stay: everything up to the id just past them goes.
    const beyond = db.prepare<[string, string, number]>(
      `DELETE FROM script_recordings WHERE idp_id = ? AND id <= (
         SELECT id FROM script_recordings WHERE idp_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
    );
    this.purgeTx = db.transaction(
      ({ idpId, since, keep }: RecordingRetention) =>
        olderThan.run(idpId, since).changes + beyond.run(idpId, idpId, keep).changes,
    );
  }

  async append(recording: NewRecording): Promise<number> {
    const result = this.insert.run({ ...recording, execution: JSON.stringify(recording.execution) });
    return Number(result.lastInsertRowid);
  }

  async list(query: RecordingQuery): Promise<{ items: Recording[]; next: string | null }> {
    const used = FILTERS.filter(([name]) => query[name] !== undefined);
    const key = used.map(([name]) => name).join(',');
    let statement = this.lists.get(key);
    if (!statement) {
      const where = ['idp_id = @idpId', ...used.map(([, clause]) => clause)].join(' AND ');
      statement = this.db.prepare(
        `SELECT ${RECORDING_COLUMNS} FROM script_recordings WHERE ${where} ORDER BY id DESC LIMIT @limit`,
      );
      this.lists.set(key, statement);
    }
    const params: Record<string, string | number> = { idpId: query.idpId, limit: query.limit + 1 };
    for (const [name] of used) params[name] = query[name] as string | number;
    const rows = statement.all(params) as RecordingRow[];
    return pageOf(rows.map(recordingFromRow), query.limit, (recording) => String(recording.id));
  }

  async get(idpId: string, id: number): Promise<Recording | undefined> {
    const row = this.one.get(id, idpId);
    return row ? recordingFromRow(row) : undefined;
  }

  async purge(retention: RecordingRetention): Promise<number> {
    return this.purgeTx.immediate(retention);
  }
}
