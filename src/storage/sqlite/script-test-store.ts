import type { ScriptKind } from '../../config/schema.js';
import type { ScriptTestStore, StoredScriptTestCase } from '../types.js';
import type { SqliteDatabase } from './database.js';

/** Stored script test cases in SQLite: one row (a JSON list) per IdP and kind. */
export class SqliteScriptTestStore implements ScriptTestStore {
  private readonly s;

  constructor(db: SqliteDatabase) {
    this.s = {
      list: db
        .prepare<[string, string], string>('SELECT cases FROM script_tests WHERE idp_id = ? AND kind = ?')
        .pluck(),
      // Only for an IdP that exists; one statement, so atomic.
      upsert: db.prepare<[string, string, string, number, string]>(
        `INSERT INTO script_tests (idp_id, kind, cases, updated_at)
         SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM identity_providers WHERE id = ?)
         ON CONFLICT (idp_id, kind) DO UPDATE SET cases = excluded.cases, updated_at = excluded.updated_at`,
      ),
      remove: db.prepare<[string, string]>('DELETE FROM script_tests WHERE idp_id = ? AND kind = ?'),
      idpExists: db.prepare<[string], number>('SELECT 1 FROM identity_providers WHERE id = ?').pluck(),
    };
  }

  async list(idpId: string, kind: ScriptKind): Promise<StoredScriptTestCase[]> {
    const text = this.s.list.get(idpId, kind);
    return text === undefined ? [] : (JSON.parse(text) as StoredScriptTestCase[]);
  }

  async replace(idpId: string, kind: ScriptKind, cases: readonly StoredScriptTestCase[]): Promise<boolean> {
    if (cases.length === 0) {
      this.s.remove.run(idpId, kind);
      return this.s.idpExists.get(idpId) !== undefined;
    }
    return this.s.upsert.run(idpId, kind, JSON.stringify(cases), Date.now(), idpId).changes === 1;
  }
}
