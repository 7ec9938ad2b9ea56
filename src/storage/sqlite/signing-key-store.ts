import type { SigningKeyRecord, SigningKeyStore } from '../types.js';
import type { SqliteDatabase } from './database.js';

interface SigningKeyRow {
  kid: string;
  alg: string;
  private_jwk_sealed: string;
  public_jwk: string;
  created_at: number;
  active: number;
}

/**
 * id_token signing keys in SQLite. `add` and `activate` are immediate transactions;
 * the partial unique index `signing_keys_one_active` makes a second active key
 * impossible even for a writer that bypasses this class.
 */
export class SqliteSigningKeyStore implements SigningKeyStore {
  private readonly s;
  private readonly addTx;
  private readonly activateTx;

  constructor(db: SqliteDatabase) {
    this.s = {
      list: db.prepare<[], SigningKeyRow>(
        `SELECT kid, alg, private_jwk_sealed, public_jwk, created_at, active
         FROM signing_keys ORDER BY created_at, rowid`,
      ),
      insert: db.prepare<[string, string, string, string, number, number]>(
        `INSERT INTO signing_keys (kid, alg, private_jwk_sealed, public_jwk, created_at, active)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      exists: db.prepare<[string], number>('SELECT 1 FROM signing_keys WHERE kid = ?').pluck(),
      deactivateOthers: db.prepare<[string]>(
        'UPDATE signing_keys SET active = 0 WHERE active = 1 AND kid != ?',
      ),
      activate: db.prepare<[string]>('UPDATE signing_keys SET active = 1 WHERE kid = ?'),
    };
    // Deactivate first: the unique index allows one active row at any moment.
    this.activateTx = db.transaction((kid: string) => {
      if (this.s.exists.get(kid) === undefined) throw new Error(`no signing key with kid ${kid}`);
      this.s.deactivateOthers.run(kid);
      this.s.activate.run(kid);
    });
    this.addTx = db.transaction((key: SigningKeyRecord) => {
      if (key.active) this.s.deactivateOthers.run(key.kid);
      this.s.insert.run(
        key.kid,
        key.alg,
        key.private_jwk_sealed,
        key.public_jwk,
        key.created_at,
        key.active ? 1 : 0,
      );
    });
  }

  async list(): Promise<SigningKeyRecord[]> {
    return this.s.list.all().map((row) => ({ ...row, active: row.active === 1 }));
  }

  async add(key: SigningKeyRecord): Promise<void> {
    this.addTx.immediate(key);
  }

  async activate(kid: string): Promise<void> {
    this.activateTx.immediate(kid);
  }
}
