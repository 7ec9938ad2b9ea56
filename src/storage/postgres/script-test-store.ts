import type { Pool } from 'pg';
import type { ScriptKind } from '../../config/schema.js';
import type { ScriptTestStore, StoredScriptTestCase } from '../types.js';

const SQL = {
  list: 'SELECT cases FROM script_tests WHERE idp_id = $1 AND kind = $2',
  // Only for an IdP that exists; one statement, so atomic.
  upsert: `INSERT INTO script_tests (idp_id, kind, cases, updated_at)
    SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM identity_providers WHERE id = $1)
    ON CONFLICT (idp_id, kind) DO UPDATE SET cases = excluded.cases, updated_at = excluded.updated_at`,
  // Removes the list; answers one row when the IdP exists.
  remove: `WITH gone AS (DELETE FROM script_tests WHERE idp_id = $1 AND kind = $2)
    SELECT 1 FROM identity_providers WHERE id = $1`,
} as const;

/** Stored script test cases in PostgreSQL: one row (a JSON list as TEXT) per IdP and kind. */
export class PostgresScriptTestStore implements ScriptTestStore {
  constructor(private readonly pool: Pool) {}

  async list(idpId: string, kind: ScriptKind): Promise<StoredScriptTestCase[]> {
    const { rows } = await this.pool.query<{ cases: string }>({
      name: 'script_tests_list',
      text: SQL.list,
      values: [idpId, kind],
    });
    return rows[0] ? (JSON.parse(rows[0].cases) as StoredScriptTestCase[]) : [];
  }

  async replace(idpId: string, kind: ScriptKind, cases: readonly StoredScriptTestCase[]): Promise<boolean> {
    if (cases.length === 0) {
      const { rowCount } = await this.pool.query({
        name: 'script_tests_remove',
        text: SQL.remove,
        values: [idpId, kind],
      });
      return rowCount === 1;
    }
    const { rowCount } = await this.pool.query({
      name: 'script_tests_upsert',
      text: SQL.upsert,
      values: [idpId, kind, JSON.stringify(cases), Date.now()],
    });
    return rowCount === 1;
  }
}
