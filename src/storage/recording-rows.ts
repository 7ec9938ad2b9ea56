import type { Recording } from './types.js';

/** A recording as both SQL backends store it: the execution as JSON text. */
export interface RecordingRow {
  id: number | string;
  idp_id: string;
  kind: Recording['kind'];
  version: number;
  outcome: Recording['outcome'];
  at: number | string;
  request_id: string;
  execution: string;
}

/** The columns every recording query selects, in {@link RecordingRow}'s order. */
export const RECORDING_COLUMNS = 'id, idp_id, kind, version, outcome, at, request_id, execution';

/** A recording read back from its row. */
export const recordingFromRow = (row: RecordingRow): Recording => ({
  ...row,
  id: Number(row.id),
  at: Number(row.at),
  execution: JSON.parse(row.execution) as Recording['execution'],
});
